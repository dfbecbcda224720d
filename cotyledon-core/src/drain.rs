//! The zero-error drain of an HTTP/1 server on tokio (feature `drain`; `axum`
//! adds axum's listener trait): [`Context::drain`] and the pieces it hands out,
//! [`DrainListener`], [`DrainIo`], [`DrainLayer`] and [`Drain::drained`].
//!
//! Why it is needed: on graceful shutdown, hyper (and so axum, hyper-util's
//! `GracefulShutdown` and tonic over HTTP/1) closes every idle keep-alive
//! connection at once. A client may be sending its next request on it at that
//! moment; it then reads a closed connection, a failed request it cannot tell
//! from a crash. The drain avoids the race: at the stop the worker stops
//! accepting, answers the next request of each kept-alive connection with
//! `Connection: close` (the client reads it, and opens its next connection to
//! another worker), and only then, once every connection is closed or a bounded
//! grace has passed, tells the server to shut down, which closes what is left:
//! connections idle for the whole grace.

mod layer;
mod listener;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::context::Context;

pub use layer::{DrainFuture, DrainLayer, DrainService};
pub(crate) use listener::{DRAIN_LINGER, DRAIN_LINGER_BYTES};
pub use listener::{DrainIo, DrainListener, TokioAccept};

/// The grace of [`Context::drain`]: how long a draining worker waits for the next
/// request of an idle keep-alive connection before it closes it.
pub(crate) const DEFAULT_DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The drain of one worker's HTTP/1 server: made by [`Context::drain`], it hands
/// out the listener, the layer and the shutdown future, which share its count of
/// open connections. Cheap to clone (all clones are one drain). Feature `drain`.
///
/// With axum (feature `axum`), three lines of a server become:
///
/// ```no_run
/// # #[cfg(feature = "axum")]
/// # async fn serve(ctx: cotyledon::Context) -> Result<(), cotyledon::BoxError> {
/// # let app = axum::Router::new();
/// let drain = ctx.drain();
/// let listener = drain.listener(ctx.tokio_tcp_listener("http")?);
/// ctx.ready();
/// axum::serve(listener, app.layer(drain.layer()))
///     .with_graceful_shutdown(drain.drained())
///     .await?;
/// # Ok(())
/// # }
/// # #[cfg(feature = "axum")]
/// # let _ = serve;
/// ```
///
/// With hyper-util's `GracefulShutdown`, accept with
/// [`DrainListener::accept`] (it returns `None` at the stop), serve each
/// connection's service wrapped in [`layer`](Drain::layer) and watched by
/// `GracefulShutdown`, then `drain.drained().await` before
/// `graceful.shutdown().await`. HTTP/2 connections (tonic's gRPC) need none
/// of it: hyper's graceful shutdown sends them a GOAWAY, which a client
/// handles without losing a request; the layer leaves them untouched.
#[derive(Clone, Debug)]
pub struct Drain {
    ctx: Context,
    shared: Arc<Shared>,
    grace: Duration,
}

/// What the connections of a drain share.
#[derive(Debug, Default)]
struct Shared {
    /// Connections accepted through the drain and not yet dropped.
    open: AtomicUsize,
    /// Woken when the last one is dropped.
    closed: Notify,
}

impl Context {
    /// The drain of an HTTP/1 server in this worker, with a grace of
    /// [`Drain::DEFAULT_GRACE`] (see [`Drain::with_grace`]). Make one per server
    /// and take its listener, layer and shutdown future from it. Feature `drain`.
    ///
    /// ```
    /// # fn f(ctx: cotyledon::Context) {
    /// let drain = ctx.drain();
    /// assert_eq!(drain.open_connections(), 0);
    /// # }
    /// # let _ = f;
    /// ```
    pub fn drain(&self) -> Drain {
        Drain {
            ctx: self.clone(),
            shared: Arc::default(),
            grace: DEFAULT_DRAIN_GRACE,
        }
    }
}

impl Drain {
    /// The default grace of [`Context::drain`](crate::Context::drain): how long
    /// a draining worker waits for the next request of an idle keep-alive
    /// connection before it closes it (1 s).
    pub const DEFAULT_GRACE: Duration = DEFAULT_DRAIN_GRACE;
    /// How long a [`DrainIo`] waits, after shutting its write side down, for the
    /// client to close (1 s).
    pub const LINGER: Duration = DRAIN_LINGER;
    /// How many bytes a [`DrainIo`] reads and drops meanwhile, at most (64 KiB).
    pub const LINGER_BYTES: usize = DRAIN_LINGER_BYTES;

    /// The same drain, waiting at most `grace` after the stop for the next request
    /// of idle keep-alive connections. A client that sends one within the grace
    /// gets its answer (with `Connection: close`); one that stays idle longer is
    /// closed when the grace ends, so the grace is how long a drain of idle
    /// connections takes. Under steady traffic every connection gets its next
    /// request and closes long before. The service's graceful shutdown timeout
    /// still bounds the whole drain, requests in flight included.
    ///
    /// ```
    /// # fn f(ctx: cotyledon::Context) {
    /// let drain = ctx.drain().with_grace(std::time::Duration::from_millis(300));
    /// # drop(drain);
    /// # }
    /// # let _ = f;
    /// ```
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Drain {
        self.grace = grace;
        self
    }

    /// `listener` (a tokio [`TcpListener`](tokio::net::TcpListener) or
    /// [`UnixListener`](tokio::net::UnixListener), e.g. from
    /// [`Context::tokio_tcp_listener`]) that stops accepting at the stop, closing
    /// this worker's fd of the socket (the other workers and the master keep it),
    /// and counts the connections it accepted until each is dropped. With the
    /// `axum` feature it is an `axum::serve::Listener`.
    pub fn listener<L: TokioAccept>(&self, listener: L) -> DrainListener<L> {
        DrainListener::new(self.clone(), listener)
    }

    /// `io`, counted as one of this drain's connections until it is dropped: for a
    /// server that accepts on its own rather than through
    /// [`listener`](Drain::listener).
    pub fn track<T>(&self, io: T) -> DrainIo<T> {
        DrainIo::new(io, self.shared.clone())
    }

    /// A tower layer whose service adds `Connection: close` to every HTTP/1
    /// response written once the worker is stopping: hyper then closes the
    /// connection after the response, and the client opens its next one
    /// elsewhere. For axum: `app.layer(drain.layer())`.
    pub fn layer(&self) -> DrainLayer {
        DrainLayer::new(self.ctx.clone())
    }

    /// The shutdown future to hand to the server (axum's `with_graceful_shutdown`;
    /// or await it before hyper-util's `GracefulShutdown::shutdown`). It
    /// completes once the worker is stopping and then either every connection
    /// of this drain is closed, or the grace has passed since the stop (the
    /// server then closes the idle connections left, and lets requests in
    /// flight finish). No fixed sleep: under load it completes as soon as each
    /// connection has had its last response.
    pub fn drained(&self) -> impl Future<Output = ()> + Send + 'static {
        let (stopped, shared, grace) = (self.ctx.stopped(), self.shared.clone(), self.grace);
        async move {
            stopped.await;
            let deadline = tokio::time::Instant::now() + grace;
            loop {
                let closed = shared.closed.notified();
                let mut closed = std::pin::pin!(closed);
                // Registered before the count is read: a close after the read wakes it.
                closed.as_mut().enable();
                if shared.open.load(Ordering::Acquire) == 0 {
                    return;
                }
                if tokio::time::timeout_at(deadline, closed).await.is_err() {
                    return;
                }
            }
        }
    }

    /// The connections accepted through this drain and still open.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Acquire)
    }
}

impl Shared {
    fn opened(&self) {
        self.open.fetch_add(1, Ordering::AcqRel);
    }

    fn closed(&self) {
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.closed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests;
