//! Both sides of the shared-memory protocol between a worker and its master:
//! what a worker writes in its slot of the shared region (then a signal to wake
//! the master): that it is ready, its heartbeats, a recycle request, that it is
//! leaving, when its last finished in-place `reload()` began; and how the
//! master reads a slot ([`read`]).
//!
//! A slot is reused once its worker is reaped. A process forked by a worker
//! without exec keeps the worker's `Context`, so every write checks that the
//! writer is the worker the slot belongs to: the rare notices by `getpid()`,
//! the heartbeat (no system call) by the slot's owner, which the master clears
//! before it reuses the slot and the new worker sets as it starts. A late
//! notice from such a child never lands on the worker that has the slot now.

use std::sync::atomic::Ordering;

use crate::sys;
use crate::sys::shm::SharedSlot;

/// A worker's line to the master.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Notice {
    slot: &'static SharedSlot,
    master: libc::pid_t,
    /// The worker's pid: the slot's owner.
    pid: libc::pid_t,
}

/// What a slot says, as the master reads it (`CLOCK_MONOTONIC` ns; 0: never).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reading {
    pub(crate) ready: bool,
    pub(crate) reloaded_from_ns: u64,
    pub(crate) beat_ns: u64,
    pub(crate) recycle: bool,
    pub(crate) leaving: bool,
}

/// The master's side: what slot `index` says of worker `pid` (nothing if the
/// slot is someone else's: not started yet, or reused).
pub(crate) fn read(index: usize, pid: libc::pid_t) -> Option<Reading> {
    let s = sys::shm::slot(index)?;
    let owner = s.owner.load(Ordering::SeqCst);
    Some(Reading {
        ready: s.ready.load(Ordering::SeqCst) != 0,
        reloaded_from_ns: s.reloaded_from.load(Ordering::SeqCst),
        beat_ns: if owner == pid {
            s.beat.load(Ordering::SeqCst)
        } else {
            0
        },
        recycle: s.recycle.load(Ordering::SeqCst) != 0,
        leaving: s.leaving.load(Ordering::SeqCst) != 0,
    })
}

/// The master's side, before a fork: clears slot `index` for a new worker.
pub(crate) fn reset(index: usize) {
    if let Some(s) = sys::shm::slot(index) {
        s.reset();
    }
}

impl Notice {
    /// The line of the worker in shared slot `index` (`None` without a region),
    /// made in the worker as it starts: it takes the slot.
    pub(crate) fn new(index: usize, master: libc::pid_t) -> Option<Self> {
        let pid = nix::unistd::getpid().as_raw();
        sys::shm::slot(index).map(|slot| {
            slot.owner.store(pid, Ordering::SeqCst);
            Notice { slot, master, pid }
        })
    }

    /// Whether the caller is the worker itself (not a child it forked).
    fn mine(&self) -> bool {
        nix::unistd::getpid().as_raw() == self.pid
    }

    /// Says the worker is ready (once; later calls do nothing).
    pub(crate) fn ready(&self) {
        if self.mine() && self.slot.ready.swap(1, Ordering::SeqCst) == 0 {
            sys::signal::send_notice(self.master);
        }
    }

    /// A heartbeat: the time, in the worker's slot (no system call: the clock is
    /// read through the vDSO).
    pub(crate) fn beat(&self) {
        if self.slot.owner.load(Ordering::Relaxed) != self.pid {
            return;
        }
        self.slot
            .beat
            .store(sys::timer::monotonic_ns(), Ordering::Relaxed);
    }

    /// Asks the master to recycle this worker (once).
    pub(crate) fn recycle(&self) {
        if self.mine() && self.slot.recycle.swap(1, Ordering::SeqCst) == 0 {
            sys::signal::send_notice(self.master);
        }
    }

    /// Says the worker finished an in-place `reload()` that started at
    /// `started_ns` (`CLOCK_MONOTONIC`): its code is that recent.
    pub(crate) fn reloaded(&self, started_ns: u64) {
        if !self.mine() {
            return;
        }
        self.slot
            .reloaded_from
            .fetch_max(started_ns.max(1), Ordering::SeqCst);
        sys::signal::send_notice(self.master);
    }

    /// Says the worker began a graceful exit (once): a step of a rollout that
    /// sent it SIGHUP is then a restart, not an in-place reload.
    pub(crate) fn leaving(&self) {
        if self.mine() && self.slot.leaving.swap(1, Ordering::SeqCst) == 0 {
            sys::signal::send_notice(self.master);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_of_a_worker_cannot_write_in_the_slot_after_it_is_reused() {
        sys::shm::map(8).expect("region");
        let index = 7;
        reset(index);
        // A notice as a plain-forked child of the worker holds it: the pid of
        // the worker, which is not the caller's, and the slot taken since by
        // another worker (owner 1).
        let slot = sys::shm::slot(index).expect("slot");
        slot.owner.store(1, Ordering::SeqCst);
        let stale = Notice {
            slot,
            master: 0,
            pid: 2,
        };
        stale.ready();
        stale.beat();
        stale.recycle();
        stale.leaving();
        stale.reloaded(5);
        assert_eq!(read(index, 1), Some(Reading::default()));
        assert_eq!(read(index, 2).map(|r| r.beat_ns), Some(0));
    }
}
