//! Worker recycling: past a lifetime (staggered by worker id), past a resident
//! memory limit (read from `/proc` about once a second), or when the worker asks
//! (`ctx.request_recycle()`). A recycle is a graceful restart through the rolling
//! path, one worker of a service at a time, the next once the replacement is
//! ready: capacity holds.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::super::rolling::Mode;
use super::serving::earliest;
use super::{Loop, TARGET};
use crate::sys;

/// How often the workers' memory is read.
const RSS_PERIOD: Duration = Duration::from_secs(1);

/// When worker `id` of `n`, started at `started`, is due for recycling: the first
/// instant of its own grid, `epoch + L/2 × (k + id/n)`, that is at least
/// `L − L/4n` after its start (`None`: too far for the clock, never).
///
/// Each id has a grid of its own, `L/2n` from the next id's, so recycles never
/// come due together in any generation (a lifetime per id would let ids drift
/// into each other). The slack of half that spacing lets a replacement forked
/// just after its predecessor's grid instant come due one lifetime later: about
/// `L` in the steady state, never `1.5 L` or more, never under `0.75 L`.
fn due(
    epoch: Instant,
    started: Instant,
    lifetime: Duration,
    id: usize,
    n: usize,
) -> Option<Instant> {
    let period = (lifetime.as_nanos() / 2).max(1);
    let n = n.max(1) as u128;
    let offset = period * (id as u128 % n) / n;
    let slack = period / (2 * n);
    let earliest = started
        .saturating_duration_since(epoch)
        .as_nanos()
        .checked_add(lifetime.as_nanos() - slack)?;
    let steps = earliest.saturating_sub(offset).div_ceil(period);
    let at = steps.checked_mul(period)?.checked_add(offset)?;
    epoch.checked_add(Duration::from_nanos(u64::try_from(at).ok()?))
}

/// Resident memory of `pid` in bytes (`/proc/PID/statm`), if readable.
fn rss(pid: i32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    Some(pages.saturating_mul(page))
}

impl Loop {
    /// Starts a recycle where one is due (one worker per service at a time, and
    /// none while the service has a rollout under way); records when to look again.
    /// Returns whether it started one.
    pub(super) fn recycle(&mut self, now: Instant) -> bool {
        let check_rss = self.rss_at.is_none_or(|at| now >= at);
        let now_ns = sys::timer::monotonic_ns();
        self.rss_off.resize(self.m.entries.len(), false);
        let mut due_now = Vec::new();
        let mut watch_rss = false;
        for (index, slots) in self.m.state.table.services() {
            let policy = self.m.entries[index].policy;
            let rss_limit = policy.max_rss.filter(|_| !self.rss_off[index]);
            watch_rss |= rss_limit.is_some();
            if self.rollings.iter().any(|r| r.service == index) {
                continue;
            }
            for (worker, r) in slots.running() {
                if !r.ready || r.asked || slots.is_stopping(worker) {
                    continue;
                }
                let asked =
                    sys::shm::slot(r.slot).is_some_and(|s| s.recycle.load(Ordering::SeqCst) != 0);
                if asked {
                    due_now.push((index, worker, r.pid, "asked by the worker".to_owned()));
                    break;
                }
                if let Some(lifetime) = policy.max_lifetime {
                    let at = due(self.epoch, r.started, lifetime, worker.get(), slots.desired);
                    match at {
                        Some(at) if now >= at => {
                            let life = now.saturating_duration_since(r.started);
                            let reason = format!("lifetime reached ({life:?})");
                            due_now.push((index, worker, r.pid, reason));
                            break;
                        }
                        at => self.serve_at = earliest(self.serve_at, at),
                    }
                }
                let (Some(limit), true) = (rss_limit, check_rss) else {
                    continue;
                };
                let Some(bytes) = rss(r.pid).filter(|&b| b > limit) else {
                    continue;
                };
                // Over the limit at its first check: the limit is below a new
                // worker's size, and recycling would never end.
                if now_ns.saturating_sub(r.ready_ns) < 2 * RSS_PERIOD.as_nanos() as u64 {
                    warn!(
                        target: TARGET,
                        "max RSS of {} ({limit} bytes) is below what a new worker uses \
                         ({bytes} bytes): recycling on memory turned off for it",
                        self.m.entries[index].name
                    );
                    due_now.push((index, worker, 0, String::new()));
                    break;
                }
                due_now.push((
                    index,
                    worker,
                    r.pid,
                    format!("RSS {bytes} bytes above {limit}"),
                ));
                break;
            }
        }
        if check_rss {
            self.rss_at = now.checked_add(RSS_PERIOD);
        }
        if watch_rss {
            self.serve_at = earliest(self.serve_at, self.rss_at);
        }
        let mut started = false;
        for (index, worker, pid, reason) in due_now {
            if pid == 0 {
                self.rss_off[index] = true;
                continue;
            }
            let entry = &self.m.entries[index];
            info!(
                target: TARGET,
                "Recycling worker {}({worker}) [{pid}]: {reason}",
                entry.name
            );
            // One id: a rollout of its own, without the rollout log lines.
            self.push_rollout(index, vec![worker], usize::MAX, Mode::Restart, now);
            started = true;
        }
        started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_id_has_a_grid_of_its_own_and_lives_about_one_lifetime() {
        let epoch = Instant::now();
        let l = Duration::from_secs(100);
        let at = |started_ms: u64, id| {
            due(epoch, epoch + Duration::from_millis(started_ms), l, id, 4)
                .map(|t| t.duration_since(epoch).as_millis())
        };
        // Started together: ids come due 12.5 s apart, in id order.
        assert_eq!(at(5, 0), Some(100_000));
        assert_eq!(at(15, 1), Some(112_500));
        assert_eq!(at(35, 3), Some(137_500));
        // Replacements forked just after their predecessor's instant: one
        // lifetime later, on the same grid.
        assert_eq!(at(100_010, 0), Some(200_000));
        assert_eq!(at(112_600, 1), Some(212_500));
        // A replacement late by more than the slack (6.25 s) waits for the next.
        assert_eq!(at(107_000, 0), Some(250_000));
        // Every lifetime is in [0.75 L, 1.5 L).
        for started in (0..300_000u64).step_by(500) {
            for id in 0..4 {
                let d = at(started, id).expect("due") - u128::from(started);
                assert!((75_000..150_000).contains(&d), "{started} {id} {d}");
            }
        }
        // Too far for the clock: never; ids beyond n wrap; n = 0 is one.
        assert_eq!(due(epoch, epoch, Duration::MAX, 3, 4), None);
        assert_eq!(at(0, 5), at(0, 1));
        assert_eq!(due(epoch, epoch, l, 0, 0), Some(epoch + l));
    }
}
