//! [`ServiceManager`]: the registry (services, hooks, settings) that `run()`
//! hands to the I/O shell (`shell/`), which drives the pure supervisor
//! (`supervisor/`): every decision is there, every system call in the shell.

mod builder;
mod handle;
mod hooks;
mod policy;
mod shell;
mod supervisor;

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use builder::{Builder, DEFAULT_CRASH_BACKOFF, DEFAULT_CRASH_BACKOFF_MAX};
pub use handle::{ManagerHandle, WorkerInfo};
pub use policy::{Readiness, Reload, ServiceSettings};
pub use supervisor::table::MAX_WORKERS;
use supervisor::{Settings, Supervisor};

use crate::error::Error;
use crate::ids::{ServiceId, WorkerId};
use crate::service::{IntoService, ServiceConfig};
use crate::signals::SelfPipe;
use crate::sys;
use crate::worker::{self, WorkerStart};
use hooks::Hooks;

/// The signals the master handles. SIGALRM is its graceful-shutdown deadline
/// (`ITIMER_REAL`): the master owns it. The notice signal comes from workers
/// whose shared slot changed (ready, reloaded).
fn master_signals() -> [libc::c_int; 6] {
    [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGCHLD,
        libc::SIGALRM,
        sys::signal::notice_signal(),
    ]
}

/// Set while a manager exists in this process (cotyledon's one-instance seatbelt).
static INSTANCE: AtomicBool = AtomicBool::new(false);

/// Default pause between two forks (cotyledon's `wait_interval=0.01`).
pub const DEFAULT_WAIT_INTERVAL: Duration = Duration::from_millis(10);
/// Default graceful-shutdown timeout (cotyledon's `graceful_shutdown_timeout=60`).
pub const DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// One registered service, type-erased: how to run a worker of it in the child.
struct Entry {
    name: &'static str,
    start: Box<dyn Fn(WorkerStart<'_>) -> Infallible>,
}

impl Builder {
    /// Creates the manager: claims the one-per-process slot, tries `setsid()`
    /// (errors ignored, as in cotyledon; skipped when the process is in the
    /// foreground of a terminal, so that Ctrl-C keeps working) and installs the master's signal handlers,
    /// so that a SIGTERM arriving from now on is a graceful shutdown.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] if this process already has a manager (a worker
    /// process counts: it was forked from one); [`Error::SignalSetup`] if the
    /// signal pipe or handlers cannot be set up.
    ///
    /// ```
    /// use cotyledon::{Error, ServiceManager};
    ///
    /// let manager = ServiceManager::builder().build()?;
    /// // One manager per process, as in cotyledon.
    /// assert!(matches!(ServiceManager::new(), Err(Error::AlreadyExists)));
    /// drop(manager);
    /// // Once it is dropped, another may be built.
    /// let again = ServiceManager::new()?;
    /// # drop(again);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn build(self) -> Result<ServiceManager, Error> {
        if INSTANCE
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(Error::AlreadyExists);
        }
        let guard = InstanceGuard;
        crate::listen::adopt_from_systemd(); // LISTEN_FDS: before any fd of ours exists
        // args_os, not args: an argument that is not UTF-8 must not panic.
        let argv: Vec<OsString> = std::env::args_os().collect();
        if !in_terminal_foreground() {
            let _ = nix::unistd::setsid();
        }
        let (death_read, death_write) = sys::pipe::pipe().map_err(Error::SignalSetup)?;
        // The region workers write (readiness, reloads), one slot per pid-registry
        // slot, mapped before any fork.
        sys::shm::map(sys::handler::master::CAPACITY).map_err(Error::SignalSetup)?;
        let pipe = SelfPipe::new().map_err(Error::SignalSetup)?;
        sys::handler::master::install(self.graceful_shutdown_timeout);
        let sup = Supervisor::new(
            Settings {
                wait_interval: self.wait_interval,
                graceful_shutdown_timeout: self.graceful_shutdown_timeout,
                fork_limiter: self.fork_limiter,
                crash_backoff: self.crash_backoff,
            },
            Instant::now(),
        );
        let mut manager = ServiceManager {
            settings: self,
            entries: Vec::new(),
            sup,
            hooks: Hooks::default(),
            pipe,
            death_read,
            death_write,
            argv,
            saved_actions: Vec::new(),
            _instance: guard,
        };
        // From here on, dropping `manager` on an error restores the handlers.
        manager.saved_actions = sys::signal::install(&master_signals(), &[libc::SIGALRM])
            .map_err(Error::SignalSetup)?;
        Ok(manager)
    }
}

/// Whether this process is in the foreground process group of its controlling
/// terminal. `setsid()` would then take it away from the terminal, and Ctrl-C would
/// no longer reach it (under `cargo run`, say, where it is not a group leader and
/// `setsid()` succeeds), so the manager keeps its session in that case.
fn in_terminal_foreground() -> bool {
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return false;
    };
    nix::unistd::tcgetpgrp(&tty).is_ok_and(|group| group == nix::unistd::getpgrp())
}

/// Releases the one-per-process slot when a manager is dropped before `run()`.
#[derive(Debug)]
struct InstanceGuard;

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        INSTANCE.store(false, Ordering::SeqCst);
    }
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
    settings: Builder,
    entries: Vec<Entry>,
    /// Every decision, from the first `add` on.
    sup: Supervisor,
    hooks: Hooks,
    pipe: SelfPipe,
    death_read: OwnedFd,
    death_write: OwnedFd,
    argv: Vec<OsString>,
    /// The dispositions the program had before the manager installed its own.
    saved_actions: Vec<sys::signal::SavedAction>,
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
    /// A manager with cotyledon's defaults (see [`Builder::build`]).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    ///
    /// ```
    /// let manager = cotyledon::ServiceManager::new()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn new() -> Result<Self, Error> {
        Builder::default().build()
    }

    /// A [`Builder`] to change the defaults.
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
    pub fn builder() -> Builder {
        Builder::default()
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
    /// `workers` is above [`MAX_WORKERS`], or would bring the sum of every
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
    /// `workers` is above [`MAX_WORKERS`] or would bring the sum of every
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
