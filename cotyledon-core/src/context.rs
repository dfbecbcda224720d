//! The [`Context`] handed to [`Service::run`](crate::Service::run): the worker's id
//! and a stop token, so a service needs no hand-made shutdown flag. The stop can be
//! waited for by blocking, or awaited ([`Context::stopped`], any executor; and, with
//! the `tokio` feature, as a `CancellationToken`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::notice::Notice;
use crate::service::WorkerId;
use crate::stopped::{Stopped, Wakers};
use crate::worker::RunWatch;

/// What a running service can know about its worker, and the way to wait for stop.
///
/// The context is marked as stopping just before
/// [`Service::terminate`](crate::Service::terminate) is called, so a `run` loop written as
/// `while !ctx.wait_timeout(step) { … }` ends by itself on SIGTERM. Cheap to clone;
/// every clone shares the same token.
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    worker_id: WorkerId,
    service_name: &'static str,
    stopping: AtomicBool,
    /// Set `stopping` only while holding it, so that a waiter that saw `false`
    /// under it is either already waiting (condvar) or registered (wakers).
    lock: Mutex<Waiters>,
    cond: Condvar,
    /// The line to the master (none in unit tests).
    notice: Option<Notice>,
    /// Where the worker's run thread is, and who calls `terminate()`.
    run: RunWatch,
}

/// What [`Context::stop`] wakes besides the condvar.
#[derive(Debug, Default)]
struct Waiters {
    /// The wakers of pending [`Stopped`] futures.
    wakers: Wakers,
    /// The parent of every token `cancellation_token()` hands out, once asked for.
    #[cfg(feature = "tokio")]
    token: Option<tokio_util::sync::CancellationToken>,
}

impl Waiters {
    /// Empties the table for the stop (no slot is handed out after it).
    fn take_for_stop(&mut self) -> ToWake {
        ToWake {
            wakers: self.wakers.take_all(),
            #[cfg(feature = "tokio")]
            token: self.token.clone(),
        }
    }
}

/// What [`Context::stop`] wakes once it has released the lock.
struct ToWake {
    wakers: Vec<Waker>,
    #[cfg(feature = "tokio")]
    token: Option<tokio_util::sync::CancellationToken>,
}

impl ToWake {
    fn wake(self) {
        for waker in self.wakers {
            waker.wake();
        }
        #[cfg(feature = "tokio")]
        if let Some(token) = self.token {
            token.cancel();
        }
    }
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
                stopping: AtomicBool::new(false),
                lock: Mutex::new(Waiters::default()),
                cond: Condvar::new(),
                notice,
                run: RunWatch::default(),
            }),
        }
    }

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

    /// Asks for a graceful restart of this worker: the SIGTERM path
    /// (the context marked stopping, `terminate()`, exit), then the
    /// manager respawns the same worker id. For a worker that knows it must start
    /// afresh (a leak it detected, a configuration it cannot reload in place).
    pub fn restart(&self) {
        crate::worker::request_graceful_exit();
    }

    /// The line to the master, for the worker's own code.
    pub(crate) fn notice(&self) -> Option<Notice> {
        self.inner.notice
    }

    /// The id of this worker within its service (`0..workers`).
    pub fn worker_id(&self) -> WorkerId {
        self.inner.worker_id
    }

    /// The service's name, as declared with `#[service(name = "…")]`.
    pub fn service_name(&self) -> &'static str {
        self.inner.service_name
    }

    /// Whether the worker has been told to stop.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }

    /// Blocks until the worker is told to stop.
    pub fn wait_for_stop(&self) {
        let mut guard = self.lock();
        if self.is_stopping() {
            return;
        }
        let watched = self.inner.run.enter_wait();
        while !self.is_stopping() {
            guard = self
                .inner
                .cond
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        self.inner.run.leave_wait(watched, true);
        drop(guard);
    }

    /// Blocks until the worker is told to stop or `timeout` has passed; returns
    /// whether the worker is stopping. Use it as an interruptible sleep. A timeout
    /// too long for the clock (`Duration::MAX`) waits for the stop alone.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            self.wait_for_stop();
            return true;
        };
        let mut guard = self.lock();
        if self.is_stopping() {
            return true;
        }
        let watched = self.inner.run.enter_wait();
        loop {
            if self.is_stopping() {
                self.inner.run.leave_wait(watched, true);
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                self.inner.run.leave_wait(watched, false);
                return false;
            }
            guard = self
                .inner
                .cond
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// A future that completes once the worker is told to stop: the awaitable
    /// form of [`wait_for_stop`](Context::wait_for_stop), for any executor (it
    /// needs nothing but the waker it is polled with). Each call gives an
    /// independent future; one made after the stop is ready at once.
    ///
    /// ```
    /// use std::future::Future;
    ///
    /// use cotyledon::Context;
    ///
    /// /// A server that stops accepting once `shutdown` completes and returns when
    /// /// its open connections are done (axum's
    /// /// `with_graceful_shutdown` and tonic's `serve_with_shutdown` take one).
    /// async fn serve(shutdown: impl Future<Output = ()>) {
    ///     shutdown.await;
    /// }
    ///
    /// async fn run(ctx: Context) {
    ///     serve(ctx.stopped()).await;
    ///     log::info!("worker {} drained", ctx.worker_id());
    /// }
    /// # let _ = run;
    /// ```
    pub fn stopped(&self) -> Stopped {
        Stopped::new(self.clone())
    }

    /// A [`CancellationToken`](tokio_util::sync::CancellationToken) cancelled when
    /// the worker is told to stop, at the same moment as [`stopped`](Context::stopped)
    /// completes (the worker's main thread cancels it as it handles SIGTERM). Each
    /// call gives a child of one token per worker: cancelling the returned token
    /// yourself cancels only it (and its own children), never the worker's stop.
    /// A token asked for after the stop is already cancelled. With the `tokio`
    /// feature.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use cotyledon::Context;
    ///
    /// async fn tick(ctx: Context) {
    ///     let token = ctx.cancellation_token();
    ///     let mut every = tokio::time::interval(Duration::from_secs(1));
    ///     loop {
    ///         tokio::select! {
    ///             _ = token.cancelled() => break,
    ///             _ = every.tick() => log::info!("worker {} ticks", ctx.worker_id()),
    ///         }
    ///     }
    /// }
    /// # let _ = tick;
    /// ```
    #[cfg(feature = "tokio")]
    pub fn cancellation_token(&self) -> tokio_util::sync::CancellationToken {
        let (root, stopping) = {
            let mut waiters = self.lock();
            let root = waiters.token.get_or_insert_with(Default::default).clone();
            // Read under the lock: if the stop came before, it may not have seen
            // this token, so cancel it here; if it comes after, it will.
            (root, self.is_stopping())
        };
        if stopping {
            root.cancel();
        }
        root.child_token()
    }

    /// Polls the stop for a [`Stopped`] future that owns `slot` of the waker table.
    pub(crate) fn poll_stop(&self, slot: &mut Option<usize>, waker: &Waker) -> Poll<()> {
        if self.is_stopping() {
            return Poll::Ready(());
        }
        let mut waiters = self.lock();
        // Checked again under the lock: `stop` sets the flag and takes the wakers
        // under it, so a waker stored while the flag is still clear is woken.
        if self.is_stopping() {
            return Poll::Ready(());
        }
        waiters.wakers.register(slot, waker);
        Poll::Pending
    }

    /// Frees the waker slot of a dropped [`Stopped`] future.
    pub(crate) fn forget_waker(&self, slot: usize) {
        let mut waiters = self.lock();
        // After the stop the table was emptied and no slot is handed out again.
        if !self.is_stopping() {
            waiters.wakers.remove(slot);
        }
    }

    /// Marks the worker as stopping and wakes every waiter: blocked threads,
    /// pending [`Stopped`] futures and cancellation tokens. The lock is held only
    /// to set the flag and take the wakers; every wake-up happens after it is
    /// released, so woken waiters do not queue on it. Returns whether the run
    /// thread was waiting on the context (it wakes up and may take `terminate()`).
    pub(crate) fn stop(&self) -> bool {
        let (to_wake, run_waiting) = {
            let mut waiters = self.lock();
            self.inner.stopping.store(true, Ordering::Release);
            (waiters.take_for_stop(), self.inner.run.is_waiting())
        };
        self.inner.cond.notify_all();
        to_wake.wake();
        run_waiting
    }

    /// Where the worker's run thread is, and who calls `terminate()`.
    pub(crate) fn run_watch(&self) -> &RunWatch {
        &self.inner.run
    }

    /// How many [`Stopped`] futures have a waker stored.
    #[cfg(test)]
    pub(crate) fn waker_count(&self) -> usize {
        self.lock().wakers.len()
    }

    /// How many slots the waker table has (used or free).
    #[cfg(test)]
    pub(crate) fn waker_slots(&self) -> usize {
        self.lock().wakers.capacity()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.inner
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_wakes_waiters() {
        let ctx = Context::new("t", WorkerId::new(3));
        assert_eq!(ctx.worker_id().get(), 3);
        assert!(!ctx.wait_timeout(Duration::from_millis(5)));
        let other = ctx.clone();
        let t = std::thread::spawn(move || other.wait_for_stop());
        ctx.stop();
        t.join().expect("waiter thread");
        assert!(ctx.is_stopping());
        assert!(ctx.wait_timeout(Duration::from_secs(10)));
    }

    #[test]
    fn a_timeout_of_duration_max_waits_for_the_stop() {
        let ctx = Context::new("t", WorkerId::new(0));
        let other = ctx.clone();
        let t = std::thread::spawn(move || other.wait_timeout(Duration::MAX));
        ctx.stop();
        assert!(t.join().expect("no overflow panic"));
        assert!(ctx.wait_timeout(Duration::MAX));
    }
}
