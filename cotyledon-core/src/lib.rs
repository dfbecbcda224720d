#![doc = include_str!("../../README.md")]
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

extern crate self as cotyledon;

#[cfg(feature = "tokio")]
mod asynchronous;
#[cfg(feature = "config")]
mod config;
mod context;
mod error;
mod hooks;
mod listen;
#[cfg(feature = "logger")]
pub mod logger;
mod manager;
mod notice;
mod proctitle;
mod sd_notify;
mod service;
mod signals;
mod stopped;
#[allow(unsafe_code)]
mod sys;
mod worker;

#[cfg(feature = "tokio")]
pub use asynchronous::{AsyncService, Tokio};
#[cfg(feature = "config")]
pub use config::Config;
pub use context::Context;
pub use cotyledon_derive::Service;
pub use error::Error;
pub use hooks::{HookOutput, WorkerExit};
pub use listen::{DEFAULT_BACKLOG, Listen};
pub use manager::{
    Builder, DEFAULT_CRASH_BACKOFF, DEFAULT_CRASH_BACKOFF_MAX, DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT,
    DEFAULT_WAIT_INTERVAL, MAX_WORKERS, ManagerHandle, Readiness, Reload, ServiceManager,
    ServiceSettings, WorkerInfo,
};
pub use service::{BoxError, IntoService, Service, ServiceConfig, ServiceId, WorkerId};
pub use stopped::Stopped;

#[doc(hidden)]
pub mod __private {
    pub use crate::service::ServiceConfig;
}
