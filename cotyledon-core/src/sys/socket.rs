//! The raw socket calls of the listeners that nix does not offer safely or
//! fully: taking ownership of the fds systemd passes by socket activation, and
//! `listen(2)` with any backlog (nix's `Backlog` refuses values above the libc
//! `SOMAXCONN` constant, 128 on musl and macOS, where the kernel itself silently
//! caps the backlog at its own run-time limit, `net.core.somaxconn` on Linux).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The first fd of socket activation (`SD_LISTEN_FDS_START`).
pub(crate) const LISTEN_FDS_START: RawFd = 3;

/// Set once [`take_listen_fds`] has run in this process.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Takes ownership of the `count` fds systemd passed from
/// [`LISTEN_FDS_START`] on, and marks each close-on-exec. Call it only once
/// `LISTEN_PID` was checked to be this process's pid: by the socket-activation
/// protocol those fds were then handed to this process at exec, for it alone.
///
/// Returns, for each fd, its number and the owned fd, or the error of an fd that
/// is not open (`EBADF`). Runs once per process: later calls return nothing, so
/// no fd is ever owned twice.
pub(crate) fn take_listen_fds(count: usize) -> Vec<(RawFd, io::Result<OwnedFd>)> {
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    let count = RawFd::try_from(count).unwrap_or(RawFd::MAX - LISTEN_FDS_START);
    (LISTEN_FDS_START..LISTEN_FDS_START.saturating_add(count))
        .map(|fd| (fd, take(fd)))
        .collect()
}

/// Marks fds [`LISTEN_FDS_START`]..+`count` close-on-exec where they are open,
/// without taking them: the socket-activation variables were unusable, but
/// `LISTEN_PID` (checked by the caller) says these fds were passed to this
/// process, and no program a worker execs may inherit them.
pub(crate) fn mark_listen_fds_cloexec(count: usize) {
    let count = RawFd::try_from(count).unwrap_or(RawFd::MAX - LISTEN_FDS_START);
    for fd in LISTEN_FDS_START..LISTEN_FDS_START.saturating_add(count) {
        // SAFETY: F_GETFD reads the flags of an fd number and touches no memory;
        // an fd that is not open gives EBADF and is skipped.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            continue;
        }
        // SAFETY: F_SETFD sets the close-on-exec flag of an open fd number and
        // touches no memory. The flag changes nothing for the code of this
        // process that uses the fd, only what a later exec inherits.
        unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    }
}

fn take(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_GETFD reads the flags of `fd` and touches no memory; an fd that is
    // not open gives EBADF, nothing worse.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open (checked just above). By the socket-activation
    // protocol (LISTEN_PID is this process, checked by the caller) it was passed
    // to this process for the manager to take, and this runs once per process
    // (TAKEN), so no other owner of it exists in this crate. Code that took fd
    // numbers of LISTEN_FDS for itself would breach that protocol first.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: F_SETFD on an fd this function owns now; no memory is involved.
    let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        // Not ours to close after all: give it back untouched.
        let _ = std::os::fd::IntoRawFd::into_raw_fd(owned);
        return Err(e);
    }
    Ok(owned)
}

/// `listen(2)` with `backlog` (above `c_int::MAX`: `c_int::MAX`; the kernel caps
/// it at its own limit).
pub(crate) fn listen(fd: &OwnedFd, backlog: u32) -> io::Result<()> {
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is an open socket owned by the caller for the whole call;
    // listen(2) takes no pointer.
    let rc = unsafe { libc::listen(fd.as_raw_fd(), backlog) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_accepts_a_backlog_above_somaxconn() {
        let fd = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Inet,
            nix::sys::socket::SockType::Stream,
            nix::sys::socket::SockFlag::empty(),
            None,
        )
        .expect("socket");
        listen(&fd, u32::MAX).expect("the kernel caps the backlog itself");
        let listening =
            nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::AcceptConn).expect("opt");
        assert!(listening);
    }
}
