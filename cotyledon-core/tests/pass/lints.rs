#![deny(warnings, unused_qualifications)]
#![deny(missing_docs, unreachable_pub, unused_results, trivial_casts, unused_extern_crates)]

//! The expansion of `#[derive(Service)]` raises no lints.

use cotyledon::{Service, ServiceConfig};

/// A documented service.
#[derive(Service)]
#[service(name = "linted", graceful_shutdown_timeout = 2)]
pub struct Linted;

/// A documented generic service.
#[derive(Service)]
pub struct Generic<T>(pub T)
where
    T: Send;

fn main() {
    let _linted = Linted;
    let _generic = Generic(0u8);
    assert_eq!(Linted::NAME, "linted");
    assert_eq!(Linted::GRACEFUL_SHUTDOWN_TIMEOUT, Some(2));
    assert_eq!(Generic::<u8>::NAME, "Generic");
}
