//! File descriptors inherited across `fork` by number.

use std::os::fd::{BorrowedFd, RawFd};

/// Borrows an fd inherited from the master (the worker's end of the parent-death
/// pipe) for one `poll` call.
///
/// The caller checks, just before, that the fd is still the pipe it inherited.
pub(crate) fn borrow_forever(fd: RawFd) -> BorrowedFd<'static> {
    assert!(fd >= 0, "an inherited fd is non-negative");
    // SAFETY: the fd was inherited from the master, this crate never closes it (the
    // worker ends with _exit), and its identity was checked just before this borrow,
    // which lives for one poll call. Only code that closes an fd it does not own
    // (itself a breach of I/O safety) could close it meanwhile; poll would then
    // report it invalid, nothing worse.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
