//! When to fork: the first missing worker whose id is not backing off after
//! quick crashes, if cotyledon's pacing (`wait_interval`, the fork limiter) lets
//! it; otherwise when to look again.

use std::time::Instant;

use log::Level;

use super::pacing::Gate;
use super::rollout::earliest;
use super::vocabulary::Action;
use super::{Out, Supervisor};

impl Supervisor {
    /// Starts one missing worker if pacing allows; records when to try again.
    pub(super) fn spawn(&mut self, room: bool, now: Instant, out: &mut Out) {
        // The first missing worker whose id is not backing off; otherwise, when
        // the first back-off ends.
        let mut ready = None;
        let mut backing_off: Option<Instant> = None;
        for slot in self.table.missing() {
            match self.backoff.not_before(slot, now) {
                None => {
                    ready = Some(slot);
                    break;
                }
                Some(at) => backing_off = earliest(backing_off, Some(at)),
            }
        }
        let Some((index, worker)) = ready else {
            out.wake_at(backing_off);
            return;
        };
        // The emergency path must see every worker: fork only with a free
        // registry slot (a reap frees one and wakes the loop).
        if !room {
            return;
        }
        // Pacing is asked again at every step: its pauses are its own state.
        let next = match self.pacing.gate(now, self.table.expected()) {
            Gate::Open => {
                out.actions.push(Action::Fork { index, worker });
                // Come straight back: the next fork may be due at once, and
                // the pipe is read in between.
                now
            }
            Gate::Until(at) => at,
            Gate::TooFast(at) => {
                out.log(Level::Info, "Forking too fast, sleeping");
                at
            }
        };
        out.wake_at(Some(next));
    }
}
