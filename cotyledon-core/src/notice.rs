//! What a worker tells the master, through its slot of the shared region plus a
//! signal: that it is ready, and that it finished an in-place `reload()`.

use std::sync::atomic::Ordering;

use crate::sys;
use crate::sys::shm::SharedSlot;

/// A worker's line to the master.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Notice {
    slot: &'static SharedSlot,
    master: libc::pid_t,
}

impl Notice {
    /// The line of the worker in shared slot `index` (`None` without a region).
    pub(crate) fn new(index: usize, master: libc::pid_t) -> Option<Self> {
        sys::shm::slot(index).map(|slot| Notice { slot, master })
    }

    /// Says the worker is ready (once; later calls do nothing).
    pub(crate) fn ready(&self) {
        if self.slot.ready.swap(1, Ordering::SeqCst) == 0 {
            sys::signal::send_notice(self.master);
        }
    }

    /// A heartbeat: the time, in the worker's slot (no system call: the clock is
    /// read through the vDSO).
    pub(crate) fn beat(&self) {
        self.slot
            .beat
            .store(sys::timer::monotonic_ns(), Ordering::Relaxed);
    }

    /// Asks the master to recycle this worker (once).
    pub(crate) fn recycle(&self) {
        if self.slot.recycle.swap(1, Ordering::SeqCst) == 0 {
            sys::signal::send_notice(self.master);
        }
    }

    /// Says the worker finished an in-place `reload()` that started at
    /// `started_ns` (`CLOCK_MONOTONIC`): its code is that recent.
    pub(crate) fn reloaded(&self, started_ns: u64) {
        self.slot
            .reloaded_from
            .fetch_max(started_ns.max(1), Ordering::SeqCst);
        sys::signal::send_notice(self.master);
    }

    /// Says the worker began a graceful exit (once): a step of a rollout that
    /// sent it SIGHUP is then a restart, not an in-place reload.
    pub(crate) fn leaving(&self) {
        if self.slot.leaving.swap(1, Ordering::SeqCst) == 0 {
            sys::signal::send_notice(self.master);
        }
    }
}
