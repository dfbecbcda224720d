use cotyledon::{Service, ServiceConfig};

#[derive(Service)]
#[service(name = "wrapper", graceful_shutdown_timeout = 3)]
struct Wrapper<T: Send + Sync + 'static> {
    t: T,
}

#[derive(Service)]
struct Batch<T, const N: usize>
where
    T: Clone + Default,
{
    items: [T; N],
}

#[derive(Service)]
#[service(name = "borrowed")]
struct Borrowed<'a> {
    s: &'a str,
}

fn main() {
    let wrapper = Wrapper { t: 1u8 };
    assert_eq!(wrapper.t, 1);
    assert_eq!(Wrapper::<u8>::NAME, "wrapper");
    assert_eq!(<Wrapper<String> as ServiceConfig>::GRACEFUL_SHUTDOWN_TIMEOUT, Some(3));

    let batch = Batch::<u32, 4> { items: [0; 4] };
    assert_eq!(batch.items.len(), 4);
    assert_eq!(Batch::<u32, 4>::NAME, "Batch");
    assert_eq!(Batch::<u32, 4>::GRACEFUL_SHUTDOWN_TIMEOUT, None);

    let borrowed = Borrowed { s: "x" };
    assert_eq!(borrowed.s, "x");
    assert_eq!(Borrowed::NAME, "borrowed");
}
