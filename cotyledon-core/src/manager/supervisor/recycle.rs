//! Worker recycling: past a lifetime (staggered by worker id), past a resident
//! memory limit (read by the shell from `/proc` about once a second), or when the
//! worker asks (`ctx.request_recycle()`). A recycle is a graceful restart step of
//! the service's plan: one worker of a service at a time, none while a rollout
//! is under way, the next once the replacement is ready, so capacity holds.
//!
//! A worker above its service's `max_rss` is recycled whatever its history (a
//! limit below what a new worker takes recycles at most once per reading and
//! replacement, one worker at a time). Memory that cannot be read is said once
//! per service (WARN).

use std::time::{Duration, Instant};

use log::Level;

use super::metrics::RecycleCause;
use super::{Facts, Life, Out, StopWhy, Supervisor, after};

/// How often the workers' memory is read.
pub(crate) const RSS_PERIOD: Duration = Duration::from_secs(1);

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

impl Supervisor {
    /// Starts a recycle where one is due (one worker per service at a time, and
    /// none while the service has a rollout or a step under way); records when
    /// to look again. Returns whether it started one.
    pub(super) fn recycle(&mut self, facts: &Facts, now: Instant, out: &mut Out) -> bool {
        let rss = facts.rss.as_deref();
        if rss.is_some() {
            self.rss_at = after(now, Some(RSS_PERIOD));
        }
        let mut started = false;
        for index in 0..self.services.len() {
            let policy = self.services[index].policy;
            let name = self.services[index].name;
            if policy.max_rss.is_some() {
                out.wake_at(self.rss_at.or(Some(now)));
            }
            // Only services that recycle, or one of whose workers asked.
            let watched = policy.max_lifetime.is_some()
                || policy.max_rss.is_some()
                || self.recycle_asked[index];
            if !watched || self.plans[index].busy() {
                continue;
            }
            let slots = self.table.service(index);
            let mut due_now = None;
            let mut unreadable = false;
            for (worker, r) in slots.running() {
                if r.life != Life::Ready {
                    continue;
                }
                if r.wants_recycle {
                    due_now = Some((
                        worker,
                        r.pid,
                        "asked by the worker".to_owned(),
                        RecycleCause::Asked,
                    ));
                    break;
                }
                if let Some(lifetime) = policy.max_lifetime {
                    match due(self.epoch, r.started, lifetime, worker.get(), slots.desired) {
                        Some(at) if now >= at => {
                            let life = now.saturating_duration_since(r.started);
                            due_now = Some((
                                worker,
                                r.pid,
                                format!("lifetime reached ({life:?})"),
                                RecycleCause::Lifetime,
                            ));
                            break;
                        }
                        at => out.wake_at(at),
                    }
                }
                let (Some(limit), Some(readings)) = (policy.max_rss, rss) else {
                    continue;
                };
                match readings.iter().find(|(pid, _)| *pid == r.pid) {
                    Some((_, Some(bytes))) if *bytes > limit => {
                        let young = r
                            .ready_at
                            .is_none_or(|at| now.saturating_duration_since(at) < 2 * RSS_PERIOD);
                        if young && !self.rss_small_warned[index] {
                            self.rss_small_warned[index] = true;
                            out.log(
                                Level::Warn,
                                format!(
                                    "max RSS of {name} ({limit} bytes) is below what a new worker \
                                     uses ({bytes} bytes): its workers are recycled as soon as \
                                     they are checked, one at a time"
                                ),
                            );
                        }
                        due_now = Some((
                            worker,
                            r.pid,
                            format!("RSS {bytes} bytes above {limit}"),
                            RecycleCause::Rss,
                        ));
                        break;
                    }
                    Some((_, None)) => unreadable = true,
                    _ => {}
                }
            }
            if unreadable && !self.rss_warned[index] {
                self.rss_warned[index] = true;
                out.log(
                    Level::Warn,
                    format!(
                        "Could not read the memory of a worker of {name} (/proc/PID/statm): \
                         recycling on memory does not see it"
                    ),
                );
            }
            let Some((worker, pid, reason, cause)) = due_now else {
                continue;
            };
            out.log(
                Level::Info,
                format!("Recycling worker {name}({worker}) [{pid}]: {reason}"),
            );
            self.table.set_life(
                index,
                worker,
                Life::Stopping {
                    why: StopWhy::Recycle,
                    since: now,
                },
                now,
            );
            out.signal(pid, nix::sys::signal::Signal::SIGTERM);
            self.plans[index].recycle(worker, pid, now);
            self.metrics.recycled(index, cause);
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
