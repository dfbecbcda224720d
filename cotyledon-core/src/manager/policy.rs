//! Per-service settings beyond the worker count: when a worker counts as ready, how
//! long it may take to get there, and how SIGHUP reloads the service.

use std::time::Duration;

use super::ServiceManager;
use crate::error::Error;
use crate::service::ServiceId;

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
    /// restarts the worker), or their own `reload()` has returned. If a
    /// replacement is not ready within the service's boot timeout, the rollout
    /// stops there (ERROR) and the workers not reloaded yet keep serving.
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
///     .reload(Reload::Rolling { batch: 1 });
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
        let index = self.state.table.index_of(service)?;
        Ok(ServiceSettings {
            policy: &mut self.entries[index].policy,
        })
    }
}
