//! The [`Context`] handed to [`Service::run`](crate::Service::run): the worker's id
//! and a stop token, so a service needs no hand-made shutdown flag.

use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::service::WorkerId;

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
    lock: Mutex<()>,
    cond: Condvar,
}

impl Context {
    pub(crate) fn new(service_name: &'static str, worker_id: WorkerId) -> Self {
        Context {
            inner: Arc::new(Inner {
                worker_id,
                service_name,
                stopping: AtomicBool::new(false),
                lock: Mutex::new(()),
                cond: Condvar::new(),
            }),
        }
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
        while !self.is_stopping() {
            guard = self
                .inner
                .cond
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
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
        loop {
            if self.is_stopping() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
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

    /// A new [`TcpListener`] on the listening socket `name`, bound by the master
    /// with [`ServiceManager::listen`](crate::ServiceManager::listen) or passed by
    /// systemd. Each call returns a new fd (`F_DUPFD_CLOEXEC`) on the one socket
    /// that every worker shares: the kernel hands each connection to one of the
    /// workers blocked in `accept()`.
    ///
    /// The listener is in **blocking** mode. `O_NONBLOCK` belongs to the socket,
    /// not to the fd: `set_nonblocking(true)` in one worker makes the socket
    /// non-blocking in every worker (and in the master, and in respawned workers),
    /// so all workers of a listener must agree. An async runtime that needs it
    /// non-blocking (tokio's `TcpListener::from_std`) is fine as long as every
    /// worker of that listener does the same.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownListener`] if there is no listener of that name,
    /// [`Error::ListenerKind`] if it is a Unix-domain one, [`Error::Listen`] if
    /// the fd cannot be duplicated (`EMFILE`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use cotyledon::{BoxError, Context, Service};
    ///
    /// #[derive(Service)]
    /// struct Hello;
    ///
    /// impl cotyledon::Service for Hello {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         let listener = ctx.tcp_listener("http")?;
    ///         for stream in listener.incoming() {
    ///             writeln!(stream?, "hello from worker {}", ctx.worker_id())?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Hello;
    /// ```
    pub fn tcp_listener(&self, name: &str) -> Result<TcpListener, Error> {
        crate::listen::tcp_listener(name)
    }

    /// A new [`UnixListener`] on the Unix-domain listening socket `name`; as
    /// [`tcp_listener`](Context::tcp_listener) (blocking mode, shared by every
    /// worker, a new close-on-exec fd each call).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownListener`] if there is no listener of that name,
    /// [`Error::ListenerKind`] if it is a TCP one, [`Error::Listen`] if the fd
    /// cannot be duplicated (`EMFILE`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::Write;
    /// use cotyledon::{BoxError, Context, Service};
    ///
    /// #[derive(Service)]
    /// struct Admin;
    ///
    /// impl cotyledon::Service for Admin {
    ///     fn run(&self, ctx: &Context) -> Result<(), BoxError> {
    ///         for stream in ctx.unix_listener("admin")?.incoming() {
    ///             writeln!(stream?, "worker {} is fine", ctx.worker_id())?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Admin;
    /// ```
    pub fn unix_listener(&self, name: &str) -> Result<UnixListener, Error> {
        crate::listen::unix_listener(name)
    }

    /// Marks the worker as stopping and wakes every waiter.
    pub(crate) fn stop(&self) {
        let _guard = self.lock();
        self.inner.stopping.store(true, Ordering::Release);
        self.inner.cond.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
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
