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

/// What an fd passed by an upgrading master must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Passed {
    /// The hand-over pipe.
    Pipe,
    /// A control endpoint's listening socket.
    Socket,
}

/// Takes ownership of an fd that an upgrading master passed to this process
/// at `fd` (named by `COTYLEDON_UPGRADE`), once it is checked to be open and
/// of the kind expected, and makes it close-on-exec. `None` if it is not, or
/// was taken already.
pub(crate) fn take_passed(fd: RawFd, kind: Passed) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    static TAKEN: std::sync::Mutex<Vec<RawFd>> = std::sync::Mutex::new(Vec::new());
    let mut taken = TAKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if fd < 3 || taken.contains(&fd) {
        return None;
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable storage for one `stat`; an fd that is not open
    // gives EBADF.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it filled `st`.
    let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
    let want = match kind {
        Passed::Pipe => libc::S_IFIFO,
        Passed::Socket => libc::S_IFSOCK,
    };
    if mode != want {
        return None;
    }
    taken.push(fd);
    // SAFETY: `fd` is open and of the kind the old master passed there, for
    // the manager alone (the variable names it), and TAKEN makes this its only
    // owner in this process.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: F_SETFD on an fd owned here; no memory involved.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(owned)
}
