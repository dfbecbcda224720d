//! Async services (feature `tokio`): the [`AsyncService`] trait and the [`Tokio`]
//! adapter that runs one as a [`Service`] on a tokio runtime built in the worker,
//! after the fork and only when first needed; plus the master's check that no
//! runtime exists when it first forks (a runtime does not survive `fork()`).

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use log::error;
use tokio::runtime::Runtime;

use crate::context::Context;
use crate::service::{BoxError, Service, ServiceConfig};

const TARGET: &str = "cotyledon::worker";

/// The behaviour of an async service: [`Service`]'s methods as `async fn`s. Wrap
/// it in [`Tokio`] to register it (`manager.add(|id| Tokio::new(MyService::new(id)), n)`);
/// the metadata comes from `#[derive(Service)]` as for any service. With the
/// `tokio` feature.
///
/// Every method has a default. The lifecycle:
/// - [`run`](AsyncService::run) is awaited on the worker's runtime. It may call
///   [`ctx.ready()`](Context::ready), spawn tasks, and should return once
///   [`ctx.stopped()`](Context::stopped) (or [`ctx.cancellation_token()`](Context::cancellation_token))
///   fires, after the work in flight is done: that is the graceful drain.
/// - On SIGTERM the stop fires at once; the worker then waits for `run` to
///   return, awaits [`terminate`](AsyncService::terminate), and exits with its
///   value. The service's graceful shutdown timeout bounds the whole of it (exit 1
///   when it passes), so a `run` that ignores the stop cannot hold the worker.
/// - On SIGHUP [`reload`](AsyncService::reload) is awaited on the same runtime.
///
/// ```no_run
/// use std::time::Duration;
///
/// use cotyledon::{AsyncService, BoxError, Context, Service, ServiceManager, Tokio, WorkerId};
///
/// #[derive(Service)]
/// #[service(name = "consumer", graceful_shutdown_timeout = 30)]
/// struct Consumer {
///     id: WorkerId,
/// }
///
/// impl AsyncService for Consumer {
///     async fn run(&self, ctx: Context) -> Result<(), BoxError> {
///         let mut every = tokio::time::interval(Duration::from_secs(1));
///         let mut jobs = tokio::task::JoinSet::new();
///         ctx.ready();
///         loop {
///             tokio::select! {
///                 _ = ctx.stopped() => break,
///                 _ = every.tick() => {
///                     let id = self.id;
///                     jobs.spawn(async move { log::info!("worker {id} handles a message") });
///                 }
///             }
///         }
///         // The drain: the jobs in flight finish before run returns.
///         while jobs.join_next().await.is_some() {}
///         Ok(())
///     }
/// }
///
/// fn main() -> Result<(), BoxError> {
///     let mut manager = ServiceManager::new()?;
///     manager.add(|id| Tokio::new(Consumer { id }), 2)?;
///     manager.run()?;
///     Ok(())
/// }
/// ```
// The futures are driven with `block_on` on the worker's own threads, so they need
// not be `Send`: plain `async fn` is the most a user can be allowed.
#[allow(
    async_fn_in_trait,
    reason = "the futures are block_on'd, never spawned"
)]
pub trait AsyncService: ServiceConfig + Send + Sync + 'static {
    /// The worker's main task. The default awaits the stop.
    ///
    /// Like [`Service::run`]: an `Err` or a panic is logged at ERROR and the worker
    /// exits with status 2; an `Ok` before the stop leaves the worker alive until it
    /// is told to stop. Return after the stop once the work in flight is done.
    ///
    /// ```
    /// # use cotyledon::{BoxError, Context};
    /// # #[derive(cotyledon::Service)] struct Echo;
    /// impl cotyledon::AsyncService for Echo {
    ///     async fn run(&self, ctx: Context) -> Result<(), BoxError> {
    ///         log::info!("worker {} up", ctx.worker_id());
    ///         ctx.stopped().await;
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = cotyledon::Tokio::new(Echo);
    /// ```
    ///
    /// # Errors
    ///
    /// Any error the service wants logged before its worker exits with status 2.
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        ctx.stopped().await;
        Ok(())
    }

    /// Awaited once the worker was told to stop and [`run`](AsyncService::run) has
    /// returned; its value is the worker's exit status (default 0). For the
    /// clean-up that must come after the drain (flush, close a pool).
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Writer;
    /// impl cotyledon::AsyncService for Writer {
    ///     async fn terminate(&self) -> i32 {
    ///         log::info!("buffers flushed");
    ///         0
    ///     }
    /// }
    /// # let _ = cotyledon::Tokio::new(Writer);
    /// ```
    async fn terminate(&self) -> i32 {
        0
    }

    /// Awaited on SIGHUP (not while the worker terminates or another reload runs).
    /// The default is [`Service::reload`]'s: a graceful restart (the SIGTERM path,
    /// then the manager respawns the same worker id).
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Cache;
    /// impl cotyledon::AsyncService for Cache {
    ///     async fn reload(&self) {
    ///         log::info!("configuration re-read in place");
    ///     }
    /// }
    /// # let _ = cotyledon::Tokio::new(Cache);
    /// ```
    async fn reload(&self) {
        crate::stop::request_graceful_exit();
    }
}

/// How [`run`](AsyncService::run) ended, as [`Service::terminate`] waits for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunState {
    Running,
    Returned,
    /// An error, a panic, or no runtime: the worker exits 2 from its main thread.
    Failed,
}

/// Builds a runtime in the worker.
type BuildRuntime = dyn Fn() -> io::Result<Runtime> + Send + Sync;

/// An [`AsyncService`] run as a [`Service`], on a tokio runtime of its own.
///
/// The runtime is built in the worker process, after the fork, when `run` (or a
/// reload) first needs it: never in the master, whose runtime would not survive
/// `fork()`. [`Tokio::new`] builds a current-thread runtime with every driver the
/// program's tokio features compile (`enable_all`): one event loop per worker
/// process, the pre-fork model (scale with workers). [`Tokio::with_runtime`] takes
/// any other. On a current-thread runtime, tasks run while `run`, `terminate` or
/// `reload` is being awaited: a `run` that returns `Ok` before the stop leaves
/// its spawned tasks waiting until then (keep `run` running, as a server does).
/// With the `tokio` feature.
///
/// ```no_run
/// use cotyledon::{AsyncService, Service, ServiceManager, Tokio};
///
/// #[derive(Service)]
/// struct Idle;
/// impl AsyncService for Idle {}
///
/// let mut manager = ServiceManager::new()?;
/// manager.add(|_| Tokio::new(Idle), 4)?;
/// # Ok::<(), cotyledon::Error>(())
/// ```
pub struct Tokio<S> {
    service: S,
    build: Box<BuildRuntime>,
    runtime: Mutex<Option<Arc<Runtime>>>,
    state: Mutex<RunState>,
    ended: Condvar,
}

impl<S: AsyncService> Tokio<S> {
    /// Runs `service` on a current-thread runtime built in the worker
    /// (`Builder::new_current_thread().enable_all()`).
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Idle;
    /// # impl cotyledon::AsyncService for Idle {}
    /// let service = cotyledon::Tokio::new(Idle);
    /// # drop(service);
    /// ```
    pub fn new(service: S) -> Self {
        Tokio::with_runtime(service, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        })
    }

    /// Runs `service` on the runtime `build` makes, called once in the worker (e.g.
    /// a multi-thread runtime; its threads then belong to that worker process).
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Heavy;
    /// # impl cotyledon::AsyncService for Heavy {}
    /// let service = cotyledon::Tokio::with_runtime(Heavy, || {
    ///     tokio::runtime::Builder::new_multi_thread()
    ///         .worker_threads(2)
    ///         .enable_all()
    ///         .build()
    /// });
    /// # drop(service);
    /// ```
    pub fn with_runtime<F>(service: S, build: F) -> Self
    where
        F: Fn() -> io::Result<Runtime> + Send + Sync + 'static,
    {
        Tokio {
            service,
            build: Box::new(build),
            runtime: Mutex::new(None),
            state: Mutex::new(RunState::Running),
            ended: Condvar::new(),
        }
    }

    /// The wrapped service (for instance in an `on_new_worker` hook, after
    /// `downcast_ref::<Tokio<S>>()`).
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Idle { port: u16 }
    /// # impl cotyledon::AsyncService for Idle {}
    /// let service = cotyledon::Tokio::new(Idle { port: 8080 });
    /// assert_eq!(service.service().port, 8080);
    /// ```
    pub fn service(&self) -> &S {
        &self.service
    }

    /// The worker's runtime, built on first use.
    fn runtime(&self) -> io::Result<Arc<Runtime>> {
        let mut slot = lock(&self.runtime);
        if let Some(runtime) = &*slot {
            return Ok(runtime.clone());
        }
        let runtime = Arc::new((self.build)()?);
        *slot = Some(runtime.clone());
        Ok(runtime)
    }

    /// Blocks until `run` has ended; whether it returned `Ok`.
    fn wait_for_run(&self) -> bool {
        let mut state = lock(&self.state);
        while *state == RunState::Running {
            state = self
                .ended
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *state == RunState::Returned
    }
}

impl<S> std::fmt::Debug for Tokio<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokio")
            .field("service", &std::any::type_name::<S>())
            .field("state", &*lock(&self.state))
            .finish_non_exhaustive()
    }
}

impl<S: AsyncService> ServiceConfig for Tokio<S> {
    const NAME: &'static str = S::NAME;
    const GRACEFUL_SHUTDOWN_TIMEOUT: Option<u64> = S::GRACEFUL_SHUTDOWN_TIMEOUT;
}

/// Marks `run` as ended when dropped: failed unless told otherwise, so that a
/// panic in `run` also ends the wait of `terminate`.
struct RunEnd<'a> {
    state: &'a Mutex<RunState>,
    ended: &'a Condvar,
    outcome: RunState,
}

impl Drop for RunEnd<'_> {
    fn drop(&mut self) {
        *lock(self.state) = self.outcome;
        self.ended.notify_all();
    }
}

impl<S: AsyncService> Service for Tokio<S> {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        let mut end = RunEnd {
            state: &self.state,
            ended: &self.ended,
            outcome: RunState::Failed,
        };
        let runtime = self
            .runtime()
            .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;
        let result = runtime.block_on(self.service.run(ctx.clone()));
        if result.is_ok() {
            end.outcome = RunState::Returned;
        }
        result
    }

    fn terminate(&self) -> i32 {
        if !self.wait_for_run() {
            // run() failed: the worker's main thread logs its error and exits 2.
            // This thread must not race it with another exit status.
            loop {
                std::thread::park();
            }
        }
        match self.runtime() {
            Ok(runtime) => runtime.block_on(self.service.terminate()),
            // run() returned Ok, so the runtime exists: cannot happen.
            Err(_) => 1,
        }
    }

    fn reload(&self) {
        match self.runtime() {
            Ok(runtime) => runtime.block_on(self.service.reload()),
            Err(e) => error!(
                target: TARGET,
                "reload() of {} skipped: cannot build the tokio runtime: {e}",
                S::NAME
            ),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The flavour of the tokio runtime the calling thread is in, if any: asked by
/// the master before its first fork, where there must be none.
pub(crate) fn current_runtime() -> Option<tokio::runtime::RuntimeFlavor> {
    tokio::runtime::Handle::try_current()
        .ok()
        .map(|handle| handle.runtime_flavor())
}

#[cfg(test)]
mod tests;
