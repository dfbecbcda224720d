//! The listeners as workers see them: [`Context::tcp_listener`] and
//! [`Context::unix_listener`], and with the `tokio` feature their tokio forms,
//! [`Context::tokio_tcp_listener`] and [`Context::tokio_unix_listener`].

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

    /// [`tcp_listener`](Context::tcp_listener) as a tokio
    /// [`TcpListener`](tokio::net::TcpListener), registered with the current
    /// runtime: the socket is made non-blocking (for every worker of this
    /// listener, which is what each of them needs; see `tcp_listener`), then
    /// handed to tokio. Call it inside the worker's runtime (in
    /// [`AsyncService::run`](crate::AsyncService::run)). With the `tokio` feature.
    ///
    /// ```
    /// # async fn f(ctx: cotyledon::Context) -> Result<(), cotyledon::BoxError> {
    /// let listener = ctx.tokio_tcp_listener("http")?;
    /// let (stream, peer) = listener.accept().await?;
    /// # drop((stream, peer));
    /// # Ok(())
    /// # }
    /// # let _ = f;
    /// ```
    ///
    /// # Errors
    ///
    /// As [`tcp_listener`](Context::tcp_listener), and [`Error::Listen`] if the
    /// socket cannot be made non-blocking or registered, or if there is no tokio
    /// runtime in this thread (its source then says so).
    ///
    /// # Panics
    ///
    /// As tokio's `from_std`, if the current runtime was built without I/O
    /// (`enable_io`; [`Tokio::new`](crate::Tokio::new)'s has it).
    #[cfg(feature = "tokio")]
    pub fn tokio_tcp_listener(&self, name: &str) -> Result<tokio::net::TcpListener, Error> {
        let listener = self.tcp_listener(name)?;
        to_tokio(name, listener, tokio::net::TcpListener::from_std)
    }

    /// [`unix_listener`](Context::unix_listener) as a tokio
    /// [`UnixListener`](tokio::net::UnixListener); as
    /// [`tokio_tcp_listener`](Context::tokio_tcp_listener). With the `tokio`
    /// feature.
    ///
    /// # Errors
    ///
    /// As [`unix_listener`](Context::unix_listener), and [`Error::Listen`] if the
    /// socket cannot be made non-blocking or registered, or if there is no tokio
    /// runtime in this thread.
    ///
    /// # Panics
    ///
    /// As tokio's `from_std`, if the current runtime was built without I/O.
    #[cfg(feature = "tokio")]
    pub fn tokio_unix_listener(&self, name: &str) -> Result<tokio::net::UnixListener, Error> {
        let listener = self.unix_listener(name)?;
        to_tokio(name, listener, tokio::net::UnixListener::from_std)
    }
}

/// A std listener made non-blocking and handed to tokio with `from_std`.
#[cfg(feature = "tokio")]
fn to_tokio<S, T>(
    name: &str,
    listener: S,
    from_std: impl FnOnce(S) -> std::io::Result<T>,
) -> Result<T, Error>
where
    S: NonBlocking + std::os::fd::AsRawFd,
{
    let address = match nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(
        listener.as_raw_fd(),
    ) {
        Ok(addr) => addr.to_string(),
        Err(e) => format!("unknown address ({e})"),
    };
    let failed = |source| Error::Listen {
        name: name.to_owned(),
        address: address.clone(),
        source,
    };
    if tokio::runtime::Handle::try_current().is_err() {
        let outside = "a tokio listener must be made inside a tokio runtime";
        return Err(failed(std::io::Error::other(outside)));
    }
    listener.set_nonblocking().map_err(failed)?;
    from_std(listener).map_err(failed)
}

/// `set_nonblocking(true)` of both std listeners.
#[cfg(feature = "tokio")]
trait NonBlocking {
    fn set_nonblocking(&self) -> std::io::Result<()>;
}

#[cfg(feature = "tokio")]
impl NonBlocking for TcpListener {
    fn set_nonblocking(&self) -> std::io::Result<()> {
        TcpListener::set_nonblocking(self, true)
    }
}

#[cfg(feature = "tokio")]
impl NonBlocking for UnixListener {
    fn set_nonblocking(&self) -> std::io::Result<()> {
        UnixListener::set_nonblocking(self, true)
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use std::net::Ipv4Addr;

    use crate::listen::{Listen, listen};
    use crate::{Context, Error, WorkerId};

    #[test]
    fn tokio_listeners_come_from_the_named_socket_inside_a_runtime_only() {
        listen("unit-tokio", Listen::tcp((Ipv4Addr::LOCALHOST, 0))).expect("bind");
        let ctx = Context::new("t", WorkerId::new(0));
        // Outside a runtime: a typed error, not tokio's panic.
        match ctx.tokio_tcp_listener("unit-tokio") {
            Err(Error::Listen { name, source, .. }) => {
                assert_eq!(name, "unit-tokio");
                assert!(
                    source.to_string().contains("inside a tokio runtime"),
                    "{source}"
                );
            }
            other => panic!("{other:?}"),
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let listener = ctx
                .tokio_tcp_listener("unit-tokio")
                .expect("tokio listener");
            let addr = listener.local_addr().expect("addr");
            let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (server, peer) = listener.accept().await.expect("accept");
            assert_eq!(peer, client.local_addr().expect("client addr"));
            drop(server);
            assert!(matches!(
                ctx.tokio_unix_listener("unit-tokio"),
                Err(Error::ListenerKind { .. })
            ));
            assert!(matches!(
                ctx.tokio_tcp_listener("unit-tokio-nope"),
                Err(Error::UnknownListener(_))
            ));
        });
    }
}
