//! Per-service settings beyond the worker count: when a worker counts as ready, how
//! long it may take to get there, and how SIGHUP reloads the service.

use std::time::Duration;

use super::ServiceManager;
use crate::error::Error;
use crate::ids::ServiceId;

/// When a worker of a service is *ready*: the state that `READY=1` to systemd,
/// rolling reloads and the boot timeout all read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// Ready as soon as `run()` starts (the default): for services with nothing
    /// to prepare, or that prepare in their factory.
    #[default]
    OnRun,
    /// Ready when the service calls [`Context::ready`](crate::Context::ready), for
    /// services that warm up inside `run()` (load a model, fill a cache, connect).
    Explicit,
}

/// How SIGHUP to the master reloads a service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reload {
    /// cotyledon's behaviour (the default): SIGHUP to every worker at once.
    #[default]
    AllAtOnce,
    /// SIGHUP to `batch` workers at a time (at least 1), the next ones only once
    /// those serve again: their replacement is ready (the default `reload()`
    /// restarts the worker), or their own `reload()` has returned. A SIGHUP
    /// during a rollout folds into it (steps in flight count against `batch`;
    /// at the end every worker runs code started after the last SIGHUP). A step
    /// that runs over the service's boot timeout (a replacement not ready, an
    /// in-place `reload()` that has not returned) stops the rollout (ERROR) and
    /// the workers not reloaded yet keep serving.
    Rolling {
        /// How many workers reload at once.
        batch: usize,
    },
}

/// The settings of one service.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    pub(crate) readiness: Readiness,
    pub(crate) boot_timeout: Option<Duration>,
    pub(crate) reload: Reload,
    pub(crate) heartbeat_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) max_rss: Option<u64>,
}

/// The settings of one service, from
/// [`ServiceManager::settings`](crate::ServiceManager::settings).
///
/// ```no_run
/// use std::time::Duration;
///
/// use cotyledon::{Readiness, Reload, Service, ServiceManager};
///
/// #[derive(Service)]
/// struct Web;
/// impl cotyledon::Service for Web {}
///
/// let mut manager = ServiceManager::new()?;
/// let web = manager.add(|_| Web, 4)?;
/// manager
///     .settings(web)?
///     .readiness(Readiness::Explicit)
///     .boot_timeout(Duration::from_secs(30))
///     .reload(Reload::Rolling { batch: 1 })
///     // Operations: the hung-worker watchdog and recycling.
///     .heartbeat_timeout(Duration::from_secs(10))
///     .max_lifetime(Duration::from_secs(6 * 3600))
///     .max_rss(512 << 20);
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[derive(Debug)]
pub struct ServiceSettings<'a> {
    pub(crate) policy: &'a mut Policy,
}

impl ServiceSettings<'_> {
    /// When a worker counts as ready (default [`Readiness::OnRun`]).
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let web = manager.add(|_| Web, 4)?;
    /// use cotyledon::Readiness;
    ///
    /// // Workers call ctx.ready() once warm; READY=1 and rolling steps wait for it.
    /// manager.settings(web)?.readiness(Readiness::Explicit);
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn readiness(&mut self, readiness: Readiness) -> &mut Self {
        self.policy.readiness = readiness;
        self
    }

    /// How long a new worker may take to be ready, from its fork (default: no
    /// limit). A worker not ready in time is logged at ERROR, killed (SIGKILL)
    /// and respawned as a crash (the crash back-off applies). `Duration::ZERO`
    /// means no limit.
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let web = manager.add(|_| Web, 4)?;
    /// use std::time::Duration;
    ///
    /// manager.settings(web)?.boot_timeout(Duration::from_secs(30));
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn boot_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.policy.boot_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// The hung-worker watchdog (default: off): once ready, a worker must call
    /// [`Context::heartbeat`](crate::Context::heartbeat) at least every `timeout`.
    /// One that stays silent longer is logged at ERROR ("Worker NAME(ID) \[PID\]
    /// sent no heartbeat for T, aborting it"), sent SIGABRT (so that it can dump
    /// core), SIGKILLed 200 ms later if still there, and respawned.
    /// `Duration::ZERO` turns it off.
    pub fn heartbeat_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.policy.heartbeat_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// Recycles each worker after about `lifetime` (default: never). Worker id
    /// `i` of `n` comes due at an instant of a grid of its own (the manager's
    /// start `+ lifetime/2 × (k + i/n)`), the first at least `lifetime × (1 − 1/4n)`
    /// after its start: so no two ids ever come due together, in the first
    /// generation or any later one, and a worker lives about `lifetime` (never
    /// under 0.75×, never 1.5× or more). Recycling is a graceful restart through
    /// the rolling path: one worker of the service at a time, the next once the
    /// previous replacement is ready; the replacement's fork is planned, so the
    /// fork limiter does not count it. `Duration::ZERO` turns it off.
    pub fn max_lifetime(&mut self, lifetime: Duration) -> &mut Self {
        self.policy.max_lifetime = (!lifetime.is_zero()).then_some(lifetime);
        self
    }

    /// Recycles a worker whose resident memory (`/proc/PID/statm`, checked about
    /// once a second) exceeds `bytes` (default: no limit; 0 turns it off),
    /// whatever its history. If a worker is already above it at its first check
    /// after it is ready, the limit is below what a new worker takes: that is
    /// said once (WARN), and workers are then recycled one at a time as they are
    /// checked. Memory that cannot be read is said once (WARN).
    pub fn max_rss(&mut self, bytes: u64) -> &mut Self {
        self.policy.max_rss = (bytes != 0).then_some(bytes);
        self
    }

    /// How SIGHUP reloads the service (default [`Reload::AllAtOnce`]). A
    /// `Rolling` batch of 0 counts as 1.
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let web = manager.add(|_| Web, 4)?;
    /// use cotyledon::Reload;
    ///
    /// // SIGHUP restarts two workers at a time: at least two of four always serve.
    /// manager.settings(web)?.reload(Reload::Rolling { batch: 2 });
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn reload(&mut self, reload: Reload) -> &mut Self {
        self.policy.reload = match reload {
            Reload::Rolling { batch } => Reload::Rolling {
                batch: batch.max(1),
            },
            other => other,
        };
        self
    }
}

impl ServiceManager {
    /// The settings of a service added to this manager: readiness, boot timeout
    /// and reload strategy (see [`ServiceSettings`]).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownService`] for an id this manager did not return.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let web = manager.add(|_| Web, 4)?;
    /// use cotyledon::{Readiness, Reload};
    ///
    /// manager
    ///     .settings(web)?
    ///     .readiness(Readiness::Explicit)
    ///     .reload(Reload::Rolling { batch: 1 });
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn settings(&mut self, service: ServiceId) -> Result<ServiceSettings<'_>, Error> {
        let index = self.sup.table.index_of(service)?;
        Ok(ServiceSettings {
            policy: &mut self.sup.services[index].policy,
        })
    }
}
