//! What hooks ask through their [`ManagerHandle`](crate::ManagerHandle): the one
//! place where requests change the supervisor. A handle only records them
//! (checked when recorded, so a hook's `?` sees a refused count); they are
//! applied here once the hooks return, or dropped if a configuration re-read
//! fails, so a rejected configuration changes nothing.

use std::time::Instant;

use super::vocabulary::Request;
use super::{Action, Input, Out, StopWhy, Supervisor};
use crate::manager::policy::Reload;

impl Supervisor {
    /// Applies requests, in the order they were made.
    pub(crate) fn apply(&mut self, requests: Vec<Request>, now: Instant, out: &mut Out) {
        for request in requests {
            match request {
                Request::Reconfigure(index, workers) => {
                    let id = self.table.service(index).id;
                    // Checked when recorded; refused here only if a later
                    // request of the same run changed the total.
                    if self.table.set_desired(id, workers).is_ok() {
                        self.pacing.reset();
                        self.backoff.reset();
                    }
                }
                Request::Shutdown => {
                    if !self.queued.contains(&Input::Terminate) {
                        self.queued.insert(0, Input::Terminate);
                    }
                }
                Request::GracefulTimeout(timeout) => {
                    self.graceful_timeout = timeout;
                    out.actions.push(Action::SetGracefulTimeout(timeout));
                }
                Request::Restart(index, worker) => {
                    self.ask_to_stop(index, worker, StopWhy::Restart, now, out);
                }
                Request::Stop(index, worker) => {
                    self.table.hold(index, worker, true);
                    self.ask_to_stop(index, worker, StopWhy::Held, now, out);
                }
                Request::Start(index, worker) => {
                    self.table.hold(index, worker, false);
                }
                Request::RollingRestart(index) => {
                    let batch = match self.services[index].policy.reload {
                        Reload::Rolling { batch } => batch,
                        _ => 1,
                    };
                    self.start_rollout(index, true, batch, now, out);
                }
                Request::Upgrade => {
                    let input = Input::Upgrade { signal: false };
                    if !self.queued.contains(&input) {
                        self.queued.push(input);
                    }
                }
            }
        }
    }

    /// What the control endpoint, SIGTTIN or SIGTTOU asked: applied as hooks'
    /// requests are, while the manager runs (a shutdown under way ignores it).
    pub(super) fn control(&mut self, requests: Vec<Request>, now: Instant, out: &mut Out) {
        if self.phase == super::Phase::Running {
            self.apply(requests, now, out);
        }
    }

    /// Applies requests made before `run()` (a configuration applied at start):
    /// there is no worker yet, so only counts, holds and settings change.
    pub(crate) fn apply_now(&mut self, requests: Vec<Request>, now: Instant) -> Vec<Action> {
        let mut out = Out::default();
        self.apply(requests, now, &mut out);
        out.actions
    }
}
