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

use crate::error::Error;
use crate::service::{ServiceId, WorkerId};

/// The most workers of one service, and the most over all services (the sum of
/// their counts). `add` and `reconfigure` refuse more with
/// [`Error::TooManyWorkers`](crate::Error::TooManyWorkers).
pub const MAX_WORKERS: usize = 4096;

/// The slots of one service.
#[derive(Debug)]
pub(crate) struct Slots {
    pub(crate) id: ServiceId,
    pub(crate) desired: usize,
    /// Running workers: pid and start time.
    running: BTreeMap<WorkerId, (i32, Instant)>,
    /// Running workers above `desired` that were told to stop.
    stopping: BTreeSet<WorkerId>,
    /// Missing ids below `frontier` (all below `desired`).
    holes: BTreeSet<WorkerId>,
    /// Ids from here to `desired` are missing unless running; `frontier <= desired`,
    /// and the id at `frontier` (if below `desired`) is not running.
    frontier: usize,
}

impl Slots {
    /// Missing ids, ascending.
    fn missing(&self) -> impl Iterator<Item = WorkerId> + '_ {
        let fresh = (self.frontier..self.desired)
            .map(WorkerId::new)
            .filter(|w| !self.running.contains_key(w));
        self.holes.iter().copied().chain(fresh)
    }

    /// Moves the frontier past the running ids it stands on, so that the first
    /// missing id is found in O(log n).
    fn settle_frontier(&mut self) {
        while self.frontier < self.desired
            && self.running.contains_key(&WorkerId::new(self.frontier))
        {
            self.frontier += 1;
        }
    }
}

/// A reaped worker, as [`Table::remove_pid`] returns it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Removed {
    pub(crate) index: usize,
    pub(crate) worker: WorkerId,
    pub(crate) started: Instant,
    /// It was stopped by a scale-down.
    pub(crate) was_stopping: bool,
}

/// Every service's slots, in registration order, with a pid index.
#[derive(Debug, Default)]
pub(crate) struct Table {
    services: Vec<Slots>,
    by_pid: HashMap<i32, (usize, WorkerId)>,
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
            stopping: BTreeSet::new(),
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
        check_count(workers)?;
        let index = self.index_of(id)?;
        let others = self.expected() - self.services[index].desired;
        check_total(others.saturating_add(workers))?;
        let s = &mut self.services[index];
        if workers < s.desired {
            // Ids from `workers` up are no longer wanted.
            s.holes.split_off(&WorkerId::new(workers));
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
    /// to stop yet; they are marked as stopping. Returns their pids.
    pub(crate) fn take_excess(&mut self) -> Vec<i32> {
        let mut pids = Vec::new();
        for s in &mut self.services {
            let excess: Vec<(WorkerId, i32)> = s
                .running
                .range(WorkerId::new(s.desired)..)
                .filter(|(w, _)| !s.stopping.contains(w))
                .map(|(w, (p, _))| (*w, *p))
                .collect();
            for (w, pid) in excess {
                s.stopping.insert(w);
                pids.push(pid);
            }
        }
        pids
    }

    /// Records a worker started at `now` (one of the missing ids).
    pub(crate) fn insert(&mut self, index: usize, worker: WorkerId, pid: i32, now: Instant) {
        let s = &mut self.services[index];
        s.running.insert(worker, (pid, now));
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
    }

    /// Forgets the worker with this pid.
    pub(crate) fn remove_pid(&mut self, pid: i32) -> Option<Removed> {
        let (index, worker) = self.by_pid.remove(&pid)?;
        let s = &mut self.services[index];
        let (_, started) = s.running.remove(&worker)?;
        let was_stopping = s.stopping.remove(&worker);
        // At or above the frontier, an id below `desired` is missing by itself.
        if worker.get() < s.frontier {
            s.holes.insert(worker);
        }
        Some(Removed {
            index,
            worker,
            started,
            was_stopping,
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

    /// Pids of the running workers that are not being stopped.
    pub(crate) fn pids_not_stopping(&self) -> Vec<i32> {
        self.by_pid
            .iter()
            .filter(|(_, (i, w))| !self.services[*i].stopping.contains(w))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Whether no worker is running.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

#[cfg(test)]
mod tests;
