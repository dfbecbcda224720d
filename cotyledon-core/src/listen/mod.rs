//! Listeners owned by the manager: [`Listen`] specs bound (or adopted from systemd
//! socket activation, by name or by address) in the master before the first fork,
//! and handed to workers by name as new std listeners through the
//! [`Context`](crate::Context).
//!
//! The registry is process-global: the master fills it before `run()` (the
//! manager's `build()` adopts systemd's sockets, `listen()` binds), and every
//! worker inherits it, fds included, with the fork; nothing in the worker
//! start-up needs to carry it. The master keeps its fds open for the life of the
//! process, so workers respawned later inherit them too. Every fd is
//! close-on-exec: a program that a worker execs never inherits a listener.

mod bind;
mod context;
mod manager;
mod matching;
mod systemd;
mod upgrade;

use upgrade::passer;
pub(crate) use upgrade::{close_unclaimed_from_upgrade, for_handover};

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use log::{info, warn};
use nix::sys::socket::SockaddrStorage;

use crate::error::Error;

const TARGET: &str = "cotyledon::manager";

/// The backlog of a [`Listen`] that does not set one.
pub(crate) const DEFAULT_BACKLOG: u32 = 1024;

/// What to listen on: a TCP address (IPv4 or IPv6) or a Unix-domain stream socket
/// path, with its backlog. Give it to
/// [`ServiceManager::listen`](crate::ServiceManager::listen).
///
/// ```
/// use std::net::{Ipv6Addr, SocketAddr};
/// use cotyledon::Listen;
///
/// let v4 = Listen::tcp(([127, 0, 0, 1], 8080));
/// let v6 = Listen::tcp((Ipv6Addr::LOCALHOST, 8080)).backlog(4096);
/// let parsed = Listen::tcp("0.0.0.0:80".parse::<SocketAddr>()?);
/// let unix = Listen::unix("/run/myapp/http.sock");
/// assert_eq!(unix.to_string(), "unix /run/myapp/http.sock");
/// # drop((v4, v6, parsed));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    addr: Addr,
    backlog: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Addr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Listen {
    /// The backlog of a listener that does not set one: 1024.
    pub const DEFAULT_BACKLOG: u32 = DEFAULT_BACKLOG;

    /// A TCP listener on `addr` (IPv4 or IPv6; port 0 picks a free port). An IPv6
    /// address keeps the system's default for `IPV6_V6ONLY` (on Linux, `[::]`
    /// also accepts IPv4 connections unless `net.ipv6.bindv6only` is set).
    ///
    /// ```
    /// use std::net::Ipv6Addr;
    ///
    /// use cotyledon::Listen;
    ///
    /// let any_v4 = Listen::tcp(([0, 0, 0, 0], 8080));
    /// let local_v6 = Listen::tcp((Ipv6Addr::LOCALHOST, 8080));
    /// assert_eq!(any_v4.to_string(), "tcp 0.0.0.0:8080");
    /// assert_eq!(local_v6.to_string(), "tcp [::1]:8080");
    /// ```
    pub fn tcp(addr: impl Into<SocketAddr>) -> Listen {
        Listen {
            addr: Addr::Tcp(addr.into()),
            backlog: DEFAULT_BACKLOG,
        }
    }

    /// A Unix-domain stream listener at `path`. A socket file left there by a
    /// process that is gone (nothing accepts on it: `connect()` is refused) is
    /// removed and bound again; any other file there is "address in use". The
    /// file is not removed when the master exits (the next start removes it).
    ///
    /// ```
    /// let admin = cotyledon::Listen::unix("/run/myapp/admin.sock");
    /// assert_eq!(admin.to_string(), "unix /run/myapp/admin.sock");
    /// ```
    pub fn unix(path: impl AsRef<Path>) -> Listen {
        Listen {
            addr: Addr::Unix(path.as_ref().to_owned()),
            backlog: DEFAULT_BACKLOG,
        }
    }

    /// The length of the queue of connections not yet accepted (default
    /// [`Listen::DEFAULT_BACKLOG`], 1024). The kernel caps it at its own limit
    /// (`net.core.somaxconn` on Linux). A socket passed by systemd keeps the
    /// backlog of its socket unit.
    ///
    /// ```
    /// # #[derive(cotyledon::Service)] struct Web;
    /// # impl cotyledon::Service for Web {}
    /// use cotyledon::{Listen, ServiceManager};
    ///
    /// let mut manager = ServiceManager::new()?;
    /// // Bursts of connections wait in a longer queue while workers are busy.
    /// manager.listen("http", Listen::tcp(([127, 0, 0, 1], 0)).backlog(4096))?;
    /// # manager.add(|_| Web, 1)?;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn backlog(mut self, n: u32) -> Listen {
        self.backlog = n;
        self
    }

    fn kind(&self) -> Kind {
        match self.addr {
            Addr::Tcp(_) => Kind::Tcp,
            Addr::Unix(_) => Kind::Unix,
        }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.addr {
            Addr::Tcp(addr) => write!(f, "tcp {addr}"),
            Addr::Unix(path) => write!(f, "unix {}", path.display()),
        }
    }
}

/// The two kinds of listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp,
    Unix,
}

impl Kind {
    /// As [`Error::ListenerKind`] names it.
    fn describe(self) -> &'static str {
        match self {
            Kind::Tcp => "TCP",
            Kind::Unix => "Unix-domain",
        }
    }
}

/// One named listening socket of this process.
#[derive(Debug)]
struct Entry {
    name: String,
    fd: OwnedFd,
    kind: Kind,
    origin: Origin,
}

/// Where a listening socket comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// Bound by `listen()`.
    Bound,
    /// Passed by systemd; no `listen()` call took it (yet).
    Systemd,
    /// Passed by systemd under the name of an earlier passed fd: not offered by
    /// that name, but a `listen()` call can take it by its address.
    SystemdShadowed,
    /// Passed by systemd and taken by a `listen()` call (by name or address).
    SystemdClaimed,
}

impl Origin {
    /// Passed by systemd and not taken by a `listen()` call yet.
    fn is_passed_and_free(self) -> bool {
        matches!(self, Origin::Systemd | Origin::SystemdShadowed)
    }
}

/// Every listener of this process, in the order they were made.
static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Entry>> {
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The bound address of a listening socket, for log lines.
fn local_addr(fd: &OwnedFd) -> String {
    match nix::sys::socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()) {
        Ok(addr) => addr.to_string(),
        Err(e) => format!("unknown address ({e})"),
    }
}

/// Adopts the sockets systemd passed to this process (`LISTEN_FDS`), once; see
/// [`systemd`]. Called when the manager is built, before any `listen()` call
/// and before the manager opens fds of its own.
///
/// `upgrade`: this process is the new master of a binary upgrade, and these
/// are the indexes (from fd 3) of the sockets the old master had taken with
/// `listen()` (see [`close_unclaimed_from_upgrade`]).
pub(crate) fn adopt_from_systemd(upgrade: Option<&[usize]>) {
    if let Some(claimed) = upgrade {
        upgrade::expect(claimed);
    }
    let adopted = systemd::adopt();
    registry().extend(adopted);
}

/// The address a listening socket is bound to, as a spec would name it (`None`
/// for an address no spec can name, or if it cannot be read).
fn bound_addr(fd: &OwnedFd) -> Option<Addr> {
    let addr = nix::sys::socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()).ok()?;
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(Addr::Tcp(SocketAddr::from(*v4)));
    }
    if let Some(v6) = addr.as_sockaddr_in6() {
        return Some(Addr::Tcp(SocketAddr::from(*v6)));
    }
    addr.as_unix_addr()
        .and_then(|u| u.path())
        .map(|p| Addr::Unix(p.to_owned()))
}

/// Binds `spec` under `name`, or takes the socket systemd passed under that name
/// or bound to that address (see [`matching`]).
fn listen(name: &str, spec: Listen) -> Result<(), Error> {
    let passer = passer();
    let mut reg = registry();
    let addrs: Vec<Option<Addr>> = reg
        .iter()
        .map(|e| {
            e.origin
                .is_passed_and_free()
                .then(|| bound_addr(&e.fd))
                .flatten()
        })
        .collect();
    let candidates: Vec<matching::Candidate<'_>> = reg
        .iter()
        .zip(&addrs)
        .map(|(e, addr)| matching::Candidate {
            name: &e.name,
            origin: e.origin,
            kind: e.kind,
            addr: addr.as_ref(),
        })
        .collect();
    let choice = matching::choose(name, &spec.addr, spec.kind(), &candidates);
    drop(candidates);
    match choice {
        matching::Choice::Duplicate => Err(Error::DuplicateListener(name.to_owned())),
        matching::Choice::WrongKind => Err(Error::ListenerKind {
            name: name.to_owned(),
            expected: spec.kind().describe(),
        }),
        matching::Choice::ByName(i) => {
            let entry = &mut reg[i];
            entry.origin = Origin::SystemdClaimed;
            info!(
                target: TARGET,
                "Using the socket {name} passed by {passer} ({}) instead of {spec}",
                local_addr(&entry.fd)
            );
            Ok(())
        }
        matching::Choice::ByAddress(same) => {
            let first = same[0];
            if same.len() > 1 {
                let fds: Vec<String> = same
                    .iter()
                    .map(|&i| format!("fd {} ({})", reg[i].fd.as_raw_fd(), reg[i].name))
                    .collect();
                warn!(
                    target: TARGET,
                    "The sockets {} passed by {passer} are all bound to {spec}: the first is \
                     used for listener {name}",
                    fds.join(", ")
                );
            }
            let entry = &mut reg[first];
            info!(
                target: TARGET,
                "Using the socket {} (fd {}) passed by {passer} for listener {name}: it is \
                 bound to {spec}",
                entry.name,
                entry.fd.as_raw_fd()
            );
            entry.name = name.to_owned();
            entry.origin = Origin::SystemdClaimed;
            Ok(())
        }
        matching::Choice::Bind => {
            let fd = bind::bind(&spec).map_err(|source| Error::Listen {
                name: name.to_owned(),
                address: spec.to_string(),
                source,
            })?;
            info!(target: TARGET, "Listener {name} bound to {}", local_addr(&fd));
            reg.push(Entry {
                name: name.to_owned(),
                fd,
                kind: spec.kind(),
                origin: Origin::Bound,
            });
            Ok(())
        }
    }
}

/// A new fd (close-on-exec) for the listening socket `name` of kind `kind`.
fn dup(name: &str, kind: Kind) -> Result<OwnedFd, Error> {
    let reg = registry();
    let entry = reg
        .iter()
        .find(|e| e.name == name && e.origin != Origin::SystemdShadowed)
        .ok_or_else(|| Error::UnknownListener(name.to_owned()))?;
    if entry.kind != kind {
        return Err(Error::ListenerKind {
            name: name.to_owned(),
            expected: kind.describe(),
        });
    }
    // try_clone is fcntl(F_DUPFD_CLOEXEC): a new fd on the same socket.
    entry.fd.try_clone().map_err(|source| Error::Listen {
        name: name.to_owned(),
        address: local_addr(&entry.fd),
        source,
    })
}

/// See [`Context::tcp_listener`](crate::Context::tcp_listener).
pub(crate) fn tcp_listener(name: &str) -> Result<TcpListener, Error> {
    dup(name, Kind::Tcp).map(TcpListener::from)
}

/// See [`Context::unix_listener`](crate::Context::unix_listener).
pub(crate) fn unix_listener(name: &str) -> Result<UnixListener, Error> {
    dup(name, Kind::Unix).map(UnixListener::from)
}

#[cfg(test)]
mod tests;
