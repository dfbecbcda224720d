//! The stop as something to await: [`Context::stopped`] (any executor) and, with
//! the `tokio` feature, [`Context::cancellation_token`]; plus the waker table
//! bookkeeping of the [`Stopped`] futures.

use std::task::{Poll, Waker};

use super::Context;
use crate::stopped::Stopped;

impl Context {
    /// A future that completes once the worker is told to stop: the awaitable
    /// form of [`wait_for_stop`](Context::wait_for_stop), for any executor (it
    /// needs nothing but the waker it is polled with). Each call gives an
    /// independent future; one made after the stop is ready at once.
    ///
    /// For an HTTP/1 server (hyper, hyper-util, axum) do not hand it to the
    /// server's graceful shutdown directly: on that signal hyper closes every
    /// idle keep-alive connection at once, and a client sending its next request
    /// on one sees a failed request. Hand it [`ctx.drain()`](Context::drain)'s
    /// `drained()` instead (feature `drain`, or `axum`), with the drain's
    /// listener and layer: zero failed requests through reloads and stops.
    ///
    /// ```
    /// use std::future::Future;
    ///
    /// use cotyledon::Context;
    ///
    /// /// A server that stops accepting once `shutdown` completes and returns when
    /// /// its open connections are done (tonic's `serve_with_shutdown` takes one;
    /// /// for HTTP/1 servers see `Context::drain`).
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
        self.token().cancellation_token()
    }

    /// Polls the stop for a [`Stopped`] future that owns `slot` of the waker table.
    pub(crate) fn poll_stop(&self, slot: &mut Option<usize>, waker: &Waker) -> Poll<()> {
        self.token().poll_stop(slot, waker)
    }

    /// Frees the waker slot of a dropped [`Stopped`] future.
    pub(crate) fn forget_waker(&self, slot: usize) {
        self.token().forget_waker(slot);
    }

    /// How many [`Stopped`] futures have a waker stored.
    #[cfg(test)]
    pub(crate) fn waker_count(&self) -> usize {
        self.token().waker_count()
    }

    /// How many slots the waker table has (used or free).
    #[cfg(test)]
    pub(crate) fn waker_slots(&self) -> usize {
        self.token().waker_slots()
    }
}
