//! What the supervisor learns from the workers' shared slots, and the judgements
//! it makes on their timers: the boot timeout, the heartbeat watchdog and the
//! grace of an abort.
//!
//! The watchdog judges workers, not the master's own stalls: when the master
//! wakes later than it planned by more than half a service's heartbeat timeout
//! (it was stopped, starved, or its machine suspended), that service's workers
//! get a fresh period from now before they are judged, since they may have been
//! stopped along with it.

use std::time::{Duration, Instant};

use log::Level;
use nix::sys::signal::Signal;

use super::{Facts, Life, Out, Supervisor, after};

/// How long a worker aborted for a missed heartbeat may take to die before
/// SIGKILL.
pub(crate) const ABORT_GRACE: Duration = Duration::from_millis(200);

impl Supervisor {
    /// Applies the facts: readiness, finished in-place reloads, heartbeats,
    /// graceful exits begun, recycle requests; and, if the master woke `late`,
    /// fresh heartbeat periods.
    pub(super) fn observe(
        &mut self,
        facts: &Facts,
        late: Option<Duration>,
        now: Instant,
        out: &mut Out,
    ) {
        self.mono_us = facts.monotonic_usec;
        for &(pid, f) in &facts.slots {
            let Some((index, worker)) = self.table.locate(pid) else {
                continue;
            };
            self.table
                .observe(index, worker, f.reloaded_from, f.beat, f.recycle);
            self.recycle_asked[index] |= f.recycle;
            let Some(r) = self.table.get(index, worker) else {
                continue;
            };
            let next = match r.life {
                Life::Booting if f.ready => Some(Life::Ready),
                // Its reload() returned, or it is leaving (the default reload
                // is a restart).
                Life::Reloading { since } if r.code_since >= since && !f.leaving => {
                    Some(Life::Ready)
                }
                // Leaving while it reloads: its reload() is the default
                // restart, a step of the reload.
                Life::Reloading { .. } if f.leaving => Some(Life::Stopping {
                    why: super::StopWhy::Rollout,
                    since: now,
                }),
                Life::Booting | Life::Ready if f.leaving => Some(Life::Stopping {
                    why: super::StopWhy::OwnExit,
                    since: now,
                }),
                _ => None,
            };
            if let Some(life) = next {
                self.table.set_life(index, worker, life, now);
            }
        }
        let Some(late) = late else {
            return;
        };
        for index in 0..self.services.len() {
            let Some(limit) = self.services[index].policy.heartbeat_timeout else {
                continue;
            };
            if late > limit / 2 {
                self.judged_from[index] = Some(now);
                out.log(
                    Level::Warn,
                    format!(
                        "The master did not run for {late:?}: the workers of {} get a fresh \
                         heartbeat period before they are judged",
                        self.services[index].name
                    ),
                );
            }
        }
    }

    /// Boot timeouts, heartbeats and aborts of the workers of every service.
    pub(super) fn judge(&mut self, now: Instant, out: &mut Out) {
        for index in 0..self.services.len() {
            let policy = self.services[index].policy;
            // Nothing to judge without a boot timeout or a watchdog (aborts only
            // come from the watchdog).
            if policy.boot_timeout.is_none() && policy.heartbeat_timeout.is_none() {
                continue;
            }
            let workers: Vec<_> = self
                .table
                .service(index)
                .running()
                .map(|(w, _)| w)
                .collect();
            for worker in workers {
                self.judge_one(index, worker, now, out);
            }
        }
    }

    /// The timers of one worker.
    fn judge_one(
        &mut self,
        index: usize,
        worker: crate::ids::WorkerId,
        now: Instant,
        out: &mut Out,
    ) {
        {
            let policy = self.services[index].policy;
            let name = self.services[index].name;
            let Some(r) = self.table.get(index, worker).copied() else {
                return;
            };
            match r.life {
                Life::Booting => {
                    let Some(limit) = policy.boot_timeout else {
                        return;
                    };
                    match after(r.started, Some(limit)) {
                        Some(at) if now >= at => {
                            out.log(
                                Level::Error,
                                format!(
                                    "Worker {name}({worker}) not ready after {limit:?}, killing it"
                                ),
                            );
                            self.table
                                .set_life(index, worker, Life::Killed { boot: true }, now);
                            self.metrics.boot_timeout(index);
                            out.signal(r.pid, Signal::SIGKILL);
                        }
                        at => out.wake_at(at),
                    }
                }
                Life::Ready => {
                    let Some(limit) = policy.heartbeat_timeout else {
                        return;
                    };
                    let heard = r.beat.max(r.ready_at).unwrap_or(r.started);
                    let from = heard.max(self.judged_from[index].unwrap_or(heard));
                    match after(from, Some(limit)) {
                        Some(at) if now >= at => {
                            let silent = now.saturating_duration_since(heard);
                            out.log(
                                Level::Error,
                                format!(
                                    "Worker {name}({worker}) [{}] sent no heartbeat for {silent:?}, aborting it",
                                    r.pid
                                ),
                            );
                            self.table
                                .set_life(index, worker, Life::Aborting { since: now }, now);
                            self.metrics.watchdog_abort(index);
                            out.signal(r.pid, Signal::SIGABRT);
                            out.wake_at(after(now, Some(ABORT_GRACE)));
                        }
                        at => out.wake_at(at),
                    }
                }
                Life::Aborting { since } => match after(since, Some(ABORT_GRACE)) {
                    Some(at) if now >= at => {
                        self.table
                            .set_life(index, worker, Life::Killed { boot: false }, now);
                        out.signal(r.pid, Signal::SIGKILL);
                    }
                    at => out.wake_at(at),
                },
                Life::Reloading { .. } | Life::Stopping { .. } | Life::Killed { .. } => {}
            }
        }
    }
}
