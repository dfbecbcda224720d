//! Drain bookkeeping of one worker of `http_server`: who is still accepting, how
//! many connections are open, and the wake-up that tells every waiting thread that
//! the worker is draining.
//!
//! The wake-up is a pipe made in the worker: `start()` drops its write end, so its
//! read end polls as "hung up" for ever after. One event, seen by any number of
//! threads, with nothing to reset: the accept loop and each idle connection put
//! the read end in their `poll(2)` set next to their own socket. Never
//! `shutdown()` the listening socket to interrupt `accept`: every worker (and the
//! master) shares it, and shutting it down would stop them all.

use std::io::{PipeReader, PipeWriter};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// One worker's drain state, shared by its accept loop, its connection threads and
/// `terminate()`.
pub(crate) struct Drain {
    draining: AtomicBool,
    state: Mutex<State>,
    idle: Condvar,
    wake_tx: Mutex<Option<PipeWriter>>,
    wake_rx: PipeReader,
    served: AtomicU64,
}

struct State {
    /// The accept loop runs (or has not started yet).
    accepting: bool,
    /// Connections accepted and not yet closed.
    open: usize,
}

impl Drain {
    /// A worker that is not draining, whose accept loop is about to start.
    pub(crate) fn new() -> std::io::Result<Drain> {
        let (wake_rx, wake_tx) = std::io::pipe()?;
        Ok(Drain {
            draining: AtomicBool::new(false),
            state: Mutex::new(State {
                accepting: true,
                open: 0,
            }),
            idle: Condvar::new(),
            wake_tx: Mutex::new(Some(wake_tx)),
            wake_rx,
            served: AtomicU64::new(0),
        })
    }

    /// Readable (hung up) from the moment the worker drains.
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_rx.as_fd()
    }

    /// Whether the worker drains: no new connection, `Connection: close` on the
    /// next response of every open one.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Starts the drain and wakes every thread polling [`wake_fd`](Self::wake_fd).
    pub(crate) fn start(&self) {
        self.draining.store(true, Ordering::Release);
        lock(&self.wake_tx).take();
    }

    /// Blocks until the accept loop has ended and every connection is closed.
    pub(crate) fn wait_idle(&self) {
        let mut state = lock(&self.state);
        while state.accepting || state.open > 0 {
            state = self
                .idle
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Held by the accept loop; dropping it (however `run()` ends) says that no
    /// connection will be accepted any more.
    pub(crate) fn accepting(&self) -> Accepting<'_> {
        Accepting(self)
    }

    /// Counts a connection just accepted, until the returned guard is dropped.
    /// Called by the accept loop itself, so that `wait_idle` cannot miss it.
    pub(crate) fn open(self: &Arc<Self>) -> Open {
        lock(&self.state).open += 1;
        Open(self.clone())
    }

    /// Counts one response written.
    pub(crate) fn count_served(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// Responses written so far.
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut lock(&self.state));
        self.idle.notify_all();
    }
}

/// See [`Drain::accepting`].
pub(crate) struct Accepting<'a>(&'a Drain);

impl Drop for Accepting<'_> {
    fn drop(&mut self) {
        self.0.update(|s| s.accepting = false);
    }
}

/// See [`Drain::open`].
pub(crate) struct Open(Arc<Drain>);

impl Open {
    /// The worker's drain state.
    pub(crate) fn drain(&self) -> &Drain {
        &self.0
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.update(|s| s.open -= 1);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
