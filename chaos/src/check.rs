//! The invariants, checked on one /proc sample of the master's children:
//! never two live processes with one worker id (at every sample), and, once
//! settled, each id `0..desired` of each service exactly once, nothing else, no
//! zombie; plus a tracker of zombies, which the master must reap promptly.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use super::procfs::{self, Proc, Role, SERVICES};

/// A worker id with more than one live process.
#[derive(Debug)]
pub(crate) struct Duplicate {
    pub(crate) service: usize,
    pub(crate) id: usize,
    /// `(pid, start time)` of each process.
    pub(crate) procs: Vec<(i32, u64)>,
}

/// Worker ids with two or more live processes in this sample, re-read at once:
/// only those still true after the re-read are returned (a scan of /proc is not
/// atomic: a worker read early may have died and been replaced before the scan
/// reached its successor).
pub(crate) fn duplicates(children: &[Proc], master: i32) -> Vec<Duplicate> {
    let mut by_id: BTreeMap<(usize, usize), Vec<&Proc>> = BTreeMap::new();
    for p in children {
        if let Some(key) = p.worker() {
            by_id.entry(key).or_default().push(p);
        }
    }
    by_id
        .into_iter()
        .filter(|(_, procs)| procs.len() > 1)
        .filter_map(|((service, id), procs)| {
            let live: Vec<(i32, u64)> = procs
                .iter()
                .filter(|p| procfs::still(p.pid, p.start, master, &p.role))
                .map(|p| (p.pid, p.start))
                .collect();
            (live.len() > 1).then_some(Duplicate {
                service,
                id,
                procs: live,
            })
        })
        .collect()
}

/// Whether the sample is the settled state for `desired`: each id `0..desired[s]`
/// of each service has exactly one live process, no other id runs, no child is
/// starting, exiting or a zombie. `Err` says the first thing that is not so.
pub(crate) fn settled(children: &[Proc], desired: &[usize; 3]) -> Result<(), String> {
    let mut counts: HashMap<(usize, usize), usize> = HashMap::new();
    let mut problems = Vec::new();
    for p in children {
        if p.zombie {
            problems.push(format!("zombie {}", p.pid));
            continue;
        }
        match &p.role {
            Role::Worker { service, id } => {
                *counts.entry((*service, *id)).or_default() += 1;
                if *id >= desired[*service] {
                    problems.push(format!(
                        "{}({id}) [{}] above the desired {}",
                        SERVICES[*service], p.pid, desired[*service]
                    ));
                }
            }
            Role::Starting => problems.push(format!("{} still starting", p.pid)),
            Role::Other(title) => problems.push(format!("{} titled {title:?}", p.pid)),
        }
    }
    for (service, &want) in desired.iter().enumerate() {
        let missing: Vec<usize> = (0..want)
            .filter(|id| !counts.contains_key(&(service, *id)))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("{} missing ids {missing:?}", SERVICES[service]));
        }
    }
    for ((service, id), n) in counts {
        if n > 1 {
            problems.push(format!("{}({id}) has {n} processes", SERVICES[service]));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Zombie children of the master, by `(pid, start time)`: how many were seen at
/// all, and which stayed zombies longer than the limit (never reaped in time).
#[derive(Debug, Default)]
pub(crate) struct Zombies {
    first_seen: HashMap<(i32, u64), Instant>,
    reported: HashSet<(i32, u64)>,
    /// Distinct zombies seen (each one only until the master reaped it).
    pub(crate) seen: usize,
    /// The zombies older than the limit, one message each.
    pub(crate) lingering: Vec<String>,
}

impl Zombies {
    /// Records the zombies of one sample taken at `now`.
    pub(crate) fn observe(&mut self, children: &[Proc], now: Instant, limit: Duration) {
        let current: HashSet<(i32, u64)> = children
            .iter()
            .filter(|p| p.zombie)
            .map(|p| (p.pid, p.start))
            .collect();
        self.first_seen.retain(|k, _| current.contains(k));
        for key in current {
            let first = *self.first_seen.entry(key).or_insert_with(|| {
                self.seen += 1;
                now
            });
            let age = now - first;
            if age > limit && self.reported.insert(key) {
                self.lingering.push(format!(
                    "zombie child {} of the master not reaped after {} ms",
                    key.0,
                    age.as_millis()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(pid: i32, service: usize, id: usize) -> Proc {
        Proc {
            pid,
            start: 1,
            zombie: false,
            role: Role::Worker { service, id },
        }
    }

    #[test]
    fn settled_needs_each_id_once_and_nothing_else() {
        let mut c = vec![worker(10, 0, 0), worker(11, 1, 0), worker(12, 2, 0)];
        assert_eq!(settled(&c, &[1, 1, 1]), Ok(()));
        assert!(
            settled(&c, &[2, 1, 1])
                .unwrap_err()
                .contains("light missing ids [1]")
        );
        assert!(settled(&c, &[1, 1, 0]).unwrap_err().contains("above"));
        c.push(worker(13, 0, 0));
        assert!(settled(&c, &[1, 1, 1]).unwrap_err().contains("2 processes"));
        c.pop();
        c.push(Proc {
            pid: 14,
            start: 1,
            zombie: true,
            role: Role::Other(String::new()),
        });
        assert!(settled(&c, &[1, 1, 1]).unwrap_err().contains("zombie 14"));
    }

    #[test]
    fn a_zombie_is_reported_once_when_too_old() {
        let z = Proc {
            pid: 5,
            start: 9,
            zombie: true,
            role: Role::Other(String::new()),
        };
        let mut zombies = Zombies::default();
        let t0 = Instant::now();
        let limit = Duration::from_secs(1);
        zombies.observe(std::slice::from_ref(&z), t0, limit);
        zombies.observe(std::slice::from_ref(&z), t0 + limit / 2, limit);
        assert!(zombies.lingering.is_empty());
        zombies.observe(std::slice::from_ref(&z), t0 + limit * 2, limit);
        zombies.observe(std::slice::from_ref(&z), t0 + limit * 3, limit);
        assert_eq!((zombies.seen, zombies.lingering.len()), (1, 1));
        zombies.observe(&[], t0 + limit * 4, limit);
        zombies.observe(&[z], t0 + limit * 5, limit);
        assert_eq!(zombies.seen, 2);
    }
}
