//! Multi-process services on Unix: the Rust counterpart of Python's
//! [cotyledon](https://github.com/sileht/cotyledon), the worker manager behind
//! OpenStack Telemetry.
//!
//! You register *services*; a [`ServiceManager`] (the master process) forks N
//! *workers* per service, gives each a stable [`WorkerId`] (`0..N`, reused when a
//! worker is respawned), supervises them, respawns the dead, and turns Unix signals
//! into lifecycle calls: SIGTERM = graceful shutdown, SIGINT = instantaneous exit,
//! SIGHUP = reload. No fork, waitpid or signal code of your own.
//!
//! # Getting started
//!
//! The package is `cotyledon-core` and its library `cotyledon`, so the dependency is
//! renamed. cotyledon-rs is not on crates.io yet: `path` is the `cotyledon-core`
//! directory of a clone of the repository (or write `git = "…"` with the URL you
//! clone it from).
//!
//! ```toml
//! [dependencies]
//! cotyledon = { package = "cotyledon-core", path = "../cotyledon-rs/cotyledon-core", features = ["logger"] }
//! log = "0.4"
//! ```
//!
//! A complete program with two workers:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use cotyledon::{BoxError, Context, Service, ServiceManager, WorkerId};
//!
//! // Metadata: the name in logs and process titles, and how long terminate() may take.
//! #[derive(Service)]
//! #[service(name = "consumer", graceful_shutdown_timeout = 10)]
//! struct Consumer {
//!     id: WorkerId,
//! }
//!
//! // Behaviour: every method is optional (run waits for stop, terminate exits 0,
//! // reload restarts the worker).
//! impl cotyledon::Service for Consumer {
//!     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
//!         // wait_timeout is an interruptible sleep: true once the worker is stopping.
//!         while !ctx.wait_timeout(Duration::from_secs(1)) {
//!             log::info!("worker {} polls its queue", self.id);
//!         }
//!         Ok(())
//!     }
//!
//!     fn terminate(&self) -> i32 {
//!         log::info!("worker {} drains and leaves", self.id);
//!         0 // the worker's exit status
//!     }
//! }
//!
//! fn main() -> Result<(), BoxError> {
//!     // One `LEVEL:TARGET:MESSAGE` line per record on stderr, at the level of
//!     // COTYLEDON_LOG (default info). Before the manager: workers inherit it.
//! # #[cfg(feature = "logger")]
//!     cotyledon::logger::init()?;
//!     let mut manager = ServiceManager::new()?;
//!     // The factory runs in each worker process, after the fork.
//!     manager.add(|id| Consumer { id }, 2)?;
//!     manager.run()?; // never returns: the process exits at shutdown
//!     Ok(())
//! }
//! ```
//!
//! Run as a crate named `consumer`, it prints `INFO:consumer:worker 0 polls its
//! queue` and `INFO:consumer:worker 1 polls its queue` every second. `kill -TERM`
//! on the master runs each worker's `terminate()` and exits with status 0:
//!
//! ```text
//! INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process
//! INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service consumer(0) [48213]
//! INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service consumer(1) [48214]
//! INFO:consumer:worker 0 drains and leaves
//! INFO:consumer:worker 1 drains and leaves
//! INFO:cotyledon::manager:Child 48213 exited with status 0
//! INFO:cotyledon::manager:Child 48214 exited with status 0
//! ```
//!
//! # Two traits
//!
//! `#[derive(Service)]` implements [`ServiceConfig`], the metadata: the name
//! (`name = "…"`, default the type's name) and the graceful-shutdown timeout in
//! seconds (`graceful_shutdown_timeout = N`; absent = the manager's, `0` = wait
//! forever). You write `impl cotyledon::Service for T`, the behaviour:
//! [`run`](Service::run), [`terminate`](Service::terminate) and
//! [`reload`](Service::reload), each optional. The derive macro and the trait share
//! the name `Service` (they live in different namespaces, like serde's
//! `Serialize`); forget either and the compiler says which one is missing.
//!
//! `run` gets a [`Context`]: the worker's id, and the stop as a blocking wait
//! ([`Context::wait_for_stop`], [`Context::wait_timeout`]), a flag
//! ([`Context::is_stopping`]) or a future any executor can await
//! ([`Context::stopped`]). The service is shared between threads (`run` on its own,
//! `terminate` and `reload` on others), so it is `Send + Sync` and its methods take
//! `&self`.
//!
//! # The manager
//!
//! [`ServiceManager::add`] takes a factory, run in each worker after the fork, and a
//! worker count, and returns a [`ServiceId`]. [`ServiceManager::reconfigure`]
//! changes a count. Hooks run in the master on SIGTERM
//! ([`on_terminate`](ServiceManager::on_terminate)), on SIGHUP
//! ([`on_reload`](ServiceManager::on_reload)) and when a worker dies
//! ([`on_dead_worker`](ServiceManager::on_dead_worker)), with a [`ManagerHandle`]
//! to reconfigure services or [`shutdown`](ManagerHandle::shutdown); and in each new
//! worker ([`on_new_worker`](ServiceManager::on_new_worker)) with the service built.
//! [`ServiceManager::builder`] changes the manager's defaults (`wait_interval`
//! 10 ms, `graceful_shutdown_timeout` 60 s, the fork limiter, the crash back-off).
//!
//! ```no_run
//! use cotyledon::{Service, ServiceManager, WorkerExit};
//!
//! #[derive(Service)]
//! struct Light;
//! impl cotyledon::Service for Light {}
//!
//! let mut manager = ServiceManager::new()?;
//! let light = manager.add(|_| Light, 4)?;
//! manager.on_reload(move |handle| handle.reconfigure(light, 8));
//! manager.on_dead_worker(|_, _, worker, exit: WorkerExit| {
//!     log::warn!("worker {worker} {exit}");
//! });
//! manager.run()?;
//! # Ok::<(), cotyledon::Error>(())
//! ```
//!
//! # Signals and exit codes
//!
//! | signal | master | worker |
//! |---|---|---|
//! | SIGTERM (or [`ManagerHandle::shutdown`]) | `on_terminate` hooks, SIGTERM to every worker, waits for them; exit 0 (1 if its `graceful_shutdown_timeout` passes first) | the [`Context`] stops, `terminate()` runs; exit with its value (1 if the service's timeout passes first) |
//! | SIGINT | SIGINT to every worker; exit 1 | exit 1 at once |
//! | SIGHUP | `on_reload` hooks, SIGHUP to every worker | `reload()`; by default a graceful restart |
//! | a worker dies | `on_dead_worker` hooks, respawned with the same id | – |
//! | the master dies | – | the SIGTERM path |
//!
//! A factory error or panic, an `Err` from `run()` or a panic in any service method
//! is logged at ERROR and the worker exits with status 2; it is respawned (with a
//! back-off if it keeps dying). The messages are cotyledon's own, word for word.
//!
//! # Logging
//!
//! Through the [`log`](https://docs.rs/log) facade only, under the targets
//! `cotyledon::manager` and `cotyledon::worker`. The library never installs a
//! logger by itself: call [`logger::init`] (feature `logger`) or install any other
//! in `main`, before creating the manager, so that workers inherit it.
//!
//! # Cargo features
//!
//! None is on by default; the default build depends on `log`, `nix`, `libc`,
//! `uuid` and the derive macro only.
//!
//! - `logger`: [`logger`], a std-only logger printing `LEVEL:TARGET:MESSAGE` lines.
//! - `tokio`: async services, [`AsyncService`] run by [`Tokio`] on a runtime built
//!   in each worker after the fork, and [`Context::cancellation_token`].
//! - `config`: [`Config`], a typed TOML file the master re-reads on SIGHUP, and
//!   [`ServiceManager::watch_config`], cotyledon's `oslo_config_glue`.
//!
//! # Beyond the basics
//!
//! - **Listeners**: [`ServiceManager::listen`] binds a socket in the master (or
//!   adopts one from systemd socket activation); workers get it with
//!   [`Context::tcp_listener`] or [`Context::unix_listener`].
//! - **Readiness and rolling reloads**: [`ServiceManager::settings`] with
//!   [`Readiness`], a boot timeout and [`Reload::Rolling`]; [`Context::ready`];
//!   one-worker control from hooks ([`ManagerHandle::restart_worker`],
//!   [`ManagerHandle::stop_worker`], [`ManagerHandle::rolling_restart`]).
//! - **systemd**: `READY=1` to `NOTIFY_SOCKET` once every initial worker is ready.
//!   Use `KillMode=mixed`.
//!
//! # Coming from Python cotyledon
//!
//! | Python cotyledon | cotyledon |
//! |---|---|
//! | `class S(cotyledon.Service)`, `name = "…"`, `graceful_shutdown_timeout = N` | `#[derive(Service)] #[service(name = "…", graceful_shutdown_timeout = N)]` + `impl Service` |
//! | `run(self)`, `terminate(self)` (exit code by `sys.exit`), `reload(self)` | [`Service::run`]`(&self, &Context)`, [`Service::terminate`]`(&self) -> i32`, [`Service::reload`] |
//! | `ServiceManager(wait_interval, graceful_shutdown_timeout)` | [`ServiceManager::builder`] |
//! | `sm.add(S, workers, args, kwargs)` | `manager.add(move \|id\| S::new(id, args), workers)` |
//! | `sm.reconfigure(id, n)`, `sm.shutdown()` | [`ServiceManager::reconfigure`], [`ManagerHandle::reconfigure`], [`ManagerHandle::shutdown`] |
//! | `sm.register_hooks(on_terminate, on_reload, on_new_worker, on_dead_worker)` | one method per hook, each callable many times |
//! | `oslo_config_glue.setup(sm, conf)` | [`Config::load`] + [`ServiceManager::watch_config`] |
//!
//! The repository's `docs/migrating-from-python.md` covers every API and the
//! differences that bite (exit codes, hook arguments, names fixed at compile time).
//!
//! # Platforms
//!
//! Unix only, Linux first (process titles and the parent-death signal use Linux
//! interfaces).
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]
// Items of features that are off are not there to link to; docs.rs and CI build
// the documentation with every feature, where every link must resolve.
#![cfg_attr(
    not(all(
        feature = "logger",
        feature = "tokio",
        feature = "config",
        feature = "axum"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

extern crate self as cotyledon;

#[cfg(feature = "tokio")]
mod asynchronous;
#[cfg(feature = "config")]
mod config;
mod context;
pub mod ctl;
#[cfg(feature = "drain")]
mod drain;
mod error;
mod hooks;
mod ids;
mod listen;
#[cfg(feature = "logger")]
pub mod logger;
mod manager;
mod notice;
mod proctitle;
mod sd_notify;
mod service;
mod signals;
mod stop;
mod stopped;
#[allow(unsafe_code)]
mod sys;
mod upgrade;
mod worker;

#[cfg(feature = "tokio")]
pub use asynchronous::{AsyncService, Tokio};
#[cfg(feature = "config")]
pub use config::Config;
pub use context::Context;
pub use cotyledon_derive::Service;
#[cfg(feature = "drain")]
pub use drain::{
    Drain, DrainFuture, DrainIo, DrainLayer, DrainListener, DrainService, TokioAccept,
};
pub use error::Error;
pub use hooks::{HookOutput, WorkerExit};
pub use ids::{ServiceId, WorkerId};
pub use listen::Listen;
pub use manager::{
    ManagerHandle, Readiness, Reload, ServiceManager, ServiceManagerBuilder, ServiceSettings,
    WorkerInfo,
};
pub use service::{BoxError, IntoService, Service, ServiceConfig};
pub use stopped::Stopped;

#[doc(hidden)]
pub mod __private {
    pub use crate::service::ServiceConfig;
}

/// The README's code blocks, compiled as doctests (the README is the repository's
/// page; this crate's front page is the guide above). Its first example needs the
/// `logger` feature; `cargo xtask readme-crate` also builds and runs it as an
/// outside crate.
#[cfg(all(doctest, feature = "logger"))]
#[doc = include_str!("../../README.md")]
mod readme {}

/// The migration guide's code blocks, compiled as doctests.
#[cfg(all(doctest, feature = "logger", feature = "config"))]
#[doc = include_str!("../../docs/migrating-from-python.md")]
mod migrating_from_python {}
