//! Desired versus running worker slots, per service (pure: no system calls).
//!
//! A slot is a worker id. Ids `0..desired` should each have exactly one process;
//! a running id at or above `desired` (after a scale-down) is stopped once and not
//! respawned. An id is never given to a second process while its first one runs.
//!
//! Memory is proportional to the workers that exist or died, never to a requested
//! count: the missing ids of a service are the `holes` below a `frontier` (ids that
//! ran and died, or were skipped) plus the implicit range `frontier..desired` of ids
//! never started, less the running ones (workers of an earlier scale-down that are
//! still stopping).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

pub(crate) use super::life::{Life, Running, StopWhy};
use crate::error::Error;
use crate::ids::{ServiceId, WorkerId};
pub(crate) use slots::Slots;

/// The most workers of one service, and the most over all services (the sum of
/// their counts). `add` and `reconfigure` refuse more with
/// [`Error::TooManyWorkers`](crate::Error::TooManyWorkers).
pub(crate) const MAX_WORKERS: usize = 4096;

/// A reaped worker, as [`Table::remove_pid`] returns it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Removed {
    pub(crate) index: usize,
    pub(crate) worker: WorkerId,
    pub(crate) started: Instant,
    /// It was stopped by a scale-down.
    pub(crate) was_stopping: bool,
    /// What the table knew of it.
    pub(crate) running: Running,
}

/// Every service's slots, in registration order, with a pid index.
// Clone: a configuration reload's checkpoint (see `handle::Checkpoint`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    services: Vec<Slots>,
    by_pid: HashMap<i32, (usize, WorkerId)>,
    /// Bumped by every change of a count, a worker or a phase: what is derived
    /// from the table (the status line) is recomputed only when it moved.
    version: u64,
}

/// Checks one service's worker count: `1..=MAX_WORKERS`.
pub(crate) fn check_count(workers: usize) -> Result<(), Error> {
    if workers < 1 {
        return Err(Error::InvalidWorkerCount { workers });
    }
    check_total(workers)
}

/// Checks the sum of every service's count: at most [`MAX_WORKERS`].
pub(crate) fn check_total(workers: usize) -> Result<(), Error> {
    if workers > MAX_WORKERS {
        return Err(Error::TooManyWorkers {
            workers,
            max: MAX_WORKERS,
        });
    }
    Ok(())
}

impl Table {
    /// Adds a service; returns its index.
    pub(crate) fn add(&mut self, id: ServiceId, desired: usize) -> Result<usize, Error> {
        check_count(desired)?;
        check_total(self.expected().saturating_add(desired))?;
        self.services.push(Slots {
            id,
            desired,
            running: BTreeMap::new(),
            held: BTreeSet::new(),
            holes: BTreeSet::new(),
            frontier: 0,
        });
        Ok(self.services.len() - 1)
    }

    /// Whether any service was added.
    pub(crate) fn has_services(&self) -> bool {
        !self.services.is_empty()
    }

    /// The index of a service id.
    pub(crate) fn index_of(&self, id: ServiceId) -> Result<usize, Error> {
        self.services
            .iter()
            .position(|s| s.id == id)
            .ok_or(Error::UnknownService(id))
    }

    /// The slots of service `index`.
    pub(crate) fn service(&self, index: usize) -> &Slots {
        &self.services[index]
    }

    /// Changes the desired count of a service; on an error nothing changes.
    pub(crate) fn set_desired(&mut self, id: ServiceId, workers: usize) -> Result<(), Error> {
        self.version = self.version.wrapping_add(1);
        check_count(workers)?;
        let index = self.index_of(id)?;
        let others = self.expected() - self.services[index].desired;
        check_total(others.saturating_add(workers))?;
        let s = &mut self.services[index];
        if workers < s.desired {
            // Ids from `workers` up are no longer wanted.
            s.holes.split_off(&WorkerId::new(workers));
            s.held.split_off(&WorkerId::new(workers));
            s.frontier = s.frontier.min(workers);
        }
        s.desired = workers;
        s.settle_frontier();
        Ok(())
    }

    /// Sum of the desired counts: the limiter's "expected children".
    pub(crate) fn expected(&self) -> usize {
        self.services.iter().map(|s| s.desired).sum()
    }

    /// Missing workers: `(service index, worker id)`, services in registration
    /// order, ids ascending. Finding the first one of a service is O(log n).
    pub(crate) fn missing(&self) -> impl Iterator<Item = (usize, WorkerId)> + '_ {
        self.services
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.missing().map(move |w| (i, w)))
    }

    /// The first missing worker.
    #[cfg(test)]
    pub(crate) fn next_missing(&self) -> Option<(usize, WorkerId)> {
        self.missing().next()
    }

    /// Running workers whose id is no longer desired and that have not been told
    /// to stop yet; they are marked as stopping (scaled down) at `now`. Returns
    /// their pids.
    pub(crate) fn take_excess(&mut self, now: Instant) -> Vec<i32> {
        self.version = self.version.wrapping_add(1);
        let mut pids = Vec::new();
        for s in &mut self.services {
            for (_, r) in s.running.range_mut(WorkerId::new(s.desired)..) {
                if !r.life.asked_to_stop() {
                    r.life = Life::Stopping {
                        why: StopWhy::ScaledDown,
                        since: now,
                    };
                    pids.push(r.pid);
                }
            }
        }
        pids
    }

    /// Records a worker started at `now` (one of the missing ids); returns its
    /// entry (slot 0, not ready) for the caller to complete.
    pub(crate) fn insert(
        &mut self,
        index: usize,
        worker: WorkerId,
        pid: i32,
        now: Instant,
    ) -> &mut Running {
        self.version = self.version.wrapping_add(1);
        let s = &mut self.services[index];
        let entry = Running {
            pid,
            started: now,
            slot: 0,
            life: Life::Booting,
            ready_at: None,
            code_since: now,
            beat: None,
            wants_recycle: false,
        };
        s.running.insert(worker, entry);
        let w = worker.get();
        if w < s.frontier {
            s.holes.remove(&worker);
        } else {
            // Ids skipped between the frontier and this one stay missing.
            for skipped in (s.frontier..w.min(s.desired)).map(WorkerId::new) {
                if !s.running.contains_key(&skipped) {
                    s.holes.insert(skipped);
                }
            }
            s.frontier = w.saturating_add(1).min(s.desired);
        }
        s.settle_frontier();
        self.by_pid.insert(pid, (index, worker));
        self.services[index]
            .running
            .get_mut(&worker)
            .expect("inserted just above")
    }

    /// The running worker `worker` of service `index`.
    pub(crate) fn get(&self, index: usize, worker: WorkerId) -> Option<&Running> {
        self.services.get(index)?.running.get(&worker)
    }

    /// The running worker `worker` of service `index`, to change (its phase
    /// through [`Table::set_life`] only).
    pub(super) fn running_mut(&mut self, index: usize, worker: WorkerId) -> Option<&mut Running> {
        self.services.get_mut(index)?.running.get_mut(&worker)
    }

    /// The one funnel of every phase change: moves worker `worker` of service
    /// `index` to `life` and returns the phase it leaves (`None`: no such
    /// worker). Becoming ready stamps `ready_at`.
    pub(crate) fn set_life(
        &mut self,
        index: usize,
        worker: WorkerId,
        life: Life,
        now: Instant,
    ) -> Option<Life> {
        self.version = self.version.wrapping_add(1);
        let r = self.running_mut(index, worker)?;
        let old = std::mem::replace(&mut r.life, life);
        if life == Life::Ready && r.ready_at.is_none() {
            r.ready_at = Some(now);
        }
        Some(old)
    }

    /// Records what the worker's shared slot said: the start of an in-place
    /// reload that finished (its code is that recent), and its last heartbeat.
    pub(crate) fn observe(
        &mut self,
        index: usize,
        worker: WorkerId,
        reloaded_from: Option<Instant>,
        beat: Option<Instant>,
        recycle: bool,
    ) {
        let Some(r) = self.running_mut(index, worker) else {
            return;
        };
        if let Some(at) = reloaded_from {
            r.code_since = r.code_since.max(at);
        }
        if beat.is_some() {
            r.beat = r.beat.max(beat);
        }
        r.wants_recycle |= recycle;
    }

    /// Every running worker: (service index, id, pid), services in order, ids
    /// ascending.
    pub(crate) fn workers(&self) -> Vec<(usize, WorkerId, i32)> {
        self.services()
            .flat_map(|(i, s)| s.running().map(move |(w, r)| (i, w, r.pid)))
            .collect()
    }

    /// Where the worker with this pid is: (service index, worker id).
    pub(crate) fn locate(&self, pid: i32) -> Option<(usize, WorkerId)> {
        self.by_pid.get(&pid).copied()
    }

    /// Holds id `worker` down (not respawned) or releases it. Returns whether
    /// the id is one of the service's (below its count).
    pub(crate) fn hold(&mut self, index: usize, worker: WorkerId, held: bool) -> bool {
        self.version = self.version.wrapping_add(1);
        let Some(s) = self.services.get_mut(index) else {
            return false;
        };
        if worker.get() >= s.desired {
            return false;
        }
        if held {
            s.held.insert(worker);
        } else {
            s.held.remove(&worker);
        }
        true
    }

    /// Every service's slots, in registration order.
    pub(crate) fn services(&self) -> impl Iterator<Item = (usize, &Slots)> + '_ {
        self.services.iter().enumerate()
    }

    /// Whether every desired worker runs and is ready (held ids excepted).
    pub(crate) fn all_ready(&self) -> bool {
        self.missing().next().is_none()
            && self
                .services
                .iter()
                .all(|s| s.running.values().all(|r| r.ready_at.is_some()))
    }

    /// Forgets the worker with this pid.
    pub(crate) fn remove_pid(&mut self, pid: i32) -> Option<Removed> {
        self.version = self.version.wrapping_add(1);
        let (index, worker) = self.by_pid.remove(&pid)?;
        let s = &mut self.services[index];
        let running = s.running.remove(&worker)?;
        let was_stopping = matches!(
            running.life,
            Life::Stopping {
                why: StopWhy::ScaledDown,
                ..
            }
        );
        // At or above the frontier, an id below `desired` is missing by itself.
        if worker.get() < s.frontier {
            s.holes.insert(worker);
        }
        Some(Removed {
            index,
            worker,
            started: running.started,
            was_stopping,
            running,
        })
    }

    /// Whether `pid` is a running worker.
    pub(crate) fn contains(&self, pid: i32) -> bool {
        self.by_pid.contains_key(&pid)
    }

    /// Pids of every running worker.
    pub(crate) fn pids(&self) -> Vec<i32> {
        self.by_pid.keys().copied().collect()
    }

    /// The table's version: it changes whenever a count, a worker or a phase does.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Whether no worker is running.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

mod slots;
#[cfg(test)]
mod tests;
