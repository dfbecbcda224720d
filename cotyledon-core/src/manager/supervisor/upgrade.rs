//! The binary upgrade, as the supervisor decides it (pure). The old master
//! asks the shell to start the new binary ([`Action::StartUpgrade`]), waits at
//! most the upgrade timeout for the new master to say every one of its workers
//! is ready, then hands over ([`Action::HandOver`]: `MAINPID=` and `READY=1` to
//! systemd, then silence) and leaves as in a graceful shutdown, exiting 0.
//! Anything else — the binary cannot be started, the new master exits, says
//! something else, or is not ready in time — is a failed attempt: an ERROR,
//! what is left of it is killed (SIGINT, then SIGKILL after
//! [`CLEAR_GRACE`]), and this master goes on serving as if nothing happened.
//! One attempt at a time. A SIGTERM or SIGINT during an attempt is passed on
//! to the new master, and this master exits only once it is reaped.
//!
//! The new master's side is one flag: its first readiness is told to the old
//! master ([`Action::TellReady`]) instead of systemd.

use std::time::{Duration, Instant};

use log::Level;
use nix::sys::signal::Signal;

use super::vocabulary::{Action, Phase};
use super::{Out, Supervisor, pacing};
use crate::hooks::{WorkerExit, signal_name};

/// How long a failed new master has between SIGINT and SIGKILL.
pub(crate) const CLEAR_GRACE: Duration = Duration::from_secs(2);

/// An upgrade under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The shell was asked to start the new master; its answer comes next.
    Starting,
    /// The new master runs; it must be ready by `deadline`.
    Booting { pid: i32, deadline: Instant },
    /// It failed or this master is stopping: it was told to go (SIGINT or
    /// SIGTERM), and is SIGKILLed at `kill_at` if still there.
    Clearing { pid: i32, kill_at: Option<Instant> },
    /// It is ready and serving: this master leaves.
    HandedOver { pid: i32 },
}

impl Supervisor {
    /// SIGUSR2 or `upgrade()`: starts an attempt, unless one is under way, the
    /// master is stopping, or this master is itself a new one not ready yet.
    pub(super) fn begin_upgrade(&mut self, signal: bool, out: &mut Out) {
        let what = if signal {
            "Caught SIGUSR2 signal"
        } else {
            "Upgrade asked"
        };
        if self.phase != Phase::Running {
            out.log(Level::Info, format!("{what} during the shutdown: ignored"));
            return;
        }
        if self.handover_pending {
            out.log(
                Level::Warn,
                format!(
                    "{what} before this master took over from the old one (not every worker \
                     is ready yet): ignored"
                ),
            );
            return;
        }
        if self.upgrade.is_some() {
            out.log(Level::Warn, format!("{what} during an upgrade: ignored"));
            return;
        }
        out.log(
            Level::Info,
            format!("{what}, upgrading: starting a new master"),
        );
        self.upgrade = Some(Attempt::Starting);
        self.metrics.upgrades.started += 1;
        self.trouble = None;
        out.notify(self.protocol.reloading(self.mono_us));
        out.actions.push(Action::StartUpgrade);
    }

    /// The shell started the new master.
    pub(super) fn upgrade_started(&mut self, pid: i32, now: Instant, out: &mut Out) {
        if self.upgrade != Some(Attempt::Starting) {
            return;
        }
        if self.phase != Phase::Running {
            // A shutdown came first: the new master goes too.
            let signal = match self.phase {
                Phase::Instant { .. } => Signal::SIGINT,
                _ => Signal::SIGTERM,
            };
            out.signal(pid, signal);
            self.upgrade = Some(Attempt::Clearing { pid, kill_at: None });
            return;
        }
        let timeout = self.upgrade_timeout;
        out.log(
            Level::Info,
            format!(
                "Upgrade: new master [{pid}] started; waiting up to {timeout:?} for every one \
                 of its workers to be ready"
            ),
        );
        self.upgrade = Some(Attempt::Booting {
            pid,
            deadline: pacing::deadline_after(now, timeout),
        });
    }

    /// The attempt failed for `reason`: ERROR, what is left of it told to go,
    /// and the reload job systemd saw ends.
    pub(super) fn upgrade_failed(&mut self, reason: &str, now: Instant, out: &mut Out) {
        let pid = match self.upgrade {
            Some(Attempt::Starting) => None,
            Some(Attempt::Booting { pid, .. }) => Some(pid),
            _ => return,
        };
        out.log(
            Level::Error,
            format!("Upgrade failed: {reason}; this master keeps serving"),
        );
        self.metrics.upgrades.failed += 1;
        self.upgrade = pid.map(|pid| {
            out.signal(pid, Signal::SIGINT);
            let kill_at = pacing::deadline_after(now, CLEAR_GRACE);
            out.wake_at(Some(kill_at));
            Attempt::Clearing {
                pid,
                kill_at: Some(kill_at),
            }
        });
        let busy = self.plans.iter().any(|p| p.rollout.is_some());
        let status = self.status();
        let all_ready = self.table.all_ready();
        out.notify(self.protocol.reload_failed(
            &format!("upgrade failed: {reason}"),
            status,
            all_ready,
            busy,
        ));
    }

    /// The new master said every one of its workers is ready: hand over, then
    /// leave as in a graceful shutdown.
    pub(super) fn upgrade_ready(&mut self, now: Instant, out: &mut Out) {
        let Some(Attempt::Booting { pid, .. }) = self.upgrade else {
            return;
        };
        if self.phase != Phase::Running {
            return;
        }
        out.log(
            Level::Info,
            format!(
                "Upgrade: new master [{pid}] is ready; this master hands over and leaves \
                 (graceful exit of its workers)"
            ),
        );
        self.upgrade = Some(Attempt::HandedOver { pid });
        self.metrics.upgrades.handed_over += 1;
        self.protocol.silence();
        out.actions.push(Action::HandOver(pid));
        self.enter_graceful(now, out);
    }

    /// The new master was reaped. Whether it was the attempt's is told by the
    /// return value.
    pub(super) fn upgrade_reaped(
        &mut self,
        pid: i32,
        exit: WorkerExit,
        now: Instant,
        out: &mut Out,
    ) -> bool {
        let how = match exit {
            WorkerExit::Exited(code) => format!("exited with status {code}"),
            WorkerExit::Signaled(sig) => format!("was killed by signal {}", signal_name(sig)),
        };
        match self.upgrade {
            Some(Attempt::Booting { pid: p, .. }) if p == pid => {
                self.upgrade_failed(
                    &format!("the new master [{pid}] {how} before it was ready"),
                    now,
                    out,
                );
                self.upgrade = None;
                true
            }
            Some(Attempt::Clearing { pid: p, .. }) if p == pid => {
                out.log(Level::Info, format!("Upgrade: new master [{pid}] {how}"));
                self.upgrade = None;
                true
            }
            Some(Attempt::HandedOver { pid: p }) if p == pid => {
                out.log(
                    Level::Error,
                    format!("Upgrade: the new master [{pid}] {how} after it took over"),
                );
                self.upgrade = None;
                true
            }
            _ => false,
        }
    }

    /// The pid the shell must reap besides the workers: the new master of an
    /// attempt, until it is reaped.
    pub(crate) fn upgrade_pid(&self) -> Option<i32> {
        match self.upgrade? {
            Attempt::Starting => None,
            Attempt::Booting { pid, .. }
            | Attempt::Clearing { pid, .. }
            | Attempt::HandedOver { pid } => Some(pid),
        }
    }

    /// Whether an attempt is under way (the new master not ready yet).
    pub(super) fn upgrading(&self) -> bool {
        matches!(
            self.upgrade,
            Some(Attempt::Starting | Attempt::Booting { .. })
        )
    }

    /// Whether the new master of an attempt must be gone before this master
    /// exits (it is not once it took over).
    pub(super) fn upgrade_pending(&self) -> bool {
        matches!(
            self.upgrade,
            Some(Attempt::Starting | Attempt::Booting { .. } | Attempt::Clearing { .. })
        )
    }

    /// The shutdown starts (`signal`: SIGTERM or SIGINT): the new master of an
    /// attempt under way gets it too.
    pub(super) fn upgrade_stopping(&mut self, signal: Signal, out: &mut Out) {
        if let Some(Attempt::Booting { pid, .. } | Attempt::Clearing { pid, .. }) = self.upgrade {
            out.signal(pid, signal);
            self.upgrade = Some(Attempt::Clearing { pid, kill_at: None });
        }
    }

    /// Each turn: the attempt's deadlines.
    pub(super) fn upgrade_tick(&mut self, now: Instant, out: &mut Out) {
        match self.upgrade {
            Some(Attempt::Booting { pid, deadline }) => {
                if now >= deadline {
                    let timeout = self.upgrade_timeout;
                    self.upgrade_failed(
                        &format!("the new master [{pid}] was not ready within {timeout:?}"),
                        now,
                        out,
                    );
                } else {
                    out.wake_at(Some(deadline));
                }
            }
            Some(Attempt::Clearing {
                pid,
                kill_at: Some(at),
            }) => {
                if now >= at {
                    out.signal(pid, Signal::SIGKILL);
                    self.upgrade = Some(Attempt::Clearing { pid, kill_at: None });
                } else {
                    out.wake_at(Some(at));
                }
            }
            _ => {}
        }
    }

    /// At the exits' last resort (SIGKILL to every worker): the new master of
    /// an attempt too.
    pub(super) fn upgrade_kill(&mut self, out: &mut Out) {
        if self.upgrade_pending()
            && let Some(pid) = self.upgrade_pid()
        {
            out.signal(pid, Signal::SIGKILL);
        }
    }

    /// The new master's side: its first readiness goes to the old master.
    pub(super) fn tell_ready_if_first(&mut self, msgs: &mut Vec<String>, out: &mut Out) {
        if !self.handover_pending {
            return;
        }
        if let Some(i) = msgs.iter().position(|m| m == "READY=1") {
            msgs.remove(i);
            self.handover_pending = false;
            // The status that says all are ready goes out first.
            out.notify(std::mem::take(msgs));
            out.log(
                Level::Info,
                "Upgrade: every worker is ready; telling the old master to hand over",
            );
            out.actions.push(Action::TellReady);
        }
    }
}
