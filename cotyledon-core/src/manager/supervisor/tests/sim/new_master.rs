//! The simulated new master of a binary upgrade: started by the shell's answer
//! to `StartUpgrade`, ready (on its pipe) or dead on its own schedule, and
//! answering signals as a master does.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::super::super::Input;
use super::{Sim, ms};
use crate::hooks::WorkerExit;

/// How a simulated new master of an upgrade behaves.
#[derive(Clone, Debug)]
pub(crate) struct NewMaster {
    /// The shell could not start it (the binary is missing, say).
    pub(crate) start_error: Option<String>,
    /// From its start to "ready" on its pipe (`None`: never).
    pub(crate) ready_after: Option<Duration>,
    /// It exits on its own this long after its start.
    pub(crate) dies_after: Option<(Duration, WorkerExit)>,
    /// From SIGTERM or SIGINT to its exit (`None`: it ignores them).
    pub(crate) stop: Option<Duration>,
}

impl Default for NewMaster {
    fn default() -> Self {
        NewMaster {
            start_error: None,
            ready_after: Some(ms(500)),
            dies_after: None,
            stop: Some(ms(20)),
        }
    }
}

/// A running simulated new master.
#[derive(Clone, Debug)]
pub(crate) struct NewProc {
    pub(crate) pid: i32,
    pub(crate) started: Instant,
    pub(crate) told: bool,
    pub(crate) die: Option<(Instant, WorkerExit)>,
}

impl Sim {
    /// The shell's answer to `StartUpgrade`.
    pub(crate) fn start_new_master(&mut self) -> Input {
        self.upgrades_started += 1;
        assert!(
            self.new_proc.is_none(),
            "a second new master while one runs"
        );
        if let Some(e) = &self.new_master.start_error {
            return Input::UpgradeFailed(e.clone());
        }
        let pid = self.next_pid;
        self.next_pid += 1;
        self.new_pids.push(pid);
        self.new_proc = Some(NewProc {
            pid,
            started: self.now,
            told: false,
            die: self
                .new_master
                .dies_after
                .map(|(after, exit)| (self.now + after, exit)),
        });
        Input::UpgradeStarted { pid }
    }

    /// A signal to the new master (`false`: `pid` is not it).
    pub(crate) fn signal_new_master(&mut self, pid: i32, signal: Signal) -> bool {
        let now = self.now;
        let Some(n) = self.new_proc.as_mut().filter(|n| n.pid == pid) else {
            return false;
        };
        match (signal, self.new_master.stop) {
            (Signal::SIGKILL, _) => n.die = Some((now, WorkerExit::Signaled(9))),
            (Signal::SIGTERM, Some(d)) => n.die = n.die.or(Some((now + d, WorkerExit::Exited(0)))),
            (Signal::SIGINT, Some(d)) => n.die = n.die.or(Some((now + d, WorkerExit::Exited(1)))),
            _ => {}
        }
        true
    }

    /// What the new master does on its own up to now.
    pub(crate) fn new_master_lives(&mut self) {
        let now = self.now;
        let Some(n) = &mut self.new_proc else {
            return;
        };
        if let Some((at, exit)) = n.die
            && now >= at
        {
            self.reaped.push(Input::Reaped(n.pid, exit));
            self.new_proc = None;
        } else if !n.told
            && self
                .new_master
                .ready_after
                .is_some_and(|d| now >= n.started + d)
        {
            n.told = true;
            self.reaped.push(Input::UpgradeReady);
        }
    }
}
