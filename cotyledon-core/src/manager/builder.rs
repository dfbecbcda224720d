//! [`Builder`]: the manager's settings, with cotyledon's defaults. `build()`,
//! which creates the manager, is in `mod.rs`.

use std::time::Duration;

use super::{DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT, DEFAULT_WAIT_INTERVAL};

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
pub struct Builder {
    pub(super) wait_interval: Duration,
    pub(super) graceful_shutdown_timeout: Duration,
    pub(super) fork_limiter: bool,
    pub(super) crash_backoff: (Duration, Duration),
}

/// Default first delay of the per-worker crash-loop back-off.
pub const DEFAULT_CRASH_BACKOFF: Duration = Duration::from_millis(100);
/// Default longest delay of the per-worker crash-loop back-off.
pub const DEFAULT_CRASH_BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Default for Builder {
    fn default() -> Self {
        Builder {
            wait_interval: DEFAULT_WAIT_INTERVAL,
            graceful_shutdown_timeout: DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT,
            fork_limiter: true,
            crash_backoff: (DEFAULT_CRASH_BACKOFF, DEFAULT_CRASH_BACKOFF_MAX),
        }
    }
}

impl Builder {
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
}
