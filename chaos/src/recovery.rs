//! Id-recovery latency, measured on the log lines as the harness's reader thread
//! timestamps them ([`cotyledon_testing::Scenario::line_times`]): from the master's line
//! "Child PID exited with status N" (or "killed by signal S", or "was reaped by
//! someone else") for a worker of id `NAME(ID)` to the replacement's own line
//! "Run service NAME(ID) [PID]". Both are read from the one stdout pipe by a thread
//! that does nothing else, so the figure is the manager's (reap, log, decide,
//! fork, the child's start-up), not the driver's sampling period.
//!
//! A death counts only if its id is still desired when the death line is read:
//! deaths of ids that a reconfigure scaled away (the driver's new counts take
//! effect, for this purpose, just before it writes them) or that the final SIGTERM
//! stops are not counted, and a death whose id is scaled away before its
//! replacement runs is dropped. Deaths followed by the master's "Worker NAME(ID)
//! keeps dying right after start, respawning it in …" are measured apart: their
//! respawn is delayed on purpose.
//!
//! Also measured, as a diagnostic: from the driver's SIGKILL of a worker (just
//! before `kill(2)`) to the master's death line for it, which is the time the
//! master takes to notice and reap a death (not part of the recovery figure).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Percentiles of a set of durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// How many durations.
    pub count: usize,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

impl Latency {
    /// The percentiles of `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Latency> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Some(Latency {
            count: sorted.len(),
            p50: percentile(&sorted, 50)?,
            p99: percentile(&sorted, 99)?,
            max: *sorted.last()?,
        })
    }
}

/// The nearest-rank `pct`th percentile of `sorted` (ascending): the smallest value
/// that at least `pct`% of the values do not exceed. `None` if empty.
pub(crate) fn percentile(sorted: &[Duration], pct: usize) -> Option<Duration> {
    let rank = (pct.min(100) * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A death waiting for its replacement.
#[derive(Debug, Clone, Copy)]
struct Pending {
    dead_at: Instant,
    backoff: bool,
}

/// The recovery tracker. Log lines come in through [`death`](Recovery::death),
/// [`backoff`](Recovery::backoff) and [`run`](Recovery::run) in the order they
/// were read; the driver's changes of the desired counts through
/// [`desire`](Recovery::desire), possibly before lines read earlier are handed in:
/// they are applied in time order.
#[derive(Debug)]
pub(crate) struct Recovery {
    desired: [usize; 3],
    changes: VecDeque<(Instant, [usize; 3])>,
    pending: HashMap<(usize, usize), Pending>,
    kills: HashMap<i32, Instant>,
    /// Recoveries of deaths without a back-off.
    pub(crate) normal: Vec<Duration>,
    /// Recoveries of deaths the master delayed with its crash back-off.
    pub(crate) delayed: Vec<Duration>,
    /// From the driver's SIGKILL to the master's death line.
    pub(crate) reap: Vec<Duration>,
    /// Deaths not counted: their id was not desired (any more).
    pub(crate) uncounted: usize,
}

impl Recovery {
    /// A tracker for services that start with `desired` workers.
    pub(crate) fn new(desired: [usize; 3]) -> Self {
        Recovery {
            desired,
            changes: VecDeque::new(),
            pending: HashMap::new(),
            kills: HashMap::new(),
            normal: Vec::new(),
            delayed: Vec::new(),
            reap: Vec::new(),
            uncounted: 0,
        }
    }

    /// From `at` on, the desired counts are `desired` (all zero for the final
    /// SIGTERM).
    pub(crate) fn desire(&mut self, at: Instant, desired: [usize; 3]) {
        self.changes.push_back((at, desired));
    }

    /// The driver is about to SIGKILL `pid`.
    pub(crate) fn killed(&mut self, pid: i32, at: Instant) {
        self.kills.insert(pid, at);
    }

    /// A death line for `pid`, read at `at`; `key` is its `(service, id)` if its
    /// "Run service" line was seen.
    pub(crate) fn death(&mut self, at: Instant, pid: i32, key: Option<(usize, usize)>) {
        self.catch_up(at);
        if let Some(killed) = self.kills.remove(&pid) {
            self.reap.push(at.saturating_duration_since(killed));
        }
        let Some((service, id)) = key else { return };
        if id < self.desired[service] {
            let p = Pending {
                dead_at: at,
                backoff: false,
            };
            self.pending.insert((service, id), p);
        } else {
            self.uncounted += 1;
        }
    }

    /// The master delays the respawn of `key` (its line follows the death line).
    pub(crate) fn backoff(&mut self, key: (usize, usize)) {
        if let Some(p) = self.pending.get_mut(&key) {
            p.backoff = true;
        }
    }

    /// A "Run service" line for `key`, read at `at`.
    pub(crate) fn run(&mut self, at: Instant, key: (usize, usize)) {
        self.catch_up(at);
        if let Some(p) = self.pending.remove(&key) {
            let took = at.saturating_duration_since(p.dead_at);
            if p.backoff {
                self.delayed.push(took);
            } else {
                self.normal.push(took);
            }
        }
    }

    /// Applies every change of the desired counts made until `at`.
    fn catch_up(&mut self, at: Instant) {
        while let Some(&(when, desired)) = self.changes.front() {
            if when > at {
                break;
            }
            self.changes.pop_front();
            self.desired = desired;
            let before = self.pending.len();
            self.pending
                .retain(|&(service, id), _| id < desired[service]);
            self.uncounted += before - self.pending.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[ms(7)], 99), Some(ms(7)));
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 50), Some(ms(50)));
        assert_eq!(percentile(&sorted, 99), Some(ms(99)));
        assert_eq!(percentile(&sorted, 100), Some(ms(100)));
        assert_eq!(percentile(&sorted, 0), Some(ms(1)));
        let sorted: Vec<Duration> = (1..=1000).map(ms).collect();
        assert_eq!(percentile(&sorted, 99), Some(ms(990)));
        // Four values: the median is the second, the 99th the last.
        let l = Latency::of(&[ms(4), ms(1), ms(3), ms(2)]);
        let want = Latency {
            count: 4,
            p50: ms(2),
            p99: ms(4),
            max: ms(4),
        };
        assert_eq!(l, Some(want));
        assert_eq!(Latency::of(&[]), None);
    }

    #[test]
    fn a_death_counts_until_the_replacement_runs() {
        let t = Instant::now();
        let mut r = Recovery::new([2, 2, 2]);
        r.killed(100, t);
        r.death(t + ms(1), 100, Some((0, 1)));
        r.run(t + ms(4), (0, 0)); // another id: not a recovery
        r.run(t + ms(6), (0, 1));
        r.run(t + ms(9), (0, 1)); // no death pending
        assert_eq!(
            (r.normal.clone(), r.reap.clone()),
            (vec![ms(5)], vec![ms(1)])
        );
        r.death(t + ms(10), 101, Some((2, 0)));
        r.backoff((2, 0));
        r.backoff((1, 1)); // nothing pending there: ignored
        r.run(t + ms(120), (2, 0));
        assert_eq!(r.delayed, vec![ms(110)]);
        r.death(t + ms(130), 102, None); // its "Run service" was never read
        assert_eq!((r.normal.len(), r.uncounted), (1, 0));
    }

    #[test]
    fn deaths_of_ids_scaled_away_do_not_count() {
        let t = Instant::now();
        let mut r = Recovery::new([3, 3, 3]);
        // Pending when the counts drop: dropped.
        r.death(t + ms(1), 100, Some((1, 2)));
        r.desire(t + ms(2), [3, 2, 3]);
        // Read after the change, though handed in after it was made.
        r.death(t + ms(3), 101, Some((1, 2)));
        r.run(t + ms(4), (1, 2));
        assert!(r.normal.is_empty());
        assert_eq!(r.uncounted, 2);
        // A line read before a change made later is judged by the old counts.
        r.desire(t + ms(20), [1, 1, 1]);
        r.death(t + ms(10), 102, Some((0, 2)));
        r.run(t + ms(12), (0, 2));
        assert_eq!(r.normal, vec![ms(2)]);
        // The final SIGTERM: nothing counts after it.
        r.desire(t + ms(30), [0, 0, 0]);
        r.death(t + ms(31), 103, Some((0, 0)));
        r.run(t + ms(32), (0, 0));
        assert_eq!((r.normal.len(), r.uncounted), (1, 3));
    }
}
