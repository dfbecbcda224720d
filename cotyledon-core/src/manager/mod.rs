//! [`ServiceManager`]: the registry (services, hooks, settings) that `run()`
//! hands to the I/O shell (`shell/`), which drives the pure supervisor
//! (`supervisor/`): every decision is there, every system call in the shell.

mod builder;
mod control;
mod handle;
mod hooks;
mod policy;
mod shell;
mod supervisor;

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::fd::OwnedFd;

use std::time::Duration;

use builder::InstanceGuard;
pub use builder::ServiceManagerBuilder;
pub use handle::{ManagerHandle, WorkerInfo};
pub use policy::{Readiness, Reload, ServiceSettings};
use supervisor::Supervisor;

use crate::error::Error;
use crate::ids::{ServiceId, WorkerId};
use crate::service::{IntoService, ServiceConfig};
use crate::signals::SelfPipe;
use crate::sys;
use crate::worker::{self, WorkerStart};
use hooks::Hooks;

/// One registered service, type-erased: how to run a worker of it in the child.
struct Entry {
    name: &'static str,
    start: Box<dyn Fn(WorkerStart<'_>) -> Infallible>,
}

/// The master: registers services and hooks, then [`run`](ServiceManager::run)s,
/// forking, supervising and respawning workers until shutdown.
///
/// ```no_run
/// use cotyledon::{Service, ServiceManager};
///
/// #[derive(Service)]
/// #[service(name = "light")]
/// struct Light;
/// impl cotyledon::Service for Light {}
///
/// let mut manager = ServiceManager::new()?;
/// manager.add(|_worker_id| Light, 4)?;
/// manager.run()?; // never returns: the process exits at shutdown
/// # Ok::<(), cotyledon::Error>(())
/// ```
pub struct ServiceManager {
    settings: ServiceManagerBuilder,
    entries: Vec<Entry>,
    /// Every decision, from the first `add` on.
    sup: Supervisor,
    hooks: Hooks,
    pipe: SelfPipe,
    death_read: OwnedFd,
    death_write: OwnedFd,
    argv: Vec<OsString>,
    /// What a binary upgrade executes (see `ServiceManagerBuilder::upgrade_exe`).
    exe: std::path::PathBuf,
    /// Set in the new master of an upgrade: the pipe to the old one.
    handover: Option<crate::upgrade::Handover>,
    /// The dispositions the program had before the manager installed its own.
    saved_actions: Vec<sys::signal::SavedAction>,
    /// The control endpoint, if asked for (bound at `build()`).
    control: Option<control::Endpoint>,
    _instance: InstanceGuard,
}

impl Drop for ServiceManager {
    /// A manager dropped without running (or whose `run()` failed) gives the
    /// signals back the dispositions it found before its pipe is closed.
    fn drop(&mut self) {
        sys::signal::restore(&self.saved_actions);
        sys::handler::master::uninstall();
        sys::signal::clear_target();
    }
}

impl std::fmt::Debug for ServiceManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|e| e.name).collect();
        f.debug_struct("ServiceManager")
            .field("settings", &self.settings)
            .field("services", &names)
            .finish_non_exhaustive()
    }
}

impl ServiceManager {
    /// The most workers of one service, and the most over all services (the
    /// sum of their counts): `add` and `reconfigure` refuse more with
    /// [`Error::TooManyWorkers`].
    pub const MAX_WORKERS: usize = supervisor::table::MAX_WORKERS;

    /// A manager with cotyledon's defaults (see [`ServiceManagerBuilder::build`]).
    ///
    /// # Errors
    ///
    /// As [`ServiceManagerBuilder::build`].
    ///
    /// ```
    /// let manager = cotyledon::ServiceManager::new()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn new() -> Result<Self, Error> {
        ServiceManagerBuilder::default().build()
    }

    /// A [`ServiceManagerBuilder`] to change the defaults.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .graceful_shutdown_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn builder() -> ServiceManagerBuilder {
        ServiceManagerBuilder::default()
    }

    /// Registers a service with `workers` worker processes and returns its id.
    ///
    /// `factory` runs in each worker process, after the fork, with the worker's id;
    /// it returns the service, or a `Result` of it (an `Err` or a panic makes the
    /// worker exit with status 2, and it is respawned). Arguments are captured by
    /// the closure, where cotyledon passes `args`/`kwargs`. The graceful-shutdown
    /// timeout of its workers is settled here: the service's own, or else the
    /// manager's as it is now.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidWorkerCount`] if `workers < 1`; [`Error::TooManyWorkers`] if
    /// `workers` is above [`MAX_WORKERS`](Self::MAX_WORKERS), or would bring the sum of every
    /// service's count above it.
    ///
    /// # Examples
    ///
    /// ```
    /// use cotyledon::{Error, Service, ServiceManager, WorkerId};
    ///
    /// #[derive(Service)]
    /// #[service(name = "consumer")]
    /// struct Consumer {
    ///     id: WorkerId,
    ///     queue: String,
    /// }
    /// impl cotyledon::Service for Consumer {
    ///     fn run(&self, ctx: &cotyledon::Context) -> Result<(), cotyledon::BoxError> {
    ///         log::info!("worker {} consumes {}", self.id, self.queue);
    ///         ctx.wait_for_stop();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut manager = ServiceManager::new()?;
    /// // cotyledon's `sm.add(Consumer, workers=4, args=("jobs",))`: the arguments are
    /// // captured by the closure (cloned for each worker).
    /// let queue = String::from("jobs");
    /// let id = manager.add(move |id| Consumer { id, queue: queue.clone() }, 4)?;
    /// # let _ = id;
    /// // A factory may fail: the worker logs the error, exits 2 and is respawned.
    /// let factory = |id| -> Result<Consumer, std::env::VarError> {
    ///     Ok(Consumer { id, queue: std::env::var("QUEUE")? })
    /// };
    /// manager.add(factory, 1)?;
    /// let none = manager.add(|id| Consumer { id, queue: String::new() }, 0);
    /// assert!(matches!(none, Err(Error::InvalidWorkerCount { workers: 0 })));
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn add<F, R>(&mut self, factory: F, workers: usize) -> Result<ServiceId, Error>
    where
        F: Fn(WorkerId) -> R + 'static,
        R: IntoService,
    {
        let id = ServiceId::new_random();
        let name = <R::Service as ServiceConfig>::NAME;
        self.sup.add(id, name, workers)?;
        let timeout = resolve_timeout(
            <R::Service as ServiceConfig>::GRACEFUL_SHUTDOWN_TIMEOUT,
            self.settings.graceful_shutdown_timeout,
        );
        let start = move |ws: WorkerStart<'_>| -> Infallible {
            worker::main::<R::Service>(ws, timeout, &|id| factory(id).into_service())
        };
        self.entries.push(Entry {
            name,
            start: Box::new(start),
        });
        Ok(id)
    }

    /// Changes the number of workers of a service. Before `run()` it sets the
    /// initial count; while running (from a hook, through [`ManagerHandle`]) the
    /// highest ids are stopped with SIGTERM and missing ids are started.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidWorkerCount`] if `workers < 1`, [`Error::TooManyWorkers`] if
    /// `workers` is above [`MAX_WORKERS`](Self::MAX_WORKERS) or would bring the sum of every
    /// service's count above it, [`Error::UnknownService`] if `service` was not
    /// returned by this manager. On an error the count is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Light;
    /// # impl cotyledon::Service for Light {}
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let light = manager.add(|_| Light, 5)?;
    /// // Before run(): the count it starts with (cotyledon's example_app).
    /// manager.reconfigure(light, 1)?;
    /// assert!(manager.reconfigure(light, 0).is_err());
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn reconfigure(&mut self, service: ServiceId, workers: usize) -> Result<(), Error> {
        self.sup.table.set_desired(service, workers)
    }

    /// Runs the manager: forks the workers, supervises them and serves signals
    /// until shutdown, then exits the process (status 0 after a graceful shutdown,
    /// 1 after an instantaneous one). It returns only on an error before or while
    /// starting.
    ///
    /// # Errors
    ///
    /// [`Error::NoServices`] if nothing was added; [`Error::EventLoop`] if polling
    /// the signal pipe fails.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[derive(cotyledon::Service)] struct Light;
    /// # impl cotyledon::Service for Light {}
    /// fn main() -> Result<(), cotyledon::BoxError> {
    ///     let mut manager = cotyledon::ServiceManager::new()?;
    ///     manager.add(|_| Light, 2)?;
    ///     manager.run()?; // never returns: the process exits at shutdown
    ///     Ok(())
    /// }
    /// ```
    pub fn run(self) -> Result<Infallible, Error> {
        shell::run(self)
    }
}

/// The timeout a worker of a service gets: the service's own (`Some(0)` = none)
/// or else the manager's (zero = none).
fn resolve_timeout(service: Option<u64>, manager: Duration) -> Option<Duration> {
    match service {
        Some(0) => None,
        Some(secs) => Some(Duration::from_secs(secs)),
        None if manager.is_zero() => None,
        None => Some(manager),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_resolve_like_cotyledon() {
        let m = Duration::from_secs(60);
        assert_eq!(resolve_timeout(None, m), Some(m));
        assert_eq!(resolve_timeout(Some(1), m), Some(Duration::from_secs(1)));
        assert_eq!(resolve_timeout(Some(0), m), None);
        assert_eq!(resolve_timeout(None, Duration::ZERO), None);
    }
}
