//! Reaping dead workers: only known pids (a program's own children keep their
//! statuses), except as PID 1.

use log::warn;
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::hooks::WorkerExit;
use crate::manager::supervisor::{Input, Table};

const TARGET: &str = "cotyledon::manager";

/// Which children the shell reaps: the workers of the supervisor's table, the
/// new master of an upgrade, and the children forked whose answers (`Forked`,
/// `UpgradeStarted`) the supervisor has not served yet. One of those may die
/// before its pid is in the table: its SIGCHLD is read once, so it must be
/// reaped then (the supervisor serves its exit after its answer, by rank), or
/// it would stay a zombie, never respawned.
#[derive(Debug, Default)]
pub(super) struct Reaper {
    unlisted: Vec<i32>,
}

impl Reaper {
    /// The children forked by the last actions, from their answers (before
    /// the supervisor serves them: one may be dead already, its SIGCHLD read
    /// in this very step).
    pub(super) fn answered(&mut self, answers: &[Input]) {
        self.forked(answers.iter().filter_map(|i| match *i {
            Input::Forked { pid, .. } | Input::UpgradeStarted { pid } => Some(pid),
            _ => None,
        }));
    }

    /// Children just forked, not yet known to the supervisor.
    fn forked(&mut self, pids: impl IntoIterator<Item = i32>) {
        self.unlisted.extend(pids);
    }

    /// Reaps the dead among the known children (`upgrade`: the new master).
    pub(super) fn collect(
        &mut self,
        table: &Table,
        upgrade: Option<i32>,
        pid1: bool,
    ) -> Vec<(i32, WorkerExit)> {
        let mut extra = self.unlisted.clone();
        extra.extend(upgrade);
        let dead = collect_dead(table, &extra, pid1);
        self.unlisted.retain(|p| !dead.iter().any(|(d, _)| d == p));
        dead
    }

    /// After a step: the children the supervisor now knows need no listing.
    pub(super) fn settle(&mut self, table: &Table, upgrade: Option<i32>) {
        self.unlisted
            .retain(|&pid| !table.contains(pid) && upgrade != Some(pid));
    }
}

/// Reaps dead workers (and `extra`: children forked since the table was last
/// updated, and the new master of an upgrade) and returns their pids and exits.
///
/// Only known pids are reaped, so that the statuses of the program's own
/// children stay theirs (except as PID 1, where every child is reaped). On
/// Linux a `waitid(WNOWAIT)` peek finds the dead child without reaping it, so a
/// death costs O(1) rather than a `waitpid` on every worker; when the peek
/// shows a child that is not a worker, every worker pid is tried in turn.
fn collect_dead(table: &Table, extra: &[i32], pid1: bool) -> Vec<(i32, WorkerExit)> {
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
            if !table.contains(pid.as_raw()) && !extra.contains(&pid.as_raw()) {
                break;
            }
            if let Ok(status) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                dead.extend(exit_of(status));
            }
        }
    }
    for pid in table.pids().into_iter().chain(extra.iter().copied()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{Id, waitid};

    /// A child that exits with `code` at once, left a zombie (waited for
    /// without being reaped): each test reaps it.
    #[allow(clippy::zombie_processes)]
    fn dead_child(code: i32) -> i32 {
        let child = std::process::Command::new("sh")
            .args(["-c", &format!("exit {code}")])
            .spawn()
            .expect("sh starts");
        let pid = Pid::from_raw(child.id() as i32);
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        waitid(Id::Pid(pid), flags).expect("waitid");
        pid.as_raw()
    }

    #[test]
    fn a_child_dead_before_the_table_holds_it_is_reaped_once_listed() {
        let table = Table::default();
        let mut reaper = Reaper::default();
        let pid = dead_child(7);
        reaper.forked([pid]);
        assert_eq!(
            reaper.collect(&table, None, false),
            vec![(pid, WorkerExit::Exited(7))]
        );
        // Reaped: no longer listed, and gone for good.
        assert!(reaper.unlisted.is_empty());
        assert_eq!(
            waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)),
            Err(Errno::ECHILD)
        );
    }

    #[test]
    fn a_child_nobody_listed_is_left_to_its_owner() {
        // The program's own child: its status stays the program's.
        let pid = dead_child(3);
        assert_eq!(
            Reaper::default().collect(&Table::default(), None, false),
            vec![]
        );
        assert_eq!(
            waitpid(Pid::from_raw(pid), None),
            Ok(WaitStatus::Exited(Pid::from_raw(pid), 3))
        );
    }

    #[test]
    fn the_new_master_of_an_upgrade_is_reaped_and_settled_pids_are_dropped() {
        let mut reaper = Reaper::default();
        let mut alive = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        reaper.forked([alive.id() as i32]);
        let upgrade = dead_child(0);
        reaper.answered(&[Input::UpgradeStarted { pid: upgrade }, Input::Hangup]);
        reaper.settle(&Table::default(), Some(upgrade));
        assert_eq!(reaper.unlisted, vec![alive.id() as i32]);
        assert_eq!(
            reaper.collect(&Table::default(), Some(upgrade), false),
            vec![(upgrade, WorkerExit::Exited(0))]
        );
        // The living child stays listed until it dies.
        assert_eq!(reaper.unlisted, vec![alive.id() as i32]);
        alive.kill().expect("kill");
        alive.wait().expect("wait");
    }
}
