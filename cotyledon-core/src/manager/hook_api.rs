//! Hook registration on [`ServiceManager`]: the four lists, run in registration
//! order (see `crate::hooks`).

use std::any::Any;

use super::{ManagerHandle, ServiceManager};
use crate::hooks::{HookOutput, WorkerExit};
use crate::service::{ServiceId, WorkerId};

impl ServiceManager {
    /// Adds a hook run in the master when it starts a graceful shutdown, before
    /// the workers are sent SIGTERM.
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

    /// Adds a hook run in the master on SIGHUP, before the workers are sent SIGHUP.
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
    /// and before `run()` starts. It gets the service as `&dyn Any`, to downcast.
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
}
