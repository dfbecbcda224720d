//! The listeners as workers see them: [`Context::tcp_listener`] and
//! [`Context::unix_listener`].

use std::net::TcpListener;
use std::os::unix::net::UnixListener;

use crate::context::Context;
use crate::error::Error;

impl Context {
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
}
