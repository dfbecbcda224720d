//! The [`Context`] handed to [`Service::run`](crate::Service::run): the worker's id
//! and a stop token, so a service needs no hand-made shutdown flag. The stop can be
//! waited for by blocking, or awaited ([`Context::stopped`], any executor; and, with
//! the `tokio` feature, as a `CancellationToken`).

use std::sync::Arc;
use std::time::Duration;

use crate::ids::WorkerId;
use crate::notice::Notice;
use crate::stop::RunWatch;
use crate::stop::token::StopToken;

/// What a running service can know about its worker, and the way to wait for stop.
///
/// The context is marked as stopping just before
/// [`Service::terminate`](crate::Service::terminate) is called, so a `run` loop written as
/// `while !ctx.wait_timeout(step) { … }` ends by itself on SIGTERM. Cheap to clone;
/// every clone shares the same token: a thread or task of the service can keep one.
///
/// ```no_run
/// use std::time::Duration;
///
/// use cotyledon::{BoxError, Context};
///
/// #[derive(cotyledon::Service)]
/// struct Poller;
///
/// impl cotyledon::Service for Poller {
///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
///         let name = ctx.service_name();
///         while !ctx.wait_timeout(Duration::from_secs(5)) {
///             log::info!("{name}({}) polls", ctx.worker_id());
///         }
///         Ok(())
///     }
/// }
/// # let mut manager = cotyledon::ServiceManager::new()?;
/// # manager.add(|_| Poller, 2)?;
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    worker_id: WorkerId,
    service_name: &'static str,
    /// The line to the master (none in unit tests).
    notice: Option<Notice>,
    /// The stop: flag, waiters, run watch.
    stop: StopToken,
}

impl Context {
    #[cfg(test)]
    pub(crate) fn new(service_name: &'static str, worker_id: WorkerId) -> Self {
        Context::with_notice(service_name, worker_id, None)
    }

    pub(crate) fn with_notice(
        service_name: &'static str,
        worker_id: WorkerId,
        notice: Option<Notice>,
    ) -> Self {
        Context {
            inner: Arc::new(Inner {
                worker_id,
                service_name,
                notice,
                stop: StopToken::default(),
            }),
        }
    }

    /// Asks for a graceful restart of this worker: the SIGTERM path
    /// (the context marked stopping, `terminate()`, exit), then the
    /// manager respawns the same worker id. For a worker that knows it must start
    /// afresh (a leak it detected, a configuration it cannot reload in place).
    ///
    /// ```no_run
    /// # use cotyledon::{BoxError, Context};
    /// # fn memory_used() -> u64 { 0 }
    /// # #[derive(cotyledon::Service)] struct Leaky;
    /// impl cotyledon::Service for Leaky {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         while !ctx.wait_timeout(std::time::Duration::from_secs(60)) {
    ///             if memory_used() > 1 << 30 {
    ///                 ctx.restart(); // terminate(), exit, respawned with the same id
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Leaky;
    /// ```
    pub fn restart(&self) {
        crate::stop::request_graceful_exit();
    }

    /// The line to the master, for the worker's own code.
    pub(crate) fn notice(&self) -> Option<Notice> {
        self.inner.notice
    }

    /// The id of this worker within its service (`0..workers`), the same as the
    /// factory got: stable across respawns, so it can pick a shard or a port.
    ///
    /// ```no_run
    /// # use cotyledon::{BoxError, Context};
    /// # #[derive(cotyledon::Service)] struct Shard;
    /// impl cotyledon::Service for Shard {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         let partition = ctx.worker_id().get() % 16;
    ///         log::info!("consuming partition {partition}");
    ///         ctx.wait_for_stop();
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Shard;
    /// ```
    pub fn worker_id(&self) -> WorkerId {
        self.inner.worker_id
    }

    /// The service's name, as declared with `#[service(name = "…")]` (the type's
    /// name by default).
    ///
    /// ```no_run
    /// # use cotyledon::{BoxError, Context};
    /// #[derive(cotyledon::Service)]
    /// #[service(name = "mailer")]
    /// struct Mailer;
    ///
    /// impl cotyledon::Service for Mailer {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         assert_eq!(ctx.service_name(), "mailer");
    ///         ctx.wait_for_stop();
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Mailer;
    /// ```
    pub fn service_name(&self) -> &'static str {
        self.inner.service_name
    }

    /// Whether the worker has been told to stop. For loops whose steps block on
    /// something else (a queue with its own timeout).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use cotyledon::{BoxError, Context};
    /// # fn next_job(_timeout: Duration) -> Option<u64> { None }
    /// # #[derive(cotyledon::Service)] struct Worker;
    /// impl cotyledon::Service for Worker {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         while !ctx.is_stopping() {
    ///             if let Some(job) = next_job(Duration::from_millis(500)) {
    ///                 log::info!("job {job} done");
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Worker;
    /// ```
    pub fn is_stopping(&self) -> bool {
        self.inner.stop.is_stopping()
    }

    /// Blocks until the worker is told to stop: the end of a `run` that started
    /// its work on other threads (the default `run` is just this).
    ///
    /// ```no_run
    /// # use cotyledon::{BoxError, Context};
    /// # #[derive(cotyledon::Service)] struct Server;
    /// impl cotyledon::Service for Server {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         let pool: Vec<_> = (0..4).map(|_| std::thread::spawn(|| { /* … */ })).collect();
    ///         ctx.wait_for_stop();
    ///         log::info!("stopping with {} threads", pool.len());
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Server;
    /// ```
    pub fn wait_for_stop(&self) {
        self.inner.stop.wait_for_stop();
    }

    /// Blocks until the worker is told to stop or `timeout` has passed; returns
    /// whether the worker is stopping. Use it as an interruptible sleep. A timeout
    /// too long for the clock (`Duration::MAX`) waits for the stop alone.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use cotyledon::{BoxError, Context};
    /// # #[derive(cotyledon::Service)] struct Ticker;
    /// impl cotyledon::Service for Ticker {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         // Once a second until SIGTERM: the sleep ends as soon as it arrives.
    ///         while !ctx.wait_timeout(Duration::from_secs(1)) {
    ///             log::info!("tick");
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Ticker;
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.inner.stop.wait_timeout(timeout)
    }

    /// Marks the worker as stopping and wakes every waiter: blocked threads,
    /// pending [`Stopped`](crate::Stopped) futures and cancellation tokens. The lock is held only
    /// to set the flag and take the wakers; every wake-up happens after it is
    /// released, so woken waiters do not queue on it. Returns whether the run
    /// thread was waiting on the context (it wakes up and may take `terminate()`).
    pub(crate) fn stop(&self) -> bool {
        self.inner.stop.stop()
    }

    /// Where the worker's run thread is, and who calls `terminate()`.
    pub(crate) fn run_watch(&self) -> &RunWatch {
        self.inner.stop.run_watch()
    }

    /// The stop token itself.
    pub(crate) fn token(&self) -> &StopToken {
        &self.inner.stop
    }
}

mod awaitable;
mod master;
#[cfg(test)]
mod tests;
