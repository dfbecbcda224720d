#![doc = include_str!("../../README.md")]
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

extern crate self as cotyledon;

mod context;
mod service;
mod worker;

pub use context::Context;
pub use cotyledon_derive::Service;
pub use service::{BoxError, Service, ServiceConfig, ServiceId, WorkerId};

#[doc(hidden)]
pub mod __private {
    pub use crate::service::ServiceConfig;
}
