//! Listeners across a binary upgrade: what the old master passes (every
//! socket, and which its `listen()` calls took), and what the new one does
//! with them (adopts them as systemd's, closes those its build dropped).

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;

use log::info;

use super::{Origin, TARGET, local_addr, registry};

/// In the new master of an upgrade: remembers which passed sockets the old
/// master had taken with `listen()` (indexes from fd 3), for
/// [`close_unclaimed_from_upgrade`]; and that log lines name the old master.
pub(super) fn expect(claimed: &[usize]) {
    BY_UPGRADE.store(true, std::sync::atomic::Ordering::SeqCst);
    *EXPECTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = claimed
        .iter()
        .filter_map(|&i| RawFd::try_from(i).ok())
        .map(|i| i.saturating_add(3))
        .collect();
}

/// Set in the new master of a binary upgrade: its `LISTEN_FDS` come from the
/// old master, not from systemd (for log lines).
static BY_UPGRADE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process is the new master of an upgrade.
pub(super) fn by_upgrade() -> bool {
    BY_UPGRADE.load(std::sync::atomic::Ordering::SeqCst)
}

/// Who passed this process its sockets, as log lines name it.
pub(super) fn passer() -> &'static str {
    if BY_UPGRADE.load(std::sync::atomic::Ordering::SeqCst) {
        "the old master"
    } else {
        "systemd"
    }
}

/// Every listener of this process for a binary upgrade's new master, in order:
/// the name it is passed under (`LISTEN_FDNAMES`: one that systemd's
/// colon-separated list cannot carry goes as `unknown`, and is still taken by
/// address) and its fd. The sockets stay open here: the old master keeps
/// serving on them until it leaves.
///
/// The third value says whether a `listen()` call of this program took it
/// (bound it, or claimed a passed socket): the new master closes such a socket
/// if none of its own `listen()` calls takes it (a listener the new build
/// dropped), where a socket passed by systemd that no `listen()` took stays
/// offered by name, as systemd's are.
pub(crate) fn for_handover() -> Vec<(String, RawFd, bool)> {
    registry()
        .iter()
        .map(|e| {
            let name = if e.name.is_empty() || e.name.contains(':') || e.name.contains('\0') {
                "unknown".to_owned()
            } else {
                e.name.clone()
            };
            let claimed = matches!(e.origin, Origin::Bound | Origin::SystemdClaimed);
            (name, e.fd.as_raw_fd(), claimed)
        })
        .collect()
}

/// In the new master of an upgrade: the fds of sockets the old master had
/// taken with `listen()` (see [`for_handover`]).
static EXPECTED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// In the new master of an upgrade, before its first fork: closes the sockets
/// the old master had taken with `listen()` that no `listen()` call of this
/// build took (a listener the new build no longer has), so that its port or
/// path refuses connections once the old workers are gone instead of queueing
/// them for nobody.
pub(crate) fn close_unclaimed_from_upgrade() {
    let expected = std::mem::take(
        &mut *EXPECTED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    registry().retain(|e| {
        let drop = e.origin.is_passed_and_free() && expected.contains(&e.fd.as_raw_fd());
        if drop {
            info!(
                target: TARGET,
                "The listener {} ({}) of the old master is not in this build: closed",
                e.name,
                local_addr(&e.fd)
            );
        }
        !drop
    });
}
