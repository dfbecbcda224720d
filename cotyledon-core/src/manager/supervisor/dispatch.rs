//! Serving one input of a step: which decision each event leads to.

use std::time::Instant;

use log::Level;

use super::vocabulary::Phase;
use super::{Input, Out, Supervisor};

impl Supervisor {
    /// Serves one input.
    pub(super) fn handle(&mut self, input: Input, now: Instant, out: &mut Out) {
        match input {
            Input::Terminate => self.begin_graceful(now, out),
            Input::Interrupt => {
                if !matches!(self.phase, Phase::Instant { .. }) {
                    out.log(Level::Info, "Caught SIGINT signal, instantaneous exiting");
                    self.begin_instant(now, out);
                }
            }
            Input::GracefulDeadline => {
                if !matches!(self.phase, Phase::Instant { .. }) {
                    self.graceful_timeout_exceeded(now, out);
                }
            }
            Input::Hangup => self.begin_reload(now, out),
            Input::Control(requests) => self.control(requests, now, out),
            Input::Upgrade { signal } => self.begin_upgrade(signal, out),
            Input::UpgradeStarted { pid } => self.upgrade_started(pid, now, out),
            Input::UpgradeFailed(reason) => self.upgrade_failed(&reason, now, out),
            Input::UpgradeReady => self.upgrade_ready(now, out),
            Input::Reaped(pid, exit) => self.reaped(pid, exit, now, out),
            Input::Forked {
                index,
                worker,
                pid,
                slot,
                at,
            } => {
                self.table.insert(index, worker, pid, at.min(now)).slot = slot;
                self.metrics.forked(index, worker);
                let planned = self.plans[index].replacing(worker);
                self.pacing.forked(now, planned);
                // The facts of this step were read before the worker was in
                // the table: its slot is read at once at the next step (a notice
                // it sent meanwhile may already be consumed).
                out.wake_at(Some(now));
            }
            Input::ForkFailed {
                index,
                worker,
                error,
            } => {
                let delay = self.pacing.fork_failed(now);
                self.metrics.fork_failed(index);
                let name = self.services[index].name;
                out.log(
                    Level::Error,
                    format!(
                        "Could not fork worker {name}({worker}): {error}; retrying in {delay:?}"
                    ),
                );
            }
            // Served in `step`.
            Input::HooksDone { .. } => {}
        }
    }
}
