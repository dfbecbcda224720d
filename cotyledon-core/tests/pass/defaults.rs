use cotyledon::{Service, ServiceConfig};

#[derive(Service)]
struct Plain;

#[derive(Service)]
struct r#Raw;

#[derive(Service)]
enum Choice {}

fn main() {
    assert_eq!(Plain::NAME, "Plain");
    assert_eq!(Plain::GRACEFUL_SHUTDOWN_TIMEOUT, None);
    assert_eq!(Raw::NAME, "Raw");
    assert_eq!(Choice::NAME, "Choice");
    assert_eq!(Choice::GRACEFUL_SHUTDOWN_TIMEOUT, None);
}
