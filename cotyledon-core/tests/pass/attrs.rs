use cotyledon::{Service, ServiceConfig};

#[derive(Service)]
#[service(name = "heavy", graceful_shutdown_timeout = 5)]
struct Heavy;

#[derive(Service)]
#[service(graceful_shutdown_timeout = 0)]
struct Forever;

#[derive(Service)]
#[service(name = "split")]
#[service(graceful_shutdown_timeout = 30,)]
struct Split;

#[derive(Service)]
#[service(name = r"raw-name", graceful_shutdown_timeout = 7u64)]
struct Raw;

#[derive(Service)]
#[service()]
struct Empty;

fn main() {
    assert_eq!(Heavy::NAME, "heavy");
    assert_eq!(Heavy::GRACEFUL_SHUTDOWN_TIMEOUT, Some(5));
    assert_eq!(Forever::NAME, "Forever");
    assert_eq!(Forever::GRACEFUL_SHUTDOWN_TIMEOUT, Some(0));
    assert_eq!(Split::NAME, "split");
    assert_eq!(Split::GRACEFUL_SHUTDOWN_TIMEOUT, Some(30));
    assert_eq!(Raw::NAME, "raw-name");
    assert_eq!(Raw::GRACEFUL_SHUTDOWN_TIMEOUT, Some(7));
    assert_eq!(Empty::NAME, "Empty");
    assert_eq!(Empty::GRACEFUL_SHUTDOWN_TIMEOUT, None);
}
