//! The drain's listener, which stops accepting at the stop, and its connections,
//! counted until they are dropped ([`DrainListener`], [`DrainIo`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Drain, Shared};
use crate::stopped::Stopped;

/// A tokio listener a [`DrainListener`] can wrap: [`tokio::net::TcpListener`] and
/// [`tokio::net::UnixListener`]. Sealed.
pub trait TokioAccept: sealed::Sealed {
    /// A connection.
    type Stream;
    /// The peer's address.
    type Addr;
    /// tokio's `poll_accept`.
    #[doc(hidden)]
    fn poll_accept(&self, cx: &mut TaskContext<'_>)
    -> Poll<io::Result<(Self::Stream, Self::Addr)>>;
    /// tokio's `local_addr`.
    #[doc(hidden)]
    fn local_addr(&self) -> io::Result<Self::Addr>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for tokio::net::TcpListener {}
    impl Sealed for tokio::net::UnixListener {}
}

impl TokioAccept for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;
    fn poll_accept(
        &self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<io::Result<(Self::Stream, Self::Addr)>> {
        tokio::net::TcpListener::poll_accept(self, cx)
    }
    fn local_addr(&self) -> io::Result<Self::Addr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

impl TokioAccept for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;
    fn poll_accept(
        &self,
        cx: &mut TaskContext<'_>,
    ) -> Poll<io::Result<(Self::Stream, Self::Addr)>> {
        tokio::net::UnixListener::poll_accept(self, cx)
    }
    fn local_addr(&self) -> io::Result<Self::Addr> {
        tokio::net::UnixListener::local_addr(self)
    }
}

/// A listener that stops accepting when the worker is told to stop, made by
/// [`Drain::listener`]. Feature `drain`; with `axum`, an `axum::serve::Listener`
/// (accept errors other than a connection reset before it was accepted are
/// logged at WARN and retried after 100 ms, as axum's own listener does).
#[derive(Debug)]
pub struct DrainListener<L> {
    drain: Drain,
    /// `None` from the stop on: this worker's fd is closed.
    inner: Option<L>,
    stopped: Stopped,
}

impl<L: TokioAccept> DrainListener<L> {
    pub(super) fn new(drain: Drain, listener: L) -> Self {
        let stopped = drain.ctx.stopped();
        DrainListener {
            drain,
            inner: Some(listener),
            stopped,
        }
    }

    /// The next connection, counted by the drain until it is dropped; `None` once
    /// the worker is stopping (the listener's fd is then closed, and every later
    /// call returns `None` at once).
    ///
    /// ```
    /// # async fn serve(ctx: cotyledon::Context) -> Result<(), cotyledon::BoxError> {
    /// let drain = ctx.drain();
    /// let mut listener = drain.listener(ctx.tokio_tcp_listener("http")?);
    /// while let Some(accepted) = listener.accept().await {
    ///     let (stream, _peer) = accepted?;
    ///     // serve `stream` in a task of its own
    /// #   drop(stream);
    /// }
    /// drain.drained().await;
    /// # Ok(())
    /// # }
    /// # let _ = serve;
    /// ```
    ///
    /// # Errors
    ///
    /// The accept's own error (out of fds, a connection reset before it was
    /// accepted); the listener stays usable.
    pub async fn accept(&mut self) -> Option<io::Result<(DrainIo<L::Stream>, L::Addr)>> {
        let accepted = {
            let inner = self.inner.as_ref()?;
            let stopped = &mut self.stopped;
            std::future::poll_fn(|cx| {
                if Pin::new(&mut *stopped).poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                inner.poll_accept(cx).map(Some)
            })
            .await
        };
        match accepted {
            None => {
                self.inner = None;
                None
            }
            Some(result) => Some(result.map(|(io, addr)| (self.drain.track(io), addr))),
        }
    }

    /// The listener's address, as tokio's `local_addr`.
    ///
    /// # Errors
    ///
    /// The system's, or [`io::ErrorKind::NotConnected`] once the listener is
    /// closed at the stop.
    pub fn local_addr(&self) -> io::Result<L::Addr> {
        match &self.inner {
            Some(inner) => inner.local_addr(),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the listener was closed at the stop",
            )),
        }
    }
}

#[cfg(feature = "axum")]
impl<L> axum::serve::Listener for DrainListener<L>
where
    L: TokioAccept + Send + Sync + 'static,
    L::Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    L::Addr: Send,
{
    type Io = DrainIo<L::Stream>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match DrainListener::accept(self).await {
                Some(Ok(accepted)) => return accepted,
                Some(Err(e)) => accept_failed(e).await,
                // axum's accept loop also waits for the shutdown future: until
                // it completes, nothing more is accepted.
                None => std::future::pending().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        DrainListener::local_addr(self)
    }
}

/// An accept error other than a connection gone before it was accepted (out of
/// fds or memory): logged, and the queue is left to the other workers a moment.
#[cfg(feature = "axum")]
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if !matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        log::warn!(target: "cotyledon::worker", "accept failed: {e}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A connection of a [`Drain`]: the I/O object `T`, counted as open until it is
/// dropped (the server drops it once the connection is closed). Feature `drain`.
///
/// Its `poll_shutdown` (called by hyper when it closes a connection, e.g. after
/// a `Connection: close` response) shuts the write side down, then reads and
/// drops what the client still sends until the client closes, for at most
/// [`Drain::LINGER`](crate::Drain::LINGER) and [`Drain::LINGER_BYTES`](crate::Drain::LINGER_BYTES): closing a socket with unread bytes sends a
/// reset, which can destroy the last response before the client reads it (a
/// client that pipelined, or kept sending on a draining connection).
#[derive(Debug)]
pub struct DrainIo<T> {
    io: T,
    _open: Open,
    /// Set once the write side is shut down.
    linger: Option<Linger>,
}

/// How long [`DrainIo`] waits, after shutting its write side down, for the
/// client to close.
pub(crate) const DRAIN_LINGER: Duration = Duration::from_secs(1);
/// How many bytes [`DrainIo`] reads and drops meanwhile, at most.
pub(crate) const DRAIN_LINGER_BYTES: usize = 64 * 1024;

/// The end of a [`DrainIo`]'s linger.
#[derive(Debug)]
struct Linger {
    until: Pin<Box<tokio::time::Sleep>>,
    left: usize,
}

/// One open connection of a drain, counted until dropped.
#[derive(Debug)]
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.closed();
    }
}

impl<T> DrainIo<T> {
    pub(super) fn new(io: T, shared: Arc<Shared>) -> Self {
        shared.opened();
        DrainIo {
            io,
            _open: Open(shared),
            linger: None,
        }
    }

    /// The I/O object (e.g. for `peer_addr` or `set_nodelay` on a `TcpStream`).
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// The I/O object, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DrainIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for DrainIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let linger = match &mut this.linger {
            Some(linger) => linger,
            None => {
                ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
                this.linger.insert(Linger {
                    until: Box::pin(tokio::time::sleep(DRAIN_LINGER)),
                    left: DRAIN_LINGER_BYTES,
                })
            }
        };
        let mut sink = [0u8; 4096];
        while linger.left > 0 {
            let mut buf = ReadBuf::new(&mut sink);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    linger.left = linger.left.saturating_sub(buf.filled().len());
                }
                // The client closed (or reset): done.
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => return linger.until.as_mut().poll(cx).map(Ok),
            }
        }
        Poll::Ready(Ok(()))
    }
}
