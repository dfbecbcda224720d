//! How workers and the master go: a reaped worker (log line, crash back-off,
//! dead-worker hooks), asking workers to stop, the graceful shutdown (SIGTERM
//! or `shutdown()`), its timeout, and the instantaneous exit (SIGINT).

use std::time::Instant;

use log::Level;
use nix::sys::signal::Signal;

use super::metrics::{ExitWhy, LastExit};
use super::vocabulary::{Action, HookCall, Phase, Then};
use super::{INSTANT_EXIT_GRACE, Life, Out, StopWhy, Supervisor, pacing};
use crate::hooks::{WorkerExit, signal_name};
use crate::ids::WorkerId;

impl Supervisor {
    /// A reaped worker: the log line, the back-off, the dead-worker hooks.
    pub(super) fn reaped(&mut self, pid: i32, exit: WorkerExit, now: Instant, out: &mut Out) {
        if self.upgrade_reaped(pid, exit, now, out) {
            return;
        }
        let Some(removed) = self.table.remove_pid(pid) else {
            return;
        };
        out.actions.push(Action::Release(removed.running.slot));
        match exit {
            WorkerExit::Exited(code) => out.log(
                Level::Info,
                format!("Child {pid} exited with status {code}"),
            ),
            WorkerExit::Signaled(sig) => out.log(
                Level::Info,
                format!("Child {pid} killed by signal {}", signal_name(sig)),
            ),
        }
        let slot = (removed.index, removed.worker);
        let life = removed.running.life;
        let why = ExitWhy::of(life, exit, self.phase == Phase::Running);
        self.metrics
            .exited(slot.0, slot.1, LastExit { exit, at: now, why });
        if life.asked_to_stop() || self.phase != Phase::Running || exit == WorkerExit::Exited(0) {
            self.backoff.forget(slot);
        } else {
            // A worker killed for missing its boot timeout died early, however
            // long it was given.
            let started = if life == (Life::Killed { boot: true }) {
                now
            } else {
                removed.started
            };
            if let Some(delay) = self.backoff.died(slot, started, now) {
                out.log(
                    Level::Info,
                    format!(
                        "Worker {}({}) keeps dying right after start, respawning it in {delay:?}",
                        self.services[removed.index].name, removed.worker
                    ),
                );
            }
        }
        self.then = Some(Then::Nothing);
        out.actions.push(Action::RunHooks(HookCall::DeadWorker {
            index: removed.index,
            worker: removed.worker,
            exit,
        }));
    }

    /// SIGTERM or `shutdown()`: STOPPING=1, the deadline, the terminate hooks,
    /// then SIGTERM to every worker.
    pub(super) fn begin_graceful(&mut self, now: Instant, out: &mut Out) {
        if self.phase != Phase::Running {
            return;
        }
        out.log(
            Level::Info,
            "Caught SIGTERM signal, graceful exiting of master process",
        );
        out.notify(self.protocol.stopping());
        self.upgrade_stopping(Signal::SIGTERM, out);
        self.enter_graceful(now, out);
    }

    /// The graceful shutdown's course: the deadline, the terminate hooks, then
    /// SIGTERM to every worker (also how a master leaves after an upgrade).
    pub(super) fn enter_graceful(&mut self, now: Instant, out: &mut Out) {
        out.actions.push(Action::ArmGraceful);
        let timeout = self.graceful_timeout;
        self.phase = Phase::Graceful {
            // A deadline too far to represent is no deadline.
            deadline: (!timeout.is_zero())
                .then(|| now.checked_add(timeout))
                .flatten(),
        };
        for plan in &mut self.plans {
            plan.clear();
        }
        // Any continuation (a reload) is abandoned: the shutdown outranks it.
        self.then = Some(Then::KillServices);
        out.actions.push(Action::RunHooks(HookCall::Terminate));
    }

    pub(super) fn graceful_timeout_exceeded(&mut self, now: Instant, out: &mut Out) {
        out.log(
            Level::Info,
            "Graceful shutdown timeout exceeded, instantaneous exiting of master process",
        );
        self.begin_instant(now, out);
    }

    /// SIGINT or the graceful timeout: STOPPING=1, SIGINT to every worker, exit
    /// once they are gone (SIGKILL after a second).
    pub(super) fn begin_instant(&mut self, now: Instant, out: &mut Out) {
        out.notify(self.protocol.stopping());
        self.upgrade_stopping(Signal::SIGINT, out);
        self.phase = Phase::Instant {
            deadline: pacing::deadline_after(now, INSTANT_EXIT_GRACE),
        };
        self.then = None;
        for plan in &mut self.plans {
            plan.clear();
        }
        for pid in self.table.pids() {
            out.signal(pid, Signal::SIGINT);
        }
    }

    /// SIGTERM to every worker (the shutdown).
    pub(super) fn stop_all(&mut self, now: Instant, out: &mut Out) {
        for (index, worker, pid) in self.table.workers() {
            self.table.set_life(
                index,
                worker,
                Life::Stopping {
                    why: StopWhy::Shutdown,
                    since: now,
                },
                now,
            );
            out.signal(pid, Signal::SIGTERM);
        }
    }

    /// Sends SIGTERM, once, to the workers above their service's count.
    pub(super) fn stop_excess(&mut self, now: Instant, out: &mut Out) {
        for pid in self.table.take_excess(now) {
            out.signal(pid, Signal::SIGTERM);
        }
    }

    /// Asks one worker to stop (SIGTERM), for `why`: its death is no crash.
    pub(super) fn ask_to_stop(
        &mut self,
        index: usize,
        worker: WorkerId,
        why: StopWhy,
        now: Instant,
        out: &mut Out,
    ) {
        let Some(r) = self.table.get(index, worker) else {
            return;
        };
        if r.life.asked_to_stop() {
            return;
        }
        let pid = r.pid;
        self.table
            .set_life(index, worker, Life::Stopping { why, since: now }, now);
        out.signal(pid, Signal::SIGTERM);
    }
}
