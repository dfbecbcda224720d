//! The worker's line to the master, as a service uses it: readiness, heartbeats
//! and recycling requests (a slot of the shared region plus a signal).

use super::Context;

impl Context {
    /// Tells the manager that this worker is ready to serve. With
    /// [`Readiness::Explicit`](crate::Readiness::Explicit) (see
    /// [`ServiceManager::settings`](crate::ServiceManager::settings)) the worker
    /// counts as ready only from this call on: `READY=1` to systemd, the next step
    /// of a rolling reload and the boot timeout wait for it. With the default
    /// [`Readiness::OnRun`](crate::Readiness::OnRun) the worker is ready as soon as
    /// `run()` starts, and this call does nothing. Cheap and idempotent.
    ///
    /// ```no_run
    /// use cotyledon::{BoxError, Context};
    ///
    /// # fn load_model() {}
    /// #[derive(cotyledon::Service)]
    /// struct Model;
    ///
    /// impl cotyledon::Service for Model {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         load_model(); // slow: seconds
    ///         ctx.ready();
    ///         ctx.wait_for_stop();
    ///         Ok(())
    ///     }
    /// }
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # manager.add(|_| Model, 2)?;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn ready(&self) {
        if let Some(notice) = &self.inner.notice {
            notice.ready();
        }
    }
    /// A heartbeat for the hung-worker watchdog (see
    /// [`ServiceSettings::heartbeat_timeout`](crate::ServiceSettings::heartbeat_timeout)):
    /// call it from the loop that does the work, at least once per timeout. Cheap
    /// (a clock read and a store to shared memory, no system call); does nothing
    /// when the service has no heartbeat timeout.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use cotyledon::{BoxError, Context};
    ///
    /// # fn handle_one_message() {}
    /// #[derive(cotyledon::Service)]
    /// struct Consumer;
    ///
    /// impl cotyledon::Service for Consumer {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         while !ctx.wait_timeout(Duration::from_millis(100)) {
    ///             handle_one_message();
    ///             ctx.heartbeat(); // a worker stuck in handle_one_message stops beating
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let mut manager = cotyledon::ServiceManager::new()?;
    /// # let id = manager.add(|_| Consumer, 2)?;
    /// # manager.settings(id)?.heartbeat_timeout(Duration::from_secs(5));
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn heartbeat(&self) {
        if let Some(notice) = &self.inner.notice {
            notice.beat();
        }
    }
    /// Asks the manager to recycle this worker: a graceful restart through the
    /// service's rolling path (one batch at a time, each once its replacement is
    /// ready), so capacity holds, unlike [`restart`](Context::restart), which
    /// exits at once. For a worker that knows it should be replaced soon (a slow
    /// leak, a counter of requests served).
    ///
    /// ```no_run
    /// use cotyledon::{BoxError, Context};
    ///
    /// # fn serve_one() {}
    /// #[derive(cotyledon::Service)]
    /// struct Server;
    ///
    /// impl cotyledon::Service for Server {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         let mut served = 0u64;
    ///         while !ctx.is_stopping() {
    ///             serve_one();
    ///             served += 1;
    ///             if served == 10_000 {
    ///                 ctx.request_recycle(); // replaced once its successor is ready
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Server;
    /// ```
    pub fn request_recycle(&self) {
        if let Some(notice) = &self.inner.notice {
            notice.recycle();
        }
    }
}
