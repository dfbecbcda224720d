//! The two traits a user implements: [`ServiceConfig`] (metadata, derived with
//! `#[derive(Service)]`) and [`Service`] (behaviour), and what a factory may return.

use crate::context::Context;

/// A boxed error, as returned by [`Service::run`] and by fallible factories and hooks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Static metadata of a service: its name and its graceful-shutdown timeout.
///
/// Implement it with `#[derive(Service)]` and the `#[service(...)]` attribute:
///
/// ```
/// use cotyledon::Service;
///
/// #[derive(Service)]
/// #[service(name = "heavy", graceful_shutdown_timeout = 5)]
/// struct Heavy;
///
/// use cotyledon::ServiceConfig;
/// assert_eq!(Heavy::NAME, "heavy");
/// assert_eq!(Heavy::GRACEFUL_SHUTDOWN_TIMEOUT, Some(5));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no service metadata: it lacks `#[derive(Service)]`",
    label = "`#[derive(cotyledon::Service)]` missing on `{Self}`",
    note = "a service needs both `#[derive(cotyledon::Service)]` (its name and graceful shutdown timeout) and `impl cotyledon::Service for {Self}` (its behaviour)"
)]
pub trait ServiceConfig {
    /// The service name used in log messages and process titles. Defaults to the
    /// type's name when derived without `name = "…"`.
    const NAME: &'static str;

    /// Seconds a worker of this service may spend in [`Service::terminate`] after
    /// SIGTERM before it is forced to exit with status 1.
    ///
    /// `None` (the default) uses the manager's `graceful_shutdown_timeout`;
    /// `Some(0)` waits forever.
    const GRACEFUL_SHUTDOWN_TIMEOUT: Option<u64> = None;
}

/// The behaviour of a service, run in each of its worker processes.
///
/// Every method has cotyledon's default, so `impl Service for MyType {}` is a
/// complete service that does nothing until it is told to stop. Methods take `&self`
/// because they are called from different threads: `run` on its own thread,
/// `terminate` on that thread when it is free or else on a thread of its own, and
/// `reload` on a thread started by the worker's signal loop.
///
/// ```
/// use cotyledon::{BoxError, Context, Service};
///
/// #[derive(Service)]
/// #[service(name = "printer")]
/// struct Printer;
///
/// impl Service for Printer {
///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
///         // Work in steps of one second until SIGTERM (or SIGINT) arrives.
///         while !ctx.wait_timeout(std::time::Duration::from_secs(1)) {
///             log::info!("worker {} is working", ctx.worker_id());
///         }
///         Ok(())
///     }
///
///     fn terminate(&self) -> i32 {
///         log::info!("bye");
///         0
///     }
/// }
///
/// let mut manager = cotyledon::ServiceManager::new()?;
/// manager.add(|_| Printer, 1)?;
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service: it lacks `impl cotyledon::Service for {Self}`",
    label = "`impl cotyledon::Service for {Self}` missing",
    note = "a service needs both `#[derive(cotyledon::Service)]` (its name and graceful shutdown timeout) and `impl cotyledon::Service for {Self}` (its behaviour; every method has a default, so `{{}}` will do)"
)]
pub trait Service: ServiceConfig + Send + Sync + 'static {
    /// The worker's main loop, started on its own thread once the service is built.
    ///
    /// The default waits until the worker is told to stop. If `run` returns `Ok`, the
    /// worker stays alive until it is told to stop. If it returns `Err` or panics, the
    /// error is logged at ERROR and the worker exits with status 2 (and is respawned).
    ///
    /// # Errors
    ///
    /// Any error the service wants logged before its worker exits with status 2.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::net::UdpSocket;
    ///
    /// use cotyledon::{BoxError, Context};
    ///
    /// #[derive(cotyledon::Service)]
    /// struct Collector;
    ///
    /// impl cotyledon::Service for Collector {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         // `?` on an error: logged ("run() failed: …"), the worker exits 2.
    ///         let socket = UdpSocket::bind("127.0.0.1:8125")?;
    ///         socket.set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
    ///         let mut buf = [0; 1500];
    ///         while !ctx.is_stopping() {
    ///             if let Ok(n) = socket.recv(&mut buf) {
    ///                 log::debug!("{n} bytes");
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Collector;
    /// ```
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        ctx.wait_for_stop();
        Ok(())
    }

    /// Called once, never on the worker's main thread, when the worker is asked to
    /// stop gracefully (SIGTERM, the master shutting down, the master dying, or the
    /// default [`reload`](Service::reload)).
    ///
    /// The [`Context`] given to `run` is already marked as stopping when this is
    /// called. The returned value is the worker's exit status (default 0). The worker
    /// exits as soon as this returns: `run` is not joined, so a service that must
    /// finish its current job waits for it here.
    ///
    /// It runs on `run`'s thread when that thread is free: `run` has returned `Ok`,
    /// or the stop found `run` waiting on its [`Context`]
    /// ([`wait_for_stop`](Context::wait_for_stop), [`wait_timeout`](Context::wait_timeout))
    /// and `run` returns within 50 ms of waking up. Otherwise it runs on a thread of
    /// its own, started at once when `run` was busy in code of its own, or 50 ms
    /// after `run` woke up without returning.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use std::sync::mpsc::{Receiver, channel};
    ///
    /// #[derive(cotyledon::Service)]
    /// struct Batcher {
    ///     /// `run` sends `()` here when its last batch is written.
    ///     done: Mutex<Receiver<()>>,
    /// }
    ///
    /// impl cotyledon::Service for Batcher {
    ///     fn terminate(&self) -> i32 {
    ///         // Wait for run() to finish its batch, then choose the exit status.
    ///         match self.done.lock().map(|done| done.recv()) {
    ///             Ok(Ok(())) => 0,
    ///             _ => 3, // seen by on_dead_worker hooks as WorkerExit::Exited(3)
    ///         }
    ///     }
    /// }
    /// # let (tx, rx) = channel();
    /// # tx.send(()).unwrap();
    /// # assert_eq!(cotyledon::Service::terminate(&Batcher { done: Mutex::new(rx) }), 0);
    /// ```
    fn terminate(&self) -> i32 {
        0
    }

    /// Called on a thread of its own when the worker receives SIGHUP (the master forwards
    /// its own SIGHUP to every worker). Not called while `terminate` or another
    /// `reload` is running.
    ///
    /// The default restarts the worker: it takes the graceful SIGTERM path (so
    /// [`terminate`](Service::terminate) runs and decides the exit status) and the
    /// manager respawns the same worker id.
    ///
    /// ```
    /// use std::sync::RwLock;
    ///
    /// # fn read_rules() -> Vec<String> { vec!["allow all".into()] }
    /// #[derive(cotyledon::Service)]
    /// struct Filter {
    ///     rules: RwLock<Vec<String>>,
    /// }
    ///
    /// impl cotyledon::Service for Filter {
    ///     // In place: the worker keeps running (no restart) with the new rules.
    ///     fn reload(&self) {
    ///         let rules = read_rules();
    ///         log::info!("{} rules loaded", rules.len());
    ///         if let Ok(mut current) = self.rules.write() {
    ///             *current = rules;
    ///         }
    ///     }
    /// }
    /// # let filter = Filter { rules: RwLock::new(Vec::new()) };
    /// # cotyledon::Service::reload(&filter);
    /// # assert_eq!(filter.rules.read().unwrap().len(), 1);
    /// ```
    fn reload(&self) {
        crate::stop::request_graceful_exit();
    }
}

/// What a service factory may return: the service itself, or a `Result` of it
/// whose error makes the worker exit with status 2 (it is then respawned).
///
/// ```no_run
/// # use cotyledon::{Service, ServiceManager, WorkerId};
/// # #[derive(Service)] struct Light;
/// # impl cotyledon::Service for Light {}
/// # #[derive(Service)] struct Db { id: WorkerId }
/// # impl cotyledon::Service for Db {
/// #     fn terminate(&self) -> i32 { self.id.get() as i32 }
/// # }
/// # let mut manager = ServiceManager::new()?;
/// manager.add(|_| Light, 2)?;
/// manager.add(|id| -> Result<Db, std::io::Error> { Ok(Db { id }) }, 2)?;
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a service nor a `Result` of one: `impl cotyledon::Service` is missing",
    label = "the factory given to `add` must return a service",
    note = "`#[derive(cotyledon::Service)]` gives a service its name and timeout only; write its behaviour with `impl cotyledon::Service for YourType {{}}` (every method has a default)",
    note = "an `AsyncService` is added wrapped in `cotyledon::Tokio::new(…)`"
)]
pub trait IntoService: sealed::Sealed {
    /// The service built.
    type Service: Service;
    /// The service, or the error to log.
    ///
    /// # Errors
    ///
    /// The factory's error, boxed.
    ///
    /// ```
    /// use cotyledon::IntoService;
    /// # #[derive(cotyledon::Service)] struct Light;
    /// # impl cotyledon::Service for Light {}
    ///
    /// assert!(Light.into_service().is_ok());
    /// let failed: Result<Light, std::io::Error> = Err(std::io::ErrorKind::NotFound.into());
    /// assert_eq!(failed.into_service().err().map(|e| e.to_string()), Some("entity not found".into()));
    /// ```
    fn into_service(self) -> Result<Self::Service, BoxError>;
}

impl<S: Service> sealed::Sealed for S {}
impl<S: Service, E: Into<BoxError>> sealed::Sealed for Result<S, E> {}

/// The seal of [`IntoService`]: only a service and a `Result` of one implement
/// it, so the trait can grow without breaking anyone.
mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

impl<S: Service> IntoService for S {
    type Service = S;
    fn into_service(self) -> Result<S, BoxError> {
        Ok(self)
    }
}

impl<S: Service, E: Into<BoxError>> IntoService for Result<S, E> {
    type Service = S;
    fn into_service(self) -> Result<S, BoxError> {
        self.map_err(Into::into)
    }
}
