// `#[derive(Service)]` without `impl Service`: the behaviour trait is missing.
#[derive(cotyledon::Service)]
struct Half;

fn main() -> Result<(), cotyledon::Error> {
    let mut manager = cotyledon::ServiceManager::new()?;
    manager.add(|_| Half, 1)?;
    Ok(())
}
