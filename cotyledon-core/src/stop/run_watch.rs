//! Where the worker's run thread is, as the waits of its `Context` see it, and
//! who calls `terminate()` (see `worker/terminate.rs` for why): one
//! compare-and-swap decides it.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use crate::sys;

/// How long `run()` may take, once woken by the stop from a wait on its
/// `Context`, to return and leave `terminate()` to its thread.
pub(crate) const HANDOFF: Duration = Duration::from_millis(50);

thread_local! {
    /// Whether this thread is the worker's run thread.
    static RUN_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as the worker's run thread (once, as it starts).
pub(crate) fn mark_run_thread() {
    RUN_THREAD.set(true);
}

/// Nobody was offered `terminate()` yet.
const NOT_YET: u8 = 0;
/// The stop came: the run thread calls `terminate()` if it comes first.
const OFFERED: u8 = 1;
/// A thread calls `terminate()`.
const TAKEN: u8 = 2;

/// Where the worker's run thread is, as the waits of its `Context` see it, and
/// who calls `terminate()`. One per `Context`; only the run thread updates it.
#[derive(Debug)]
pub(crate) struct RunWatch {
    /// The run thread is in a wait of the `Context` (set and cleared under the
    /// `Context`'s lock, so that the stop reads it consistently).
    waiting: AtomicBool,
    /// When the run thread got back from a wait that the stop ended
    /// (`CLOCK_MONOTONIC` ns; 0 = not yet).
    woke_at: AtomicU64,
    /// `NOT_YET`, `OFFERED` or `TAKEN`.
    claim: AtomicU8,
    /// `run()` returned `Ok`: its thread is in our own code, on its way to
    /// take `terminate()` at the stop, so the main thread never takes it back.
    returned: AtomicBool,
}

impl Default for RunWatch {
    fn default() -> Self {
        RunWatch {
            waiting: AtomicBool::new(false),
            woke_at: AtomicU64::new(0),
            claim: AtomicU8::new(NOT_YET),
            returned: AtomicBool::new(false),
        }
    }
}

/// What the main thread does about `terminate()` after the stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A thread calls it already: nothing.
    Done,
    /// Look again in this long: the run thread may still come.
    Recheck(Duration),
    /// Take it back and call it on a thread of its own.
    TakeBack,
}

impl RunWatch {
    /// A wait of the `Context` begins (called under its lock); whether it is watched
    /// (made by the run thread).
    pub(crate) fn enter_wait(&self) -> bool {
        let run = RUN_THREAD.get();
        if run {
            self.waiting.store(true, Ordering::Relaxed);
        }
        run
    }

    /// A watched wait ends (called under the `Context`'s lock); `stopped`: because
    /// of the stop.
    pub(crate) fn leave_wait(&self, watched: bool, stopped: bool) {
        if !watched {
            return;
        }
        if stopped && self.woke_at.load(Ordering::Relaxed) == 0 {
            self.woke_at
                .store(sys::timer::monotonic_ns().max(1), Ordering::Relaxed);
        }
        self.waiting.store(false, Ordering::Relaxed);
    }

    /// Whether the run thread is in a wait of the `Context` (read under its lock).
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }

    /// `run()` returned `Ok` (on the run thread, before it waits for the stop).
    pub(crate) fn mark_returned(&self) {
        self.returned.store(true, Ordering::SeqCst);
    }

    /// Whether `run()` returned `Ok`: its thread takes `terminate()` itself.
    pub(crate) fn returned(&self) -> bool {
        self.returned.load(Ordering::SeqCst)
    }

    /// The stop offers `terminate()` to the run thread (before it wakes it).
    pub(crate) fn offer(&self) {
        self.claim.store(OFFERED, Ordering::SeqCst);
    }

    /// Takes `terminate()` if it is offered and nobody has taken it; whether the
    /// caller is to call it.
    pub(crate) fn take(&self) -> bool {
        self.claim
            .compare_exchange(OFFERED, TAKEN, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The main thread's next step, `now_ns` on `CLOCK_MONOTONIC`.
    pub(crate) fn next(&self, now_ns: u64) -> Next {
        decide(
            self.claim.load(Ordering::SeqCst),
            self.woke_at.load(Ordering::Relaxed),
            now_ns,
        )
    }
}

/// The main thread's next step after a stop that found the run thread waiting:
/// the run thread has [`HANDOFF`] from the moment it woke up; before it woke up
/// (it waits for a CPU), the main thread only looks again later.
fn decide(claim: u8, woke_at: u64, now_ns: u64) -> Next {
    if claim != OFFERED {
        return Next::Done;
    }
    if woke_at == 0 {
        return Next::Recheck(HANDOFF);
    }
    let handoff = u64::try_from(HANDOFF.as_nanos()).unwrap_or(u64::MAX);
    let until = woke_at.saturating_add(handoff);
    if now_ns < until {
        Next::Recheck(Duration::from_nanos(until - now_ns))
    } else {
        Next::TakeBack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_run_thread_gets_the_handoff_from_when_it_woke_up() {
        // Not woken yet (no CPU): look again later, never take it back.
        assert_eq!(decide(OFFERED, 0, 5 * MS), Next::Recheck(HANDOFF));
        // Woken 5 ms ago: the rest of the handoff.
        assert_eq!(
            decide(OFFERED, 100 * MS, 105 * MS),
            Next::Recheck(HANDOFF - Duration::from_millis(5))
        );
        // Woken a handoff ago without returning: a thread of its own.
        assert_eq!(decide(OFFERED, 100 * MS, 150 * MS), Next::TakeBack);
        // Taken (by the run thread, or already taken back): nothing to do.
        assert_eq!(decide(TAKEN, 100 * MS, 500 * MS), Next::Done);
        assert_eq!(decide(NOT_YET, 0, 500 * MS), Next::Done);
    }

    #[test]
    fn only_one_taker() {
        let watch = RunWatch::default();
        assert!(!watch.take(), "nothing offered before the stop");
        watch.offer();
        assert!(watch.take());
        assert!(!watch.take());
        assert_eq!(watch.next(0), Next::Done);
    }

    #[test]
    fn only_the_run_thread_is_watched() {
        let watch = RunWatch::default();
        assert!(!watch.enter_wait());
        assert!(!watch.is_waiting());
        std::thread::scope(|s| {
            s.spawn(|| {
                mark_run_thread();
                assert!(watch.enter_wait());
                assert!(watch.is_waiting());
                watch.leave_wait(true, true);
            });
        });
        assert!(!watch.is_waiting());
        watch.offer();
        assert!(
            matches!(watch.next(sys::timer::monotonic_ns()), Next::Recheck(d) if d <= HANDOFF),
            "woke_at is recorded"
        );
    }
}
