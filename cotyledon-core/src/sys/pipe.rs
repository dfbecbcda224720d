//! The self-pipe: non-blocking and close-on-exec, written one byte at a time by the
//! signal handler and by threads that wake the loop. Its identity (device and inode,
//! shared by both ends) is recorded at creation, so the handler and the reader can
//! tell it from whatever took its fd numbers after user code closed them.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// Device and inode of an open fd, or `None` if the fd is not open.
/// Async-signal-safe: one `fstat(2)`.
pub(crate) fn identity(fd: RawFd) -> Option<(u64, u64)> {
    if fd < 0 {
        return None;
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable storage for one `stat`; fstat(2) only writes to it and
    // is async-signal-safe. An fd that is not open gives EBADF, not UB.
    let rc = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Some((st.st_dev as u64, st.st_ino as u64))
}

/// Writes one byte to `fd` (async-signal-safe). A full pipe (EAGAIN) drops the byte:
/// the reader has bytes to wake on already, and the pending flags say what came.
pub(crate) fn write_byte(fd: RawFd, byte: u8) {
    // SAFETY: `byte` is a valid one-byte buffer for the duration of the call; write(2)
    // is async-signal-safe.
    let _ = unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// Creates a non-blocking, close-on-exec pipe: `(read, write)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: `fds` is a valid array of two ints for pipe to fill.
        let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        for fd in fds {
            set_cloexec_nonblock(fd)?;
        }
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above, for the write end.
    let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((read, write))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_cloexec_nonblock(fd: RawFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
    // SAFETY: fd was just returned by pipe(2) and is open.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    fcntl(borrowed, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Most bytes one drain reads: a pipe's default capacity. What is left wakes the
/// next poll at once.
const DRAIN_MAX: usize = 64 * 1024;

/// Drains the pipe without blocking and appends the bytes read to `out` (at most
/// [`DRAIN_MAX`]). Returns `false` on end of file (every write end is closed: the
/// pipe is broken).
pub(crate) fn drain(fd: &OwnedFd, out: &mut Vec<u8>) -> io::Result<bool> {
    let mut buf = [0u8; 512];
    while out.len() < DRAIN_MAX {
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Gives up an fd without closing it: after user code closed our fd, its number
/// may now be the user's, and closing it would close theirs.
pub(crate) fn abandon(fd: OwnedFd) {
    let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
}
