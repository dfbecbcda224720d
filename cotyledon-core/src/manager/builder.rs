//! [`ServiceManagerBuilder`]: the manager's settings, with cotyledon's
//! defaults, and `build()`, which creates the manager.

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::ServiceManager;
use super::hooks::Hooks;
use super::supervisor::{Settings, Supervisor};
use crate::error::Error;
use crate::signals::SelfPipe;
use crate::sys;

/// Settings of a [`ServiceManager`](crate::ServiceManager), with cotyledon's
/// defaults: `ServiceManager(wait_interval=0.01, graceful_shutdown_timeout=60)`.
///
/// ```
/// use std::time::Duration;
///
/// let manager = cotyledon::ServiceManager::builder()
///     .wait_interval(Duration::ZERO)
///     .graceful_shutdown_timeout(Duration::from_secs(30))
///     .build()?;
/// # drop(manager);
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServiceManagerBuilder {
    pub(super) wait_interval: Duration,
    pub(super) graceful_shutdown_timeout: Duration,
    pub(super) fork_limiter: bool,
    pub(super) crash_backoff: (Duration, Duration),
    pub(super) control_socket: Option<std::path::PathBuf>,
    pub(super) control_tcp: Option<std::net::SocketAddr>,
}

impl Default for ServiceManagerBuilder {
    fn default() -> Self {
        ServiceManagerBuilder {
            wait_interval: Self::DEFAULT_WAIT_INTERVAL,
            graceful_shutdown_timeout: Self::DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT,
            fork_limiter: true,
            crash_backoff: (Self::DEFAULT_CRASH_BACKOFF, Self::DEFAULT_CRASH_BACKOFF_MAX),
            control_socket: None,
            control_tcp: None,
        }
    }
}

impl ServiceManagerBuilder {
    /// Default pause between two forks (cotyledon's `wait_interval=0.01`).
    pub const DEFAULT_WAIT_INTERVAL: Duration = Duration::from_millis(10);
    /// Default graceful-shutdown timeout (cotyledon's `graceful_shutdown_timeout=60`).
    pub const DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default first delay of the per-worker crash-loop back-off.
    pub const DEFAULT_CRASH_BACKOFF: Duration = Duration::from_millis(100);
    /// Default longest delay of the per-worker crash-loop back-off.
    pub const DEFAULT_CRASH_BACKOFF_MAX: Duration = Duration::from_secs(30);

    /// Time between two forks (default 10 ms). `Duration::ZERO` forks as fast as
    /// the loop turns.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // Start 500 workers without waiting 10 ms between two forks.
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .wait_interval(Duration::ZERO)
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn wait_interval(mut self, interval: Duration) -> Self {
        self.wait_interval = interval;
        self
    }

    /// How long a graceful shutdown of the whole manager may take before it turns
    /// into an instantaneous one and the master exits with status 1 (default 60 s;
    /// `Duration::ZERO` waits forever). Also the default timeout of each worker's
    /// `terminate()` for services that do not set their own.
    ///
    /// The deadline counts from the SIGTERM's arrival and is a kernel timer
    /// (`ITIMER_REAL`, SIGALRM: the master owns both), so it ends the master even
    /// while a master hook blocks for ever.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // systemd's TimeoutStopSec is 90 s: finish before it SIGKILLs everything.
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .graceful_shutdown_timeout(Duration::from_secs(80))
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn graceful_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.graceful_shutdown_timeout = timeout;
        self
    }

    /// Turns cotyledon's respawn limiter on (the default) or off: with it, more
    /// forks than the configured worker count within that many seconds logs
    /// "Forking too fast, sleeping" and pauses forking for 5 s. The planned forks
    /// of rolling restarts and recycles are not counted.
    ///
    /// ```
    /// // Tests that crash workers on purpose and want them back at once.
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .fork_limiter(false)
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn fork_limiter(mut self, enabled: bool) -> Self {
        self.fork_limiter = enabled;
        self
    }

    /// Sets the per-worker crash-loop back-off (default 100 ms doubling up to
    /// 30 s). A worker that dies abnormally (status other than 0, or a signal)
    /// less than a second after it started, unasked, is respawned only after
    /// `initial`, then twice that after the next such death of the same id, and so
    /// on up to `max`; one that stays up for a second resets its id. Other ids and
    /// services are never delayed, and signals are served during the delay. SIGHUP
    /// and `reconfigure` forget the delays. `Duration::ZERO` as `initial` turns it
    /// off. cotyledon's fork limiter still caps the whole manager's fork rate.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // Wait 1 s after a quick crash, doubling up to 1 min.
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .crash_backoff(Duration::from_secs(1), Duration::from_secs(60))
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn crash_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.crash_backoff = (initial, max);
        self
    }

    /// Serves the control endpoint on a Unix socket at `path` (off by
    /// default): `GET /status`, `/status.txt` and `/metrics` (Prometheus), and
    /// the commands `POST /reload`, `/restart/SERVICE[/ID]`, `/stop/SERVICE/ID`,
    /// `/start/SERVICE/ID`, `/scale/SERVICE/N`, `/shutdown`, each the same as
    /// a signal or a [`ManagerHandle`](crate::ManagerHandle) call. See the
    /// README's "Status, metrics and control" and the `cotyledonctl` client.
    ///
    /// The socket is made at [`build`](Self::build) with mode 0600 (owner: the
    /// master's user) before it listens: whoever can open the file can read
    /// and command the manager, no one else. A stale socket file (nothing
    /// accepts on it) is replaced; a live one is refused
    /// ([`Error::ControlSocketInUse`]). The file is removed when the master
    /// exits. It is served from the master's event loop, non-blocking and
    /// bounded (5 s per connection, 8 KiB per request, 64 connections).
    ///
    /// ```no_run
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .control_socket("/run/myapp/control.sock")
    ///     .build()?;
    /// // curl --unix-socket /run/myapp/control.sock http://localhost/status
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn control_socket(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.control_socket = Some(path.into());
        self
    }

    /// Serves the control endpoint on a loopback TCP address too (or only),
    /// for a Prometheus that scrapes over TCP. Anyone on the machine who can
    /// connect to the port can read and command the manager: prefer the Unix
    /// socket, whose file mode decides who can. An address that is not
    /// loopback is refused at [`build`](Self::build)
    /// ([`Error::ControlNotLoopback`]).
    ///
    /// ```no_run
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .control_tcp(([127, 0, 0, 1], 9100).into())
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn control_tcp(mut self, addr: std::net::SocketAddr) -> Self {
        self.control_tcp = Some(addr);
        self
    }
}

impl ServiceManagerBuilder {
    /// Creates the manager: claims the one-per-process slot, tries `setsid()`
    /// (errors ignored, as in cotyledon; skipped when the process is in the
    /// foreground of a terminal, so that Ctrl-C keeps working) and installs the master's signal handlers,
    /// so that a SIGTERM arriving from now on is a graceful shutdown.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] if this process already has a manager (a worker
    /// process counts: it was forked from one); [`Error::SignalSetup`] if the
    /// signal pipe or handlers cannot be set up; [`Error::Control`],
    /// [`Error::ControlSocketInUse`] or [`Error::ControlNotLoopback`] if the
    /// control endpoint asked for cannot be opened.
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
        let control =
            super::control::Endpoint::open(self.control_socket.as_deref(), self.control_tcp)?;
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
            control,
            _instance: guard,
        };
        // From here on, dropping `manager` on an error restores the handlers.
        manager.saved_actions = sys::signal::install(&master_signals(), &[libc::SIGALRM])
            .map_err(Error::SignalSetup)?;
        Ok(manager)
    }
}

/// The signals the master handles. SIGALRM is its graceful-shutdown deadline
/// (`ITIMER_REAL`): the master owns it. The notice signal comes from workers
/// whose shared slot changed (ready, reloaded).
fn master_signals() -> [libc::c_int; 8] {
    [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGCHLD,
        libc::SIGALRM,
        sys::signal::notice_signal(),
        // One worker more or fewer per service (gunicorn's TTIN/TTOU).
        libc::SIGTTIN,
        libc::SIGTTOU,
    ]
}

/// Set while a manager exists in this process (cotyledon's one-instance seatbelt).
static INSTANCE: AtomicBool = AtomicBool::new(false);

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
pub(super) struct InstanceGuard;

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        INSTANCE.store(false, Ordering::SeqCst);
    }
}
