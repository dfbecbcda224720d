//! Reaping dead workers: only known pids (a program's own children keep their
//! statuses), except as PID 1.

use log::warn;
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::hooks::WorkerExit;
use crate::manager::supervisor::Table;

const TARGET: &str = "cotyledon::manager";

/// Reaps dead workers (and `extra`, the new master of an upgrade) and returns
/// their pids and exits.
///
/// Only known pids are reaped, so that the statuses of the program's own
/// children stay theirs (except as PID 1, where every child is reaped). On
/// Linux a `waitid(WNOWAIT)` peek finds the dead child without reaping it, so a
/// death costs O(1) rather than a `waitpid` on every worker; when the peek
/// shows a child that is not a worker, every worker pid is tried in turn.
pub(super) fn collect_dead(
    table: &Table,
    extra: Option<i32>,
    pid1: bool,
) -> Vec<(i32, WorkerExit)> {
    let mut dead = Vec::new();
    if pid1 {
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            match exit_of(status) {
                Some(d) => dead.push(d),
                None => break,
            }
        }
        return dead;
    }
    #[cfg(target_os = "linux")]
    {
        use nix::sys::wait::{Id, waitid};
        let peek = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        loop {
            let pid = match waitid(Id::All, peek) {
                Ok(status) => match status.pid() {
                    Some(pid) => pid,
                    None => return dead,
                },
                Err(_) => return dead,
            };
            if !table.contains(pid.as_raw()) && extra != Some(pid.as_raw()) {
                break;
            }
            if let Ok(status) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                dead.extend(exit_of(status));
            }
        }
    }
    for pid in table.pids().into_iter().chain(extra) {
        if dead.iter().any(|(p, _)| *p == pid) {
            continue;
        }
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => dead.extend(exit_of(status)),
            Err(Errno::ECHILD) => {
                warn!(target: TARGET, "Child {pid} was reaped by someone else");
                dead.push((pid, WorkerExit::Exited(-1)));
            }
            Err(_) => {}
        }
    }
    dead
}

/// The pid and exit of a reaped child, or `None` if nothing was reaped.
fn exit_of(status: WaitStatus) -> Option<(i32, WorkerExit)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), WorkerExit::Exited(code))),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), WorkerExit::Signaled(sig as i32))),
        _ => None,
    }
}
