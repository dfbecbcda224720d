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

/// `lifetime × (1 + id / 2n)`: ids started together are recycled apart.
fn staggered(lifetime: Duration, id: usize, n: usize) -> Duration {
    let n = n.max(1) as u32;
    let id = id.min(n as usize) as u32;
    lifetime.saturating_add(lifetime.saturating_mul(id) / n.saturating_mul(2))
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
        let mut due = Vec::new();
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
                    due.push((index, worker, r.pid, "asked by the worker".to_owned()));
                    break;
                }
                if let Some(lifetime) = policy.max_lifetime {
                    let life = staggered(lifetime, worker.get(), slots.desired);
                    match r.started.checked_add(life) {
                        Some(at) if now >= at => {
                            due.push((index, worker, r.pid, format!("lifetime {life:?} reached")));
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
                    due.push((index, worker, 0, String::new()));
                    break;
                }
                due.push((
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
        for (index, worker, pid, reason) in due {
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
    fn lifetimes_are_staggered_over_half_a_lifetime() {
        let l = Duration::from_secs(100);
        assert_eq!(staggered(l, 0, 4), l);
        assert_eq!(staggered(l, 2, 4), Duration::from_secs(125));
        assert_eq!(staggered(l, 3, 4), Duration::from_millis(137_500));
        assert_eq!(staggered(Duration::MAX, 3, 4), Duration::MAX);
        assert_eq!(staggered(l, 0, 0), l);
    }
}
