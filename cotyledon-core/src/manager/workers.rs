//! Desired versus running worker slots, per service (pure: no system calls).
//!
//! A slot is a worker id. Ids `0..desired` should each have exactly one process;
//! a running id at or above `desired` (after a scale-down) is stopped once and not
//! respawned. An id is never given to a second process while its first one runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use crate::error::Error;
use crate::service::{ServiceId, WorkerId};

/// The slots of one service.
#[derive(Debug)]
pub(crate) struct Slots {
    pub(crate) id: ServiceId,
    pub(crate) desired: usize,
    /// Running workers: pid and start time.
    running: BTreeMap<WorkerId, (i32, Instant)>,
    /// Running workers above `desired` that were told to stop.
    stopping: BTreeSet<WorkerId>,
    /// Ids below `desired` with no running worker.
    missing: BTreeSet<WorkerId>,
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

/// Checks a worker count (`workers >= 1`).
pub(crate) fn check_count(workers: usize) -> Result<(), Error> {
    if workers < 1 {
        return Err(Error::InvalidWorkerCount { workers });
    }
    Ok(())
}

impl Table {
    /// Adds a service; returns its index.
    pub(crate) fn add(&mut self, id: ServiceId, desired: usize) -> usize {
        self.services.push(Slots {
            id,
            desired,
            running: BTreeMap::new(),
            stopping: BTreeSet::new(),
            missing: (0..desired).map(WorkerId::new).collect(),
        });
        self.services.len() - 1
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

    /// Changes the desired count of a service.
    pub(crate) fn set_desired(&mut self, id: ServiceId, workers: usize) -> Result<(), Error> {
        check_count(workers)?;
        let index = self.index_of(id)?;
        let s = &mut self.services[index];
        let old = s.desired;
        s.desired = workers;
        if workers > old {
            let new_ids = (old..workers).map(WorkerId::new);
            let missing: Vec<WorkerId> = new_ids.filter(|w| !s.running.contains_key(w)).collect();
            s.missing.extend(missing);
        } else {
            s.missing.retain(|w| w.get() < workers);
        }
        Ok(())
    }

    /// Sum of the desired counts: the limiter's "expected children".
    pub(crate) fn expected(&self) -> usize {
        self.services.iter().map(|s| s.desired).sum()
    }

    /// Missing workers: `(service index, worker id)`, services in registration
    /// order, ids ascending.
    pub(crate) fn missing(&self) -> impl Iterator<Item = (usize, WorkerId)> + '_ {
        self.services
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.missing.iter().map(move |&w| (i, w)))
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

    /// Records a worker started at `now`.
    pub(crate) fn insert(&mut self, index: usize, worker: WorkerId, pid: i32, now: Instant) {
        let s = &mut self.services[index];
        s.running.insert(worker, (pid, now));
        s.missing.remove(&worker);
        self.by_pid.insert(pid, (index, worker));
    }

    /// Forgets the worker with this pid.
    pub(crate) fn remove_pid(&mut self, pid: i32) -> Option<Removed> {
        let (index, worker) = self.by_pid.remove(&pid)?;
        let s = &mut self.services[index];
        let (_, started) = s.running.remove(&worker)?;
        let was_stopping = s.stopping.remove(&worker);
        if worker.get() < s.desired {
            s.missing.insert(worker);
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
mod tests {
    use super::*;

    fn table(counts: &[usize]) -> (Table, Vec<ServiceId>) {
        let mut t = Table::default();
        let ids: Vec<ServiceId> = counts
            .iter()
            .map(|&n| {
                let id = ServiceId::new_random();
                t.add(id, n);
                id
            })
            .collect();
        (t, ids)
    }

    fn fill(t: &mut Table, next_pid: &mut i32) {
        while let Some((i, w)) = t.next_missing() {
            t.insert(i, w, *next_pid, Instant::now());
            *next_pid += 1;
        }
    }

    #[test]
    fn fills_services_in_order_with_ascending_ids() {
        let (mut t, _) = table(&[2, 1]);
        assert_eq!(t.next_missing(), Some((0, WorkerId::new(0))));
        t.insert(0, WorkerId::new(0), 100, Instant::now());
        assert_eq!(t.next_missing(), Some((0, WorkerId::new(1))));
        t.insert(0, WorkerId::new(1), 101, Instant::now());
        assert_eq!(t.next_missing(), Some((1, WorkerId::new(0))));
        t.insert(1, WorkerId::new(0), 102, Instant::now());
        assert_eq!(t.next_missing(), None);
        assert_eq!(t.expected(), 3);
    }

    #[test]
    fn a_dead_worker_is_replaced_with_the_same_id() {
        let (mut t, _) = table(&[3]);
        let mut pid = 10;
        fill(&mut t, &mut pid);
        let removed = t.remove_pid(11).expect("known pid");
        assert_eq!(
            (removed.index, removed.worker, removed.was_stopping),
            (0, WorkerId::new(1), false)
        );
        assert_eq!(t.next_missing(), Some((0, WorkerId::new(1))));
        assert_eq!(t.remove_pid(999), None);
    }

    #[test]
    fn scaling_down_stops_the_highest_ids_once() {
        let (mut t, ids) = table(&[5]);
        let mut pid = 10;
        fill(&mut t, &mut pid);
        t.set_desired(ids[0], 2).expect("valid");
        let mut excess = t.take_excess();
        excess.sort_unstable();
        assert_eq!(excess, vec![12, 13, 14]);
        assert!(t.take_excess().is_empty(), "stopped once only");
        let mut live = t.pids_not_stopping();
        live.sort_unstable();
        assert_eq!(live, vec![10, 11]);
        assert_eq!(t.next_missing(), None);
        assert!(t.remove_pid(14).expect("known").was_stopping);
        assert_eq!(t.next_missing(), None, "id 4 is no longer desired");
        // Scaling up again while ids 2 and 3 still run must not start them twice.
        t.set_desired(ids[0], 5).expect("valid");
        assert_eq!(t.missing().collect::<Vec<_>>(), vec![(0, WorkerId::new(4))]);
        t.remove_pid(13);
        assert_eq!(t.missing().count(), 2, "ids 3 and 4");
        assert_eq!(t.next_missing(), Some((0, WorkerId::new(3))));
    }

    #[test]
    fn bad_counts_and_ids_are_typed_errors() {
        let (mut t, ids) = table(&[1]);
        assert!(matches!(
            t.set_desired(ids[0], 0),
            Err(Error::InvalidWorkerCount { workers: 0 })
        ));
        let unknown = ServiceId::new_random();
        assert!(matches!(t.set_desired(unknown, 1), Err(Error::UnknownService(u)) if u == unknown));
    }
}
