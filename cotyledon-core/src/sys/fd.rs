//! File descriptors inherited across `fork` by number.

use std::os::fd::{BorrowedFd, RawFd};

/// Borrows an fd that stays open for the rest of the process's life.
///
/// Used in a worker for the parent-death pipe's read end, inherited from the
/// master and never closed by the worker.
pub(crate) fn borrow_forever(fd: RawFd) -> BorrowedFd<'static> {
    assert!(fd >= 0, "an inherited fd is non-negative");
    // SAFETY: the caller passes an fd inherited from the master that this process
    // never closes (the worker ends with _exit), so it is open for 'static.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
