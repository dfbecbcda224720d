//! [`ManagerHandle`]: what hooks running in the master may do to the manager.

use crate::error::Error;
use crate::manager::workers::Table;
use crate::service::ServiceId;

/// The manager's mutable state that a handle reaches.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) table: Table,
    pub(crate) shutdown_requested: bool,
    pub(crate) reconfigured: bool,
}

impl State {
    pub(crate) fn reconfigure(&mut self, id: ServiceId, workers: usize) -> Result<(), Error> {
        self.table.set_desired(id, workers)?;
        self.reconfigured = true;
        Ok(())
    }
}

/// Given to the hooks that run in the master (`on_terminate`, `on_reload`,
/// `on_dead_worker`) so they can act on the manager.
///
/// ```no_run
/// use cotyledon::{Service, ServiceManager};
///
/// #[derive(Service)]
/// struct Light;
/// impl cotyledon::Service for Light {}
///
/// let mut manager = ServiceManager::new()?;
/// let light = manager.add(|_| Light, 2)?;
/// // Stop everything as soon as any light worker dies.
/// manager.on_dead_worker(move |handle, service, _worker, _exit| {
///     if service == light {
///         handle.shutdown();
///     }
/// });
/// manager.run()?;
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[derive(Debug)]
pub struct ManagerHandle<'a> {
    state: &'a mut State,
}

impl<'a> ManagerHandle<'a> {
    pub(crate) fn new(state: &'a mut State) -> Self {
        ManagerHandle { state }
    }

    /// Changes the number of workers of a service, as
    /// [`ServiceManager::reconfigure`](crate::ServiceManager::reconfigure) does: the
    /// highest ids are stopped gracefully, missing ids are started.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidWorkerCount`] for `workers < 1`, [`Error::TooManyWorkers`]
    /// above [`MAX_WORKERS`](crate::MAX_WORKERS) for this service or in total,
    /// [`Error::UnknownService`] for an id this manager did not return. On an error
    /// the count is unchanged.
    pub fn reconfigure(&mut self, service: ServiceId, workers: usize) -> Result<(), Error> {
        self.state.reconfigure(service, workers)
    }

    /// Starts the same graceful shutdown as SIGTERM, once the hook returns.
    pub fn shutdown(&mut self) {
        self.state.shutdown_requested = true;
    }

    /// The number of workers currently configured for a service.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownService`] for an id this manager did not return.
    pub fn workers(&self, service: ServiceId) -> Result<usize, Error> {
        let index = self.state.table.index_of(service)?;
        Ok(self.state.table.service(index).desired)
    }
}
