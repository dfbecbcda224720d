//! [`ManagerHandle`]: what hooks running in the master may do to the manager.

use std::time::Instant;

pub(crate) use super::supervisor::Request;
use super::supervisor::Supervisor;
use super::supervisor::table::{MAX_WORKERS, check_count};
use crate::error::Error;
use crate::ids::{ServiceId, WorkerId};

/// One running worker, as [`ManagerHandle::running_workers`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// Its service.
    pub service: ServiceId,
    /// Its worker id.
    pub worker_id: WorkerId,
    /// Its process id.
    pub pid: i32,
    /// Whether it is ready (see [`Readiness`](crate::Readiness)).
    pub ready: bool,
    /// When the master forked it.
    pub started_at: Instant,
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
    sup: &'a Supervisor,
    requests: &'a mut Vec<Request>,
}

impl<'a> ManagerHandle<'a> {
    pub(crate) fn new(sup: &'a Supervisor, requests: &'a mut Vec<Request>) -> Self {
        ManagerHandle { sup, requests }
    }

    /// The count of service `index` with the requests recorded so far.
    fn desired(&self, index: usize) -> usize {
        self.requests
            .iter()
            .rev()
            .find_map(|r| match *r {
                Request::Reconfigure(i, n) if i == index => Some(n),
                _ => None,
            })
            .unwrap_or_else(|| self.sup.table.service(index).desired)
    }

    /// Changes the number of workers of a service, as
    /// [`ServiceManager::reconfigure`](crate::ServiceManager::reconfigure) does: the
    /// highest ids are stopped gracefully, missing ids are started.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidWorkerCount`] for `workers < 1`, [`Error::TooManyWorkers`]
    /// above [`MAX_WORKERS`](crate::ServiceManager::MAX_WORKERS) for this service or in total,
    /// [`Error::UnknownService`] for an id this manager did not return. On an error
    /// the count is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// // On SIGHUP, one worker more; `?` turns a refused count into an ERROR line.
    /// manager.on_reload(move |handle| {
    ///     let now = handle.workers(web)?;
    ///     handle.reconfigure(web, now + 1)
    /// });
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn reconfigure(&mut self, service: ServiceId, workers: usize) -> Result<(), Error> {
        let index = self.sup.table.index_of(service)?;
        check_count(workers)?;
        let others: usize = (0..self.sup.services.len())
            .filter(|&i| i != index)
            .map(|i| self.desired(i))
            .sum();
        let total = others.saturating_add(workers);
        if total > MAX_WORKERS {
            return Err(Error::TooManyWorkers {
                workers: total,
                max: MAX_WORKERS,
            });
        }
        self.requests.push(Request::Reconfigure(index, workers));
        Ok(())
    }

    /// Starts the same graceful shutdown as SIGTERM, once the hook returns.
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// use cotyledon::WorkerExit;
    ///
    /// // A worker that exits with status 3 means "configuration broken": stop everything.
    /// manager.on_dead_worker(|handle, _, _, exit| {
    ///     if exit == WorkerExit::Exited(3) {
    ///         handle.shutdown();
    ///     }
    /// });
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn shutdown(&mut self) {
        self.requests.push(Request::Shutdown);
    }

    /// Starts a binary upgrade once the hooks return, as SIGUSR2 does: the
    /// program at [`upgrade_exe`](crate::ServiceManagerBuilder::upgrade_exe)'s
    /// path is started as a new master with every listener; once all of its
    /// workers are ready this master hands over and leaves (exit 0). If the
    /// attempt fails, this master keeps serving. Ignored (with a log line)
    /// during another upgrade or the shutdown.
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// // `systemctl reload` (SIGHUP) also picks up a new build.
    /// manager.on_reload(|handle| handle.upgrade());
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn upgrade(&mut self) {
        self.requests.push(Request::Upgrade);
    }

    /// Every running worker, services in registration order, ids ascending
    /// (workers being stopped included).
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// manager.on_reload(|handle| {
    ///     for w in handle.running_workers() {
    ///         log::info!("worker {} pid {} ready {} up {:?}", w.worker_id, w.pid, w.ready, w.started_at.elapsed());
    ///     }
    /// });
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn running_workers(&self) -> Vec<WorkerInfo> {
        let mut out = Vec::new();
        for (_, slots) in self.sup.table.services() {
            for (worker_id, r) in slots.running() {
                out.push(WorkerInfo {
                    service: slots.id,
                    worker_id,
                    pid: r.pid,
                    ready: r.life.serving(),
                    started_at: r.started,
                });
            }
        }
        out
    }

    /// Restarts one worker gracefully (SIGTERM, once the hook returns): it runs
    /// `terminate()`, exits and is respawned with the same id. Not a crash: no
    /// back-off. Nothing happens if the id has no process right now.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownService`], or [`Error::UnknownWorker`] for an id at or above
    /// the service's count.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// use std::time::Duration;
    ///
    /// // On SIGHUP, restart only the workers that have been up for more than a day.
    /// manager.on_reload(move |handle| {
    ///     for w in handle.running_workers() {
    ///         if w.service == web && w.started_at.elapsed() > Duration::from_secs(86_400) {
    ///             handle.restart_worker(web, w.worker_id)?;
    ///         }
    ///     }
    ///     Ok::<(), cotyledon::Error>(())
    /// });
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn restart_worker(&mut self, service: ServiceId, worker: WorkerId) -> Result<(), Error> {
        let index = self.check(service, worker)?;
        self.requests.push(Request::Restart(index, worker));
        Ok(())
    }

    /// Stops one worker gracefully (SIGTERM, once the hook returns) and does not
    /// respawn its id until [`start_worker`](Self::start_worker) (or a scale-down
    /// below it followed by a scale-up).
    ///
    /// # Errors
    ///
    /// As [`restart_worker`](Self::restart_worker).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// use cotyledon::{WorkerExit, WorkerId};
    ///
    /// // Worker 0 exits with status 4 when its disk is full: keep its id down.
    /// manager.on_dead_worker(move |handle, service, worker, exit| {
    ///     if service == web && worker == WorkerId::new(0) && exit == WorkerExit::Exited(4) {
    ///         handle.stop_worker(web, worker)?;
    ///     }
    ///     Ok::<(), cotyledon::Error>(())
    /// });
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn stop_worker(&mut self, service: ServiceId, worker: WorkerId) -> Result<(), Error> {
        let index = self.check(service, worker)?;
        self.requests.push(Request::Stop(index, worker));
        Ok(())
    }

    /// Lets a worker id stopped by [`stop_worker`](Self::stop_worker) run again.
    ///
    /// # Errors
    ///
    /// As [`restart_worker`](Self::restart_worker).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// use cotyledon::WorkerId;
    ///
    /// // SIGHUP brings back worker 0 if a hook had stopped it.
    /// manager.on_reload(move |handle| handle.start_worker(web, WorkerId::new(0)));
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn start_worker(&mut self, service: ServiceId, worker: WorkerId) -> Result<(), Error> {
        let index = self.check(service, worker)?;
        self.requests.push(Request::Start(index, worker));
        Ok(())
    }

    /// Restarts every worker of a service, one batch at a time (the service's
    /// [`Reload::Rolling`](crate::Reload::Rolling) batch, else one), each batch
    /// once the previous one's replacements are ready.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownService`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// // SIGHUP restarts the web workers one at a time, each once the previous
    /// // replacement is ready.
    /// manager.on_reload(move |handle| handle.rolling_restart(web));
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn rolling_restart(&mut self, service: ServiceId) -> Result<(), Error> {
        let index = self.sup.table.index_of(service)?;
        self.requests.push(Request::RollingRestart(index));
        Ok(())
    }

    fn check(&self, service: ServiceId, worker: WorkerId) -> Result<usize, Error> {
        let index = self.sup.table.index_of(service)?;
        if worker.get() >= self.desired(index) {
            return Err(Error::UnknownWorker { service, worker });
        }
        Ok(index)
    }

    /// Changes the manager's graceful-shutdown timeout (see
    /// [`ServiceManagerBuilder::graceful_shutdown_timeout`](crate::ServiceManagerBuilder::graceful_shutdown_timeout))
    /// from now on: the master's deadline for the next shutdown. Workers keep the
    /// timeout they were started with.
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// use std::time::Duration;
    ///
    /// // A shutdown that comes after a reload may take longer.
    /// manager.on_reload(|handle| handle.set_graceful_shutdown_timeout(Duration::from_secs(120)));
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn set_graceful_shutdown_timeout(&mut self, timeout: std::time::Duration) {
        self.requests.push(Request::GracefulTimeout(timeout));
    }

    /// The number of workers currently configured for a service.
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
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let web = manager.add(|_| Web, 4)?;
    /// manager.on_reload(move |handle| {
    ///     log::info!("web runs {} workers", handle.workers(web)?);
    ///     Ok::<(), cotyledon::Error>(())
    /// });
    /// # let _ = web;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn workers(&self, service: ServiceId) -> Result<usize, Error> {
        let index = self.sup.table.index_of(service)?;
        Ok(self.desired(index))
    }
}
