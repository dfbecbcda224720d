//! [`Stopped`]: the worker's stop as a future any executor can await (std only),
//! and the table of wakers that [`Context::stop`](crate::Context) wakes.
//!
//! Each pending [`Stopped`] owns one slot of the table; it puts its current waker
//! there when polled and frees the slot when dropped, so futures created and
//! dropped in a loop (`select!` on every turn) do not make the table grow.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::context::Context;

/// A future that completes once the worker is told to stop (SIGTERM, the master
/// shutting down or dying, the default `reload()`): the awaitable form of
/// [`Context::wait_for_stop`], returned by [`Context::stopped`].
///
/// It needs no particular executor (it only uses the [`Waker`](std::task::Waker) it is polled
/// with), is `Send`, `Unpin` and `'static`, and may be polled from any thread.
/// Already-stopped contexts give futures that are ready at once. A clone is a new,
/// independent future on the same context.
///
/// Race it against the work of a loop with your executor's `select`, or hand it
/// to an API that takes a shutdown future (axum's `with_graceful_shutdown`,
/// tonic's `serve_with_shutdown`):
///
/// ```
/// use cotyledon::Context;
///
/// /// Any executor: tokio, smol, async-std or a hand-made one.
/// async fn flush_when_stopped(ctx: Context, buffer: &mut Vec<u8>) {
///     let stopped = ctx.stopped(); // 'static: may also be moved into a task
///     stopped.await;
///     buffer.clear();
/// }
/// # let _ = flush_when_stopped;
/// ```
#[must_use = "futures do nothing unless polled or awaited"]
#[derive(Debug)]
pub struct Stopped {
    ctx: Context,
    /// Its slot in the context's waker table, once it has been pending.
    slot: Option<usize>,
}

impl Stopped {
    pub(crate) fn new(ctx: Context) -> Self {
        Stopped { ctx, slot: None }
    }
}

impl Clone for Stopped {
    fn clone(&self) -> Self {
        Stopped::new(self.ctx.clone())
    }
}

impl Future for Stopped {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.ctx.poll_stop(&mut this.slot, cx.waker())
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.ctx.forget_waker(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, mpsc};
    use std::task::{Wake, Waker};
    use std::thread::{self, Thread};
    use std::time::Duration;

    use super::*;
    use crate::WorkerId;

    /// The smallest executor: polls on this thread, parks between polls.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            thread::park();
        }
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn ctx() -> Context {
        Context::new("t", WorkerId::new(0))
    }

    /// Runs `f` on a thread and waits at most 10 s for it (a lost wake-up hangs).
    fn within_deadline(f: impl FnOnce() + Send + 'static) {
        let (done, finished) = mpsc::channel();
        thread::spawn(move || {
            f();
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the future completed: no wake-up was lost");
    }

    #[test]
    fn a_stop_from_another_thread_wakes_the_future() {
        let ctx = ctx();
        let waiter = ctx.clone();
        let (polled, first_poll) = mpsc::channel();
        let t = thread::spawn(move || {
            let mut stopped = std::pin::pin!(waiter.stopped());
            let waker = Waker::noop();
            let pending = stopped
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker));
            assert_eq!(pending, Poll::Pending);
            polled.send(()).expect("main thread waits");
            block_on(stopped);
        });
        first_poll.recv().expect("first poll");
        ctx.stop();
        t.join().expect("the waiter returns once stopped");
        assert_eq!(ctx.waker_count(), 0);
    }

    #[test]
    fn a_future_made_after_the_stop_is_ready_at_once() {
        let ctx = ctx();
        ctx.stop();
        let mut stopped = std::pin::pin!(ctx.stopped());
        let waker = Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert_eq!(stopped.as_mut().poll(&mut cx), Poll::Ready(()));
        // Polled again (a fused use), still ready, and nothing was registered.
        assert_eq!(stopped.as_mut().poll(&mut cx), Poll::Ready(()));
        assert_eq!(ctx.waker_count(), 0);
    }

    #[test]
    fn every_future_and_clone_is_woken_once() {
        let ctx = ctx();
        let counters: Vec<Arc<Counter>> = (0..6).map(|_| Arc::default()).collect();
        let first = ctx.stopped();
        let mut futures = vec![first.clone(), first];
        futures.extend((0..4).map(|_| ctx.stopped()));
        for (future, counter) in futures.iter_mut().zip(&counters) {
            let waker = Waker::from(counter.clone());
            let poll = std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(&waker));
            assert_eq!(poll, Poll::Pending);
        }
        assert_eq!(ctx.waker_count(), 6);
        ctx.stop();
        for counter in &counters {
            assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        }
        for future in &mut futures {
            let waker = Waker::noop();
            let poll = std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(waker));
            assert_eq!(poll, Poll::Ready(()));
        }
    }

    #[test]
    fn only_the_latest_waker_is_woken() {
        let ctx = ctx();
        let (old, new) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
        let mut stopped = ctx.stopped();
        for counter in [&old, &new] {
            let waker = Waker::from(counter.clone());
            let poll =
                std::pin::Pin::new(&mut stopped).poll(&mut std::task::Context::from_waker(&waker));
            assert_eq!(poll, Poll::Pending);
        }
        assert_eq!(
            ctx.waker_count(),
            1,
            "one slot per future, replaced in place"
        );
        ctx.stop();
        assert_eq!(old.0.load(Ordering::SeqCst), 0);
        assert_eq!(new.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropped_futures_free_their_slot() {
        let ctx = ctx();
        let keep = Arc::new(Counter::default());
        let mut kept = ctx.stopped();
        let waker = Waker::from(keep.clone());
        let _ = std::pin::Pin::new(&mut kept).poll(&mut std::task::Context::from_waker(&waker));
        // A select! loop makes and drops one future per turn.
        for _ in 0..1000 {
            let mut turn = ctx.stopped();
            let _ = std::pin::Pin::new(&mut turn)
                .poll(&mut std::task::Context::from_waker(Waker::noop()));
        }
        assert_eq!(ctx.waker_count(), 1);
        assert!(ctx.waker_slots() <= 2, "slots are reused");
        ctx.stop();
        assert_eq!(keep.0.load(Ordering::SeqCst), 1);
        drop(kept); // after the stop: nothing to free, no panic
    }

    #[test]
    fn no_wake_up_is_lost_when_stop_races_the_first_poll() {
        for _ in 0..500 {
            let ctx = ctx();
            let waiter = ctx.clone();
            let (go, ready) = mpsc::channel::<()>();
            let stopper = thread::spawn(move || {
                let _ = ready.recv();
                ctx.stop();
            });
            within_deadline(move || {
                let _ = go.send(());
                block_on(waiter.stopped());
            });
            stopper.join().expect("stopper");
        }
    }

    #[test]
    fn threads_waiting_on_many_futures_all_return() {
        let ctx = ctx();
        let waiters: Vec<_> = (0..8)
            .map(|i| {
                let stopped = if i % 2 == 0 {
                    ctx.stopped()
                } else {
                    ctx.stopped().clone()
                };
                thread::spawn(move || block_on(stopped))
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        ctx.stop();
        within_deadline(move || {
            for waiter in waiters {
                waiter.join().expect("waiter");
            }
        });
    }
}
