//! Binding a [`Listen`] spec: a stream socket, close-on-exec and blocking, with
//! `SO_REUSEADDR`, bound and listening with the spec's backlog.
//!
//! A Unix socket path that is taken is checked once: if it is a socket file and
//! nothing accepts on it (a non-blocking `connect()` is refused), it is the
//! leftover of a process that is gone, and it is removed and bound again. Anything
//! else there (a live socket, a socket whose queue is full, a regular file) is
//! "address in use": the manager never removes what may be in use.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use log::info;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrLike, SockaddrStorage, UnixAddr, setsockopt, sockopt,
};

use super::{Addr, Listen, TARGET};
use crate::sys;

/// Binds `spec`: the listening socket, or the error of the system call that
/// failed (its kind and errno as the kernel gave them).
pub(super) fn bind(spec: &Listen) -> io::Result<OwnedFd> {
    match &spec.addr {
        Addr::Tcp(addr) => {
            let family = if addr.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            };
            listening(family, &SockaddrStorage::from(*addr), spec.backlog)
        }
        Addr::Unix(path) => bind_unix(path, spec.backlog),
    }
}

fn bind_unix(path: &Path, backlog: u32) -> io::Result<OwnedFd> {
    // ENAMETOOLONG for a path longer than `sun_path`.
    let addr = UnixAddr::new(path)?;
    match listening(AddressFamily::Unix, &addr, backlog) {
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) && is_stale(path, &addr) => {
            std::fs::remove_file(path)?;
            info!(
                target: TARGET,
                "Removed the stale socket {} (nothing accepted on it)",
                path.display()
            );
            listening(AddressFamily::Unix, &addr, backlog)
        }
        other => other,
    }
}

/// A blocking, close-on-exec stream socket of `family` with `SO_REUSEADDR`,
/// bound to `addr` and listening.
fn listening(family: AddressFamily, addr: &dyn SockaddrLike, backlog: u32) -> io::Result<OwnedFd> {
    let fd = stream_socket(family, false)?;
    if family != AddressFamily::Unix {
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    nix::sys::socket::bind(fd.as_raw_fd(), addr)?;
    sys::socket::listen(&fd, backlog)?;
    Ok(fd)
}

/// Whether `path` is a socket file that nothing accepts on. The `connect()` is
/// non-blocking, so a live server with a full queue (EAGAIN) cannot stall the
/// master, and counts as alive.
fn is_stale(path: &Path, addr: &UnixAddr) -> bool {
    let is_socket = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
    if !is_socket {
        return false;
    }
    let Ok(probe) = stream_socket(AddressFamily::Unix, true) else {
        return false;
    };
    nix::sys::socket::connect(probe.as_raw_fd(), addr) == Err(Errno::ECONNREFUSED)
}

/// A new close-on-exec stream socket (atomically where the platform can).
#[cfg(not(target_vendor = "apple"))]
fn stream_socket(family: AddressFamily, nonblocking: bool) -> io::Result<OwnedFd> {
    let mut flags = SockFlag::SOCK_CLOEXEC;
    if nonblocking {
        flags |= SockFlag::SOCK_NONBLOCK;
    }
    Ok(nix::sys::socket::socket(
        family,
        SockType::Stream,
        flags,
        None,
    )?)
}

/// A new close-on-exec stream socket (macOS has no `SOCK_CLOEXEC`: the flag is
/// set right after; the master is single-threaded, so no fork comes between).
#[cfg(target_vendor = "apple")]
fn stream_socket(family: AddressFamily, nonblocking: bool) -> io::Result<OwnedFd> {
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
    let fd = nix::sys::socket::socket(family, SockType::Stream, SockFlag::empty(), None)?;
    fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    if nonblocking {
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    }
    Ok(fd)
}
