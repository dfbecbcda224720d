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

    /// Says the worker finished an in-place `reload()`.
    pub(crate) fn reloaded(&self) {
        self.slot.reloads.fetch_add(1, Ordering::SeqCst);
        sys::signal::send_notice(self.master);
    }
}
