//! Opening the control endpoint: a Unix socket (mode 0600 before it listens,
//! so no one else can connect even for an instant; a stale socket file is
//! replaced, a live one refused, as `listen/bind.rs` does for listeners) and,
//! if asked, a loopback TCP listener. Both close-on-exec and non-blocking.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use log::info;
use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr};

use crate::error::Error;

const TARGET: &str = "cotyledon::manager";

/// The bound control listeners, made at `build()`.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(super) unix: Option<UnixSocket>,
    pub(super) tcp: Option<TcpListener>,
}

/// The Unix listener and its file, removed when the endpoint is dropped by
/// the process that made it, if it is still ours.
#[derive(Debug)]
pub(super) struct UnixSocket {
    pub(super) listener: UnixListener,
    path: PathBuf,
    /// `(st_dev, st_ino)` of the socket file we bound.
    identity: (u64, u64),
    owner: u32,
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        if std::process::id() != self.owner {
            return;
        }
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Endpoint {
    /// Opens what the builder asked for (`None`: nothing asked).
    ///
    /// `inherited`: the listeners of an upgrading old master (Unix, TCP); one
    /// bound where this build asks is taken as it is (the socket file stays,
    /// the port is never free), the others are closed.
    pub(crate) fn open(
        path: Option<&Path>,
        tcp: Option<SocketAddr>,
        inherited: (Option<OwnedFd>, Option<OwnedFd>),
    ) -> Result<Option<Endpoint>, Error> {
        if path.is_none() && tcp.is_none() {
            return Ok(None);
        }
        if let Some(addr) = tcp
            && !addr.ip().is_loopback()
        {
            return Err(Error::ControlNotLoopback(addr));
        }
        let (old_unix, old_tcp) = inherited;
        let unix = path
            .map(|path| match old_unix.and_then(|fd| adopt_unix(fd, path)) {
                Some(socket) => Ok(socket),
                None => bind_unix(path),
            })
            .transpose()?;
        let old_tcp = old_tcp.map(TcpListener::from);
        let tcp = tcp
            .map(|addr| {
                if let Some(l) = old_tcp.filter(|l| l.local_addr().is_ok_and(|a| a == addr)) {
                    info!(target: TARGET, "Control endpoint tcp {addr} taken from the old master");
                    return Ok(l);
                }
                let l = TcpListener::bind(addr)?;
                l.set_nonblocking(true)?;
                Ok(l)
            })
            .transpose()
            .map_err(|source| Error::Control {
                address: format!("tcp {}", tcp.map(|a| a.to_string()).unwrap_or_default()),
                source,
            })?;
        Ok(Some(Endpoint { unix, tcp }))
    }

    /// The listeners' fds (Unix, TCP), for a binary upgrade's new master.
    pub(crate) fn listener_fds(&self) -> (Option<i32>, Option<i32>) {
        (
            self.unix.as_ref().map(|u| u.listener.as_raw_fd()),
            self.tcp.as_ref().map(AsRawFd::as_raw_fd),
        )
    }

    /// The endpoint went to a binary upgrade's new master: its socket file is
    /// that master's now, and is not removed when this one drops it.
    pub(crate) fn disown(&mut self) {
        if let Some(unix) = &mut self.unix {
            unix.owner = 0;
        }
    }

    /// The raw fds of the listeners (a forked worker closes them).
    pub(crate) fn raw_fds(&self) -> Vec<i32> {
        let mut fds = Vec::new();
        fds.extend(self.unix.as_ref().map(|u| u.listener.as_raw_fd()));
        fds.extend(self.tcp.as_ref().map(AsRawFd::as_raw_fd));
        fds
    }
}

fn bind_unix(path: &Path) -> Result<UnixSocket, Error> {
    let err = |source: io::Error| Error::Control {
        address: format!("unix {}", path.display()),
        source,
    };
    // ENAMETOOLONG (InvalidInput) for a path longer than `sun_path`.
    let addr = UnixAddr::new(path).map_err(|e| err(e.into()))?;
    let fd = stream_socket().map_err(err)?;
    match nix::sys::socket::bind(fd.as_raw_fd(), &addr) {
        Ok(()) => {}
        Err(Errno::EADDRINUSE) if is_socket(path) => {
            if !is_stale(&addr).map_err(err)? {
                return Err(Error::ControlSocketInUse(path.to_owned()));
            }
            std::fs::remove_file(path).map_err(err)?;
            info!(
                target: TARGET,
                "Removed the stale control socket {} (nothing accepted on it)",
                path.display()
            );
            nix::sys::socket::bind(fd.as_raw_fd(), &addr).map_err(|e| err(e.into()))?;
        }
        Err(e) => return Err(err(e.into())),
    }
    // Only the master's user, before anyone may connect (listen comes after).
    let meta = std::fs::symlink_metadata(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    nix::sys::socket::listen(
        &fd,
        nix::sys::socket::Backlog::new(128).map_err(|e| err(e.into()))?,
    )
    .map_err(|e| err(e.into()))?;
    Ok(UnixSocket {
        listener: UnixListener::from(fd),
        path: path.to_owned(),
        identity: (meta.dev(), meta.ino()),
        owner: std::process::id(),
    })
}

/// The old master's control socket, if it is bound at `path` and the file
/// there is still it.
fn adopt_unix(fd: OwnedFd, path: &Path) -> Option<UnixSocket> {
    let listener = UnixListener::from(fd);
    let bound = listener.local_addr().ok()?;
    if bound.as_pathname() != Some(path) {
        return None;
    }
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_socket() {
        return None;
    }
    info!(
        target: TARGET,
        "Control endpoint unix {} taken from the old master",
        path.display()
    );
    Some(UnixSocket {
        listener,
        path: path.to_owned(),
        identity: (meta.dev(), meta.ino()),
        owner: std::process::id(),
    })
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Whether nothing accepts on the socket at `addr`: a non-blocking connect is
/// refused. A live server with a full queue (EAGAIN) counts as alive.
fn is_stale(addr: &UnixAddr) -> io::Result<bool> {
    let probe = stream_socket()?;
    Ok(nix::sys::socket::connect(probe.as_raw_fd(), addr) == Err(Errno::ECONNREFUSED))
}

/// A new non-blocking, close-on-exec Unix stream socket.
#[cfg(not(target_vendor = "apple"))]
fn stream_socket() -> io::Result<OwnedFd> {
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    Ok(nix::sys::socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        flags,
        None,
    )?)
}

/// A new non-blocking, close-on-exec Unix stream socket (macOS has no
/// `SOCK_CLOEXEC`: the flags are set right after).
#[cfg(target_vendor = "apple")]
fn stream_socket() -> io::Result<OwnedFd> {
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
    let fd = nix::sys::socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )?;
    fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok(fd)
}
