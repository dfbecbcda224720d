//! systemd socket activation (`sd_listen_fds(3)`), done once, in the master, when
//! the manager is built: before any `listen()` call, before the manager opens fds
//! of its own and before the first fork.
//!
//! If `LISTEN_PID` is this process, fds 3..3+`LISTEN_FDS` are taken, named from
//! `LISTEN_FDNAMES` (colon-separated; "unknown" for each when it is absent, as
//! systemd does) and made close-on-exec. An fd that is not a listening stream
//! socket of IP or Unix family is not offered (a WARN line names it; it is left
//! open, close-on-exec). A name that comes twice (systemd names every fd of a
//! socket unit after the unit unless `FileDescriptorName=` says otherwise) is
//! offered by name for its first fd only; the others can still be taken by
//! address (see `matching`). Adopted sockets are put in blocking mode, like the
//! ones the manager binds. `LISTEN_PID` of another process: nothing is adopted
//! and the fds are not touched. Malformed values: a WARN line, nothing adopted,
//! but if `LISTEN_PID` is this process and `LISTEN_FDS` a number, fds
//! 3..3+`LISTEN_FDS` (at most [`MAX_LISTEN_FDS`]) are made close-on-exec all the
//! same, as `sd_listen_fds(3)` does before it looks at the names: a program that
//! a worker execs never inherits them. In every case the three variables are then
//! removed from the environment (if the process is single-threaded), so that
//! workers never see them.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};

use log::{debug, info, warn};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{AddressFamily, SockType, SockaddrLike, SockaddrStorage, sockopt};
use nix::sys::stat::SFlag;

use super::{Entry, Kind, Origin, TARGET, local_addr};
use crate::sys;
use crate::sys::env::Kept;

const PID: &str = "LISTEN_PID";
const FDS: &str = "LISTEN_FDS";
const NAMES: &str = "LISTEN_FDNAMES";

/// Most fds taken from `LISTEN_FDS`: a larger count is taken for garbage.
pub(super) const MAX_LISTEN_FDS: usize = 1024;

/// What the `LISTEN_*` variables ask for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// Neither `LISTEN_PID` nor `LISTEN_FDS` is set.
    Absent,
    /// `LISTEN_PID` names another process (the value, as given).
    NotOurs(String),
    /// Values that cannot be used: why, for a WARN line, and how many fds from 3
    /// on are ours all the same (to be made close-on-exec; 0 when unknown).
    Malformed(String, usize),
    /// Take fds 3.. with these names, one per fd.
    Adopt(Vec<String>),
}

/// Decides from the values of `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`
/// (unset: `None`) in the process `our_pid`, as `sd_listen_fds_with_names` does,
/// with [`MAX_LISTEN_FDS`] as a ceiling.
pub(super) fn plan(
    pid: Option<&OsStr>,
    fds: Option<&OsStr>,
    names: Option<&OsStr>,
    our_pid: u32,
) -> Plan {
    let shown = |v: &OsStr| v.to_string_lossy().into_owned();
    let (pid, fds) = match (pid, fds) {
        (None, None) => return Plan::Absent,
        (None, Some(fds)) => {
            return Plan::Malformed(format!("{FDS}={} is set without {PID}", shown(fds)), 0);
        }
        (Some(pid), None) => {
            return Plan::Malformed(format!("{PID}={} is set without {FDS}", shown(pid)), 0);
        }
        (Some(pid), Some(fds)) => (pid, fds),
    };
    let Some(pid_value) = pid.to_str().and_then(|p| p.parse::<u32>().ok()) else {
        return Plan::Malformed(format!("{PID}={} is not a process id", shown(pid)), 0);
    };
    if pid_value != our_pid {
        return Plan::NotOurs(shown(pid));
    }
    let Some(count) = fds.to_str().and_then(|n| n.parse::<usize>().ok()) else {
        return Plan::Malformed(format!("{FDS}={} is not a number of fds", shown(fds)), 0);
    };
    if count > MAX_LISTEN_FDS {
        return Plan::Malformed(
            format!("{FDS}={count} is more than {MAX_LISTEN_FDS}"),
            MAX_LISTEN_FDS,
        );
    }
    if count == 0 {
        return Plan::Adopt(Vec::new());
    }
    let names: Vec<String> = match names {
        None => vec!["unknown".to_owned(); count],
        Some(names) => names
            .to_string_lossy()
            .split(':')
            .map(str::to_owned)
            .collect(),
    };
    if names.len() != count {
        return Plan::Malformed(
            format!("{NAMES} has {} names for {FDS}={count}", names.len()),
            count,
        );
    }
    Plan::Adopt(names)
}

/// Reads the variables, adopts what they pass (see the module's doc) and removes
/// them from the environment. Returns the sockets to offer.
pub(super) fn adopt() -> Vec<Entry> {
    let passer = super::passer();
    let vars: [Option<OsString>; 3] = [PID, FDS, NAMES].map(std::env::var_os);
    if vars.iter().all(Option::is_none) {
        return Vec::new();
    }
    let [pid, fds, names] = &vars;
    let plan = plan(
        pid.as_deref(),
        fds.as_deref(),
        names.as_deref(),
        std::process::id(),
    );
    clear_environment(&vars);
    match plan {
        Plan::Absent => Vec::new(),
        Plan::NotOurs(pid) => {
            info!(
                target: TARGET,
                "{PID}={pid} is not this process ({}): the sockets passed by {passer} are ignored",
                std::process::id()
            );
            Vec::new()
        }
        Plan::Malformed(why, ours) => {
            warn!(target: TARGET, "{why}: the sockets passed by {passer} are ignored");
            sys::socket::mark_listen_fds_cloexec(ours);
            Vec::new()
        }
        Plan::Adopt(names) => take(names),
    }
}

/// Takes fds 3.. and keeps those that can be offered under their names.
fn take(names: Vec<String>) -> Vec<Entry> {
    let passer = super::passer();
    let mut entries: Vec<Entry> = Vec::new();
    let taken = sys::socket::take_listen_fds(names.len());
    for ((fd, owned), name) in taken.into_iter().zip(names) {
        let owned = match owned {
            Ok(owned) => owned,
            Err(e) => {
                warn!(target: TARGET, "The fd {fd} ({name}) passed by {passer} cannot be used: {e}");
                continue;
            }
        };
        let kind = match check(&owned) {
            Ok(kind) => kind,
            Err(why) => {
                warn!(
                    target: TARGET,
                    "The fd {fd} ({name}) passed by {passer} {why}: not offered to workers"
                );
                sys::pipe::abandon(owned);
                continue;
            }
        };
        info!(
            target: TARGET,
            "Adopted the socket {name} (fd {fd}, {}) passed by {passer}",
            local_addr(&owned)
        );
        let mut origin = Origin::Systemd;
        if let Some(first) = entries.iter().find(|e| e.name == name) {
            info!(
                target: TARGET,
                "The fd {fd} passed by {passer} has the name {name} of fd {} too: offered to \
                 workers by that name only if a listen() call asks for its address",
                first.fd.as_raw_fd()
            );
            origin = Origin::SystemdShadowed;
        }
        entries.push(Entry {
            name,
            fd: owned,
            kind,
            origin,
        });
    }
    entries
}

/// The kind of listener `fd` is, after putting it in blocking mode; or why it
/// cannot be offered.
pub(super) fn check(fd: &OwnedFd) -> Result<Kind, String> {
    let stat = nix::sys::stat::fstat(fd).map_err(|e| format!("cannot be examined ({e})"))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        return Err("is not a socket".to_owned());
    }
    let stream =
        nix::sys::socket::getsockopt(fd, sockopt::SockType).is_ok_and(|t| t == SockType::Stream);
    let listening = nix::sys::socket::getsockopt(fd, sockopt::AcceptConn).unwrap_or(false);
    if !(stream && listening) {
        return Err("is not a listening stream socket".to_owned());
    }
    let family = nix::sys::socket::getsockname::<SockaddrStorage>(fd.as_raw_fd())
        .ok()
        .and_then(|a| a.family());
    let kind = match family {
        Some(AddressFamily::Inet | AddressFamily::Inet6) => Kind::Tcp,
        Some(AddressFamily::Unix) => Kind::Unix,
        _ => return Err("is neither an IP nor a Unix-domain socket".to_owned()),
    };
    set_blocking(fd).map_err(|e| format!("cannot be made blocking ({e})"))?;
    Ok(kind)
}

/// Clears `O_NONBLOCK` on a socket systemd passed. Not on one an upgrading
/// master passed: the mode belongs to the open file description, which the
/// old generation's workers share and still serve on (an async worker's
/// `accept` must not start blocking under it); the new workers set the mode
/// they need as the old ones did.
fn set_blocking(fd: &OwnedFd) -> nix::Result<()> {
    if super::upgrade::by_upgrade() {
        return Ok(());
    }
    let passer = super::passer();
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    if flags.contains(OFlag::O_NONBLOCK) {
        debug!(
            target: TARGET,
            "The fd {} passed by {passer} was non-blocking: made blocking",
            fd.as_raw_fd()
        );
        fcntl(fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    }
    Ok(())
}

/// Removes the variables that are set, if the process is single-threaded;
/// warns otherwise (workers will see them, and ignore them: their pid is not
/// `LISTEN_PID`).
fn clear_environment(vars: &[Option<OsString>; 3]) {
    for (key, value) in [PID, FDS, NAMES].iter().zip(vars) {
        if value.is_none() {
            continue;
        }
        match sys::env::remove_var_if_single_threaded(key) {
            Ok(()) => {}
            Err(Kept::Threads(n)) => warn!(
                target: TARGET,
                "{key} is left in the environment because the process has {n} threads \
                 (workers will inherit it, and ignore it)"
            ),
            Err(Kept::Unknown) => warn!(
                target: TARGET,
                "{key} is left in the environment because the number of threads of the \
                 process cannot be checked on this system (workers will inherit it, and \
                 ignore it)"
            ),
        }
    }
}
