//! The slots of one service: its desired count, its running workers, the ids
//! held down, and the bookkeeping that finds a missing id in O(log n).

use std::collections::{BTreeMap, BTreeSet};

use super::Running;
#[cfg(test)]
use super::{Life, StopWhy};
use crate::ids::{ServiceId, WorkerId};

/// The slots of one service.
// Clone: a configuration reload's checkpoint (see `handle::Checkpoint`).
#[derive(Clone, Debug)]
pub(crate) struct Slots {
    pub(crate) id: ServiceId,
    pub(crate) desired: usize,
    /// Running workers.
    pub(super) running: BTreeMap<WorkerId, Running>,
    /// Ids below `desired` held down by `stop_worker`: not respawned.
    pub(super) held: BTreeSet<WorkerId>,
    /// Missing ids below `frontier` (all below `desired`).
    pub(super) holes: BTreeSet<WorkerId>,
    /// Ids from here to `desired` are missing unless running; `frontier <= desired`,
    /// and the id at `frontier` (if below `desired`) is not running.
    pub(super) frontier: usize,
}

impl Slots {
    /// Missing ids, ascending (held ones excepted).
    pub(super) fn missing(&self) -> impl Iterator<Item = WorkerId> + '_ {
        let fresh = (self.frontier..self.desired)
            .map(WorkerId::new)
            .filter(|w| !self.running.contains_key(w));
        self.holes
            .iter()
            .copied()
            .chain(fresh)
            .filter(|w| !self.held.contains(w))
    }

    /// The running workers, ids ascending.
    pub(crate) fn running(&self) -> impl Iterator<Item = (WorkerId, &Running)> + '_ {
        self.running.iter().map(|(w, r)| (*w, r))
    }

    /// The running worker with this id.
    pub(crate) fn get(&self, worker: WorkerId) -> Option<&Running> {
        self.running.get(&worker)
    }

    /// Whether `worker` runs above the count and was told to stop.
    #[cfg(test)]
    pub(crate) fn is_stopping(&self, worker: WorkerId) -> bool {
        let scaled_down = |r: &Running| matches!(r.life, Life::Stopping { why, .. } if why == StopWhy::ScaledDown);
        self.running.get(&worker).is_some_and(scaled_down)
    }

    /// Whether id `worker` is wanted: below the count and not held down.
    pub(crate) fn is_wanted(&self, worker: WorkerId) -> bool {
        worker.get() < self.desired && !self.held.contains(&worker)
    }

    /// Whether `worker` is held down by `stop_worker`.
    pub(crate) fn is_held(&self, worker: WorkerId) -> bool {
        self.held.contains(&worker)
    }

    /// Moves the frontier past the running ids it stands on, so that the first
    /// missing id is found in O(log n).
    pub(super) fn settle_frontier(&mut self) {
        while self.frontier < self.desired
            && self.running.contains_key(&WorkerId::new(self.frontier))
        {
            self.frontier += 1;
        }
    }
}
