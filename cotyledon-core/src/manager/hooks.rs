//! The manager's hooks: their types, the lists a manager keeps, their
//! registration on [`ServiceManager`] (run in registration order, see
//! `crate::hooks` for the list machinery), and the all-or-nothing run of the
//! configuration hooks.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use log::error;

use super::{ManagerHandle, ServiceManager};
use crate::hooks::{HookOutput, NewWorkerHook, WorkerExit};
use crate::ids::{ServiceId, WorkerId};

/// A hook run in the master with a handle (`on_terminate`, `on_reload`, the
/// configuration re-reads).
pub(crate) type ManagerHook = Box<dyn FnMut(&mut ManagerHandle<'_>) -> Result<(), String>>;
/// A hook run in the master when a worker is reaped (`on_dead_worker`).
pub(crate) type DeadWorkerHook =
    Box<dyn FnMut(&mut ManagerHandle<'_>, ServiceId, WorkerId, WorkerExit) -> Result<(), String>>;

/// The hook lists of a manager.
#[derive(Default)]
pub(crate) struct Hooks {
    /// Configuration re-reads, run on SIGHUP before the reload hooks.
    pub(crate) config: Vec<ManagerHook>,
    pub(crate) terminate: Vec<ManagerHook>,
    pub(crate) reload: Vec<ManagerHook>,
    pub(crate) new_worker: Vec<NewWorkerHook>,
    pub(crate) dead_worker: Vec<DeadWorkerHook>,
}

impl ServiceManager {
    /// Adds a hook run in the master when it starts a graceful shutdown (SIGTERM
    /// or [`ManagerHandle::shutdown`]), before the workers are sent SIGTERM.
    /// cotyledon's `register_hooks(on_terminate=…)`; call it as often as needed,
    /// hooks run in registration order and one that fails or panics ends its
    /// list ("Exception raised during terminate hooks: …").
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// manager.add(|_| Web, 2)?;
    /// manager.on_terminate(|_handle| log::error!("master terminate hook"));
    /// // A second one runs after the first.
    /// manager.on_terminate(|_handle| -> std::io::Result<()> {
    ///     std::fs::remove_file("/run/web/maintenance")
    /// });
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn on_terminate<F, R>(&mut self, mut hook: F) -> &mut Self
    where
        F: FnMut(&mut ManagerHandle<'_>) -> R + 'static,
        R: HookOutput,
    {
        self.hooks
            .terminate
            .push(Box::new(move |h| hook(h).into_result()));
        self
    }

    /// Adds a hook run in the master on SIGHUP, before the workers are sent SIGHUP
    /// (and after the configuration is re-read, with
    /// `watch_config`). cotyledon's `register_hooks(on_reload=…)`.
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # fn workers_wanted() -> std::io::Result<usize> { Ok(4) }
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let web = manager.add(|_| Web, 2)?;
    /// // Read the wanted count on SIGHUP; an error is logged and changes nothing.
    /// manager.on_reload(move |handle| -> Result<(), Box<dyn std::error::Error>> {
    ///     handle.reconfigure(web, workers_wanted()?)?;
    ///     Ok(())
    /// });
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn on_reload<F, R>(&mut self, mut hook: F) -> &mut Self
    where
        F: FnMut(&mut ManagerHandle<'_>) -> R + 'static,
        R: HookOutput,
    {
        self.hooks
            .reload
            .push(Box::new(move |h| hook(h).into_result()));
        self
    }

    /// Adds a hook run **in each new worker process**, after its service is built
    /// and before `run()` starts. It gets the service as `&dyn Any`, to downcast
    /// to the type the factory returned (for an async service,
    /// `Tokio<YourType>`, then `.service()`). cotyledon's
    /// `register_hooks(on_new_worker=…)`. A failing hook is logged; the worker
    /// runs all the same.
    ///
    /// ```
    /// use std::any::Any;
    ///
    /// use cotyledon::{ServiceId, WorkerId};
    ///
    /// #[derive(cotyledon::Service)]
    /// struct Web {
    ///     port: u16,
    /// }
    /// impl cotyledon::Service for Web {}
    ///
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let web = manager.add(|id: WorkerId| Web { port: 8000 + id.get() as u16 }, 2)?;
    /// manager.on_new_worker(move |service: ServiceId, worker: WorkerId, instance: &dyn Any| {
    ///     if service == web {
    ///         if let Some(w) = instance.downcast_ref::<Web>() {
    ///             log::info!("worker {worker} serves on port {}", w.port);
    ///         }
    ///     }
    /// });
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn on_new_worker<F, R>(&mut self, mut hook: F) -> &mut Self
    where
        F: FnMut(ServiceId, WorkerId, &dyn Any) -> R + 'static,
        R: HookOutput,
    {
        self.hooks
            .new_worker
            .push(Box::new(move |s, w, svc| hook(s, w, svc).into_result()));
        self
    }

    /// Adds a hook run in the master each time a worker is reaped, with its
    /// service id, worker id and how it ended, before it is respawned.
    /// cotyledon's `register_hooks(on_dead_worker=…)`, whose `exit_code` is a
    /// [`WorkerExit`] here.
    ///
    /// ```
    /// use cotyledon::WorkerExit;
    ///
    /// # #[derive(cotyledon::Service)] struct Light;
    /// # impl cotyledon::Service for Light {}
    /// let mut manager = cotyledon::ServiceManager::new()?;
    /// let light = manager.add(|_| Light, 1)?;
    /// manager.on_dead_worker(move |handle, service, worker, exit: WorkerExit| {
    ///     log::warn!("worker {worker} {exit}");
    ///     if service == light {
    ///         handle.shutdown(); // as cotyledon's exit_on_special_child_app
    ///     }
    /// });
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn on_dead_worker<F, R>(&mut self, mut hook: F) -> &mut Self
    where
        F: FnMut(&mut ManagerHandle<'_>, ServiceId, WorkerId, WorkerExit) -> R + 'static,
        R: HookOutput,
    {
        self.hooks
            .dead_worker
            .push(Box::new(move |h, s, w, e| hook(h, s, w, e).into_result()));
        self
    }

    /// Runs `f` with a handle on the manager, as a hook would, then applies
    /// what it asked. If `f` fails, nothing it asked is applied.
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) fn with_handle<T, E>(
        &mut self,
        f: impl FnOnce(&mut ManagerHandle<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut requests = Vec::new();
        let out = f(&mut ManagerHandle::new(&self.sup, &mut requests));
        if out.is_err() {
            // What a failed `f` asked is dropped.
            requests.clear();
        }
        let now = std::time::Instant::now();
        for action in self.sup.apply_now(requests, now) {
            if let super::supervisor::Action::SetGracefulTimeout(timeout) = action {
                self.settings.graceful_shutdown_timeout = timeout;
                crate::sys::handler::master::set_graceful(timeout);
            }
        }
        out
    }

    /// Adds a configuration re-read, run on SIGHUP before the reload hooks.
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) fn on_config(&mut self, hook: ManagerHook) {
        self.hooks.config.push(hook);
    }
}

/// Runs the configuration hooks of a SIGHUP, all or nothing: the first one that
/// fails or panics ends the list and its reason is returned, for the supervisor
/// to drop what the hooks asked and abort the reload (no reload hooks, no
/// worker signalled). A configuration hook logs its own failure ("Could not
/// reload the configuration from …"); a panic is logged here.
pub(crate) fn run_config_hooks(
    target: &str,
    list: &mut [ManagerHook],
    handle: &mut ManagerHandle<'_>,
) -> Result<(), String> {
    for hook in list.iter_mut() {
        match catch_unwind(AssertUnwindSafe(|| hook(handle))) {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(reason),
            Err(payload) => {
                let msg = format!("panicked: {}", crate::hooks::panic_message(&*payload));
                error!(target: target, "Exception raised during config hooks: {msg}");
                return Err(msg);
            }
        }
    }
    Ok(())
}
