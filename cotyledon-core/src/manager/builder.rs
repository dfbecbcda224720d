//! [`ServiceManagerBuilder`]: the manager's settings, with cotyledon's
//! defaults, and `build()`, which creates the manager.

use std::ffi::OsString;
use std::path::PathBuf;
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
    pub(super) upgrade_timeout: Duration,
    pub(super) upgrade_exe: Option<PathBuf>,
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
            upgrade_timeout: Self::DEFAULT_UPGRADE_TIMEOUT,
            upgrade_exe: None,
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
    /// Default time a new master has to get every worker ready in a binary
    /// upgrade.
    pub const DEFAULT_UPGRADE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The shortest upgrade timeout [`build`](Self::build) accepts.
    pub const MIN_UPGRADE_TIMEOUT: Duration = Duration::from_millis(1);
    /// The longest upgrade timeout [`build`](Self::build) accepts (a day).
    pub const MAX_UPGRADE_TIMEOUT: Duration = Duration::from_secs(86_400);

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

    /// How long the new master of a binary upgrade (SIGUSR2) may take until
    /// every one of its workers is ready (default 60 s): past it, the attempt
    /// fails, the new master is killed and this one keeps serving. Between
    /// [`MIN_UPGRADE_TIMEOUT`](Self::MIN_UPGRADE_TIMEOUT) and
    /// [`MAX_UPGRADE_TIMEOUT`](Self::MAX_UPGRADE_TIMEOUT) (else `build()`
    /// fails with [`Error::InvalidUpgradeTimeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // Workers that warm a cache for a minute or two.
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .upgrade_timeout(Duration::from_secs(180))
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = timeout;
        self
    }

    /// The program a binary upgrade starts (default: the path this program
    /// was started from, as the kernel resolved it when the manager was built,
    /// `/proc/self/exe` then; so a new build installed at that path, by a
    /// rename over the old file, is what the upgrade runs). Relative paths are
    /// resolved when the manager is built. Give a stable path here when the
    /// program is started through a symlink that deployments switch
    /// (`/opt/app/current/bin/app`), since the kernel resolves symlinks.
    ///
    /// ```
    /// let manager = cotyledon::ServiceManager::builder()
    ///     .upgrade_exe("/opt/app/current/bin/app")
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn upgrade_exe(mut self, path: impl Into<PathBuf>) -> Self {
        self.upgrade_exe = Some(path.into());
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
    pub fn build(mut self) -> Result<ServiceManager, Error> {
        if !(Self::MIN_UPGRADE_TIMEOUT..=Self::MAX_UPGRADE_TIMEOUT).contains(&self.upgrade_timeout)
        {
            return Err(Error::InvalidUpgradeTimeout {
                timeout: self.upgrade_timeout,
                min: Self::MIN_UPGRADE_TIMEOUT,
                max: Self::MAX_UPGRADE_TIMEOUT,
            });
        }
        if INSTANCE
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(Error::AlreadyExists);
        }
        let guard = InstanceGuard;
        // Started by an upgrade: the old master's pipe (its fd comes right
        // after the listeners, which are adopted next like systemd's).
        let handover = crate::upgrade::Handover::from_env()?;
        // LISTEN_FDS: before any fd of ours exists.
        crate::listen::adopt_from_systemd(handover.as_ref().map(|h| h.claimed.as_slice()));
        // args_os, not args: an argument that is not UTF-8 must not panic.
        let argv: Vec<OsString> = std::env::args_os().collect();
        // The new master of an upgrade stays in the old one's session and
        // process group (a terminal's Ctrl-C, `kill -- -PGID`).
        if handover.is_none() && !in_terminal_foreground() {
            let _ = nix::unistd::setsid();
        }
        let exe = match self.upgrade_exe.take() {
            Some(path) => std::path::absolute(&path).unwrap_or(path),
            None => std::env::current_exe().unwrap_or_default(),
        };
        let mut handover = handover;
        let inherited = handover
            .as_mut()
            .map(|h| std::mem::take(&mut h.control))
            .unwrap_or_default();
        let control = super::control::Endpoint::open(
            self.control_socket.as_deref(),
            self.control_tcp,
            inherited,
        )?;
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
                upgrade_timeout: self.upgrade_timeout,
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
            exe,
            handover,
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
/// (`ITIMER_REAL`): the master owns it. SIGUSR2 is a binary upgrade. The notice signal comes from workers
/// whose shared slot changed (ready, reloaded).
fn master_signals() -> [libc::c_int; 9] {
    [
        libc::SIGUSR2,
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
