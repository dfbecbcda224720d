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

/// Takes ownership of the hand-over pipe that an upgrading master passed to
/// this process at `fd` (named by `COTYLEDON_UPGRADE`), once it is checked to be
/// a FIFO, and makes it close-on-exec. `None` if `fd` is not an open pipe.
pub(crate) fn take_handover_pipe(fd: RawFd) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if fd < 0 || TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return None;
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable storage for one `stat`; an fd that is not open
    // gives EBADF.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it filled `st`.
    let mode = unsafe { st.assume_init() }.st_mode;
    if mode & libc::S_IFMT != libc::S_IFIFO {
        return None;
    }
    // SAFETY: `fd` is an open pipe that the old master passed to this process
    // at exec for the manager alone (the variable names it, and this runs once
    // per process: TAKEN), so this is its only owner.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: F_SETFD on an fd owned here; no memory involved.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(owned)
}
