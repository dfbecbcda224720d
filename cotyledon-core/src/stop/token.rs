//! The stop token behind every [`Context`](crate::Context): a flag, a condvar
//! for blocked waiters, the wakers of pending [`Stopped`](crate::Stopped)
//! futures, the cancellation token handed to tokio code, and the watch on the
//! run thread. The flag is set only under the lock, so a waiter that saw it
//! clear under the lock is either already waiting (condvar) or registered
//! (wakers) when the stop comes, and every wake-up happens after the lock is
//! released, so woken waiters do not queue on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::{RunWatch, Wakers};

/// One worker's stop.
#[derive(Debug, Default)]
pub(crate) struct StopToken {
    stopping: AtomicBool,
    lock: Mutex<Waiters>,
    cond: Condvar,
    /// Where the worker's run thread is, and who calls `terminate()`.
    run: RunWatch,
}

/// What [`StopToken::stop`] wakes besides the condvar.
#[derive(Debug, Default)]
struct Waiters {
    /// The wakers of pending `Stopped` futures.
    wakers: Wakers,
    /// The parent of every token `cancellation_token()` hands out, once asked for.
    #[cfg(feature = "tokio")]
    token: Option<tokio_util::sync::CancellationToken>,
}

/// What the stop wakes once it has released the lock.
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

impl StopToken {
    /// Whether the stop came.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Blocks until the stop.
    pub(crate) fn wait_for_stop(&self) {
        let mut guard = self.lock();
        if self.is_stopping() {
            return;
        }
        let watched = self.run.enter_wait();
        while !self.is_stopping() {
            guard = self
                .cond
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.run.leave_wait(watched, true);
        drop(guard);
    }

    /// Blocks until the stop or `timeout`; whether the stop came. A timeout too
    /// long for the clock waits for the stop alone.
    pub(crate) fn wait_timeout(&self, timeout: Duration) -> bool {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            self.wait_for_stop();
            return true;
        };
        let mut guard = self.lock();
        if self.is_stopping() {
            return true;
        }
        let watched = self.run.enter_wait();
        loop {
            if self.is_stopping() {
                self.run.leave_wait(watched, true);
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                self.run.leave_wait(watched, false);
                return false;
            }
            guard = self
                .cond
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The stop: sets the flag and wakes every waiter (blocked threads, pending
    /// futures, cancellation tokens). Returns whether the run thread was waiting
    /// on the token (it wakes up and may take `terminate()`).
    pub(crate) fn stop(&self) -> bool {
        let (to_wake, run_waiting) = {
            let mut waiters = self.lock();
            self.stopping.store(true, Ordering::Release);
            let to_wake = ToWake {
                wakers: waiters.wakers.take_all(),
                #[cfg(feature = "tokio")]
                token: waiters.token.clone(),
            };
            (to_wake, self.run.is_waiting())
        };
        self.cond.notify_all();
        to_wake.wake();
        run_waiting
    }

    /// Where the worker's run thread is, and who calls `terminate()`.
    pub(crate) fn run_watch(&self) -> &RunWatch {
        &self.run
    }

    /// A child of the token's `CancellationToken`, cancelled at the stop (at
    /// once if the stop came already).
    #[cfg(feature = "tokio")]
    pub(crate) fn cancellation_token(&self) -> tokio_util::sync::CancellationToken {
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

    /// Polls the stop for a future that owns `slot` of the waker table.
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

    /// Frees the waker slot of a dropped future.
    pub(crate) fn forget_waker(&self, slot: usize) {
        let mut waiters = self.lock();
        // After the stop the table was emptied and no slot is handed out again.
        if !self.is_stopping() {
            waiters.wakers.remove(slot);
        }
    }

    /// How many futures have a waker stored.
    #[cfg(test)]
    pub(crate) fn waker_count(&self) -> usize {
        self.lock().wakers.len()
    }

    /// How many slots the waker table has (used or free).
    #[cfg(test)]
    pub(crate) fn waker_slots(&self) -> usize {
        self.lock().wakers.capacity()
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
