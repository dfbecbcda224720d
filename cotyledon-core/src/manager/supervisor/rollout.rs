//! Planned disruptions of one service: rollouts (SIGHUP reloads, rolling
//! restarts) and recycles (pure: the service's slots and the time in, signals
//! and verdicts out).
//!
//! A **rollout** is a freshness target, not a list: after a SIGHUP at `t`, every
//! worker must run code that started at `t` or later (a process forked since, or
//! an in-place `reload()` begun since); after a rolling restart requested at `t`,
//! every worker must be a process forked since. A second SIGHUP (or a restart
//! request, or a `reconfigure`) during a rollout *folds into it*: the target
//! moves, the steps in flight go on and count against the batch, and a worker
//! whose step began before the new target is taken again once that step is done.
//! So capacity never drops by more than `batch` planned steps, whatever overlaps,
//! and at the end every worker runs code started after the last SIGHUP.
//!
//! A **step** takes one worker id out of service on purpose: SIGHUP (in-place
//! reload, or the default `reload()` that restarts the worker) or SIGTERM (a
//! restart). It is done when the id serves again with code at least as recent
//! as the step. Every step is bounded by the service's boot timeout: an in-place
//! `reload()` that has not returned by then, or a replacement not ready that long
//! after its predecessor died, stops the rollout (the caller logs it at ERROR and
//! restarts a worker whose `reload()` is stuck). Without a boot timeout a step
//! waits as long as the worker takes.
//!
//! A **recycle** is a one-worker restart step, started only when the service has
//! no rollout and no step in flight: one planned disruption at a time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::table::{Life, Slots};
use crate::ids::WorkerId;

/// Why a step was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepWhy {
    /// SIGHUP: the service's `reload()` (in place, or a restart by default).
    Reload,
    /// SIGTERM: a rolling restart.
    Restart,
    /// SIGTERM: a recycle.
    Recycle,
}

/// One worker id taken out of service on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) why: StepWhy,
    /// The process that was signalled.
    pub(crate) old_pid: i32,
    /// When it was signalled: the code that serves after must be this recent.
    pub(crate) at: Instant,
    /// When the old process was first seen gone (its replacement's boot is
    /// timed from here).
    pub(crate) died_at: Option<Instant>,
}

/// A rollout's targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rollout {
    /// Code must have started at or after this (the last SIGHUP).
    pub(crate) reload_since: Option<Instant>,
    /// Processes must have been forked at or after this (the last rolling restart).
    pub(crate) restart_since: Option<Instant>,
    /// How many steps may be in flight (`usize::MAX`: all at once).
    pub(crate) batch: usize,
    /// When it began.
    pub(crate) began: Instant,
}

impl Rollout {
    /// What it is called in log lines.
    pub(crate) fn what(&self) -> &'static str {
        // A restart requested since the last SIGHUP covers the reload too.
        match (self.reload_since, self.restart_since) {
            (Some(reload), Some(restart)) if restart >= reload => "restart",
            (Some(_), _) => "reload",
            _ => "restart",
        }
    }

    /// Whether this rollout is silent (all at once: cotyledon's SIGHUP, which
    /// logs nothing of its own).
    pub(crate) fn quiet(&self) -> bool {
        self.batch == usize::MAX
    }

    /// Whether a worker forked at `started`, running code since `code_since`,
    /// is as fresh as the targets ask (the status's rollout progress).
    pub(crate) fn is_fresh(&self, started: Instant, code_since: Instant) -> bool {
        self.needs(started, code_since).is_none()
    }

    /// The step a worker still needs, if its code is older than the targets.
    fn needs(&self, started: Instant, code_since: Instant) -> Option<StepWhy> {
        if self.restart_since.is_some_and(|t| started < t) {
            Some(StepWhy::Restart)
        } else if self.reload_since.is_some_and(|t| code_since < t) {
            Some(StepWhy::Reload)
        } else {
            None
        }
    }
}

/// The planned disruptions of one service.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) rollout: Option<Rollout>,
    steps: BTreeMap<WorkerId, Step>,
}

/// What went wrong with a step: the rollout stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stuck {
    /// The worker's in-place `reload()` has not returned within the boot
    /// timeout: restart it (pid).
    Reload { worker: WorkerId, pid: i32 },
    /// No replacement ready within the boot timeout of its predecessor's death.
    NotReady { worker: WorkerId },
}

/// What [`Plan::advance`] decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Advance {
    /// Signal these workers now: (id, pid, why).
    pub(crate) start: Vec<(WorkerId, i32, StepWhy)>,
    /// The rollout finished now (the targets it had).
    pub(crate) done: Option<Rollout>,
    /// A step ran over its bound: the rollout (if any) stopped.
    pub(crate) stuck: Option<(Stuck, Option<Rollout>)>,
    /// When to look again at the latest (a step's bound).
    pub(crate) deadline: Option<Instant>,
}

impl Plan {
    /// SIGHUP (`restart` false) or a rolling restart (`restart` true) at `now`:
    /// starts a rollout or folds into the one under way. Returns whether a new
    /// rollout started (false: folded).
    pub(crate) fn target(&mut self, restart: bool, batch: usize, now: Instant) -> bool {
        let fresh = self.rollout.is_none();
        let r = self.rollout.get_or_insert(Rollout {
            reload_since: None,
            restart_since: None,
            batch: batch.max(1),
            began: now,
        });
        if restart {
            r.restart_since = Some(now);
        } else {
            r.reload_since = Some(now);
        }
        // All at once only while every target is; a rolling target bounds it.
        r.batch = r.batch.min(batch.max(1));
        fresh
    }

    /// Whether a recycle may start: no rollout and nothing in flight.
    pub(crate) fn idle(&self) -> bool {
        self.rollout.is_none() && self.steps.is_empty()
    }

    /// Whether there is anything under way (a rollout or a step).
    pub(crate) fn busy(&self) -> bool {
        !self.idle()
    }

    /// Records a recycle step the caller just signalled.
    pub(crate) fn recycle(&mut self, worker: WorkerId, pid: i32, now: Instant) {
        self.steps.insert(
            worker,
            Step {
                why: StepWhy::Recycle,
                old_pid: pid,
                at: now,
                died_at: None,
            },
        );
    }

    /// Whether `worker`'s next fork replaces a process stopped on purpose (a
    /// planned fork, which the fork limiter does not count).
    pub(crate) fn replacing(&self, worker: WorkerId) -> bool {
        self.steps.contains_key(&worker)
    }

    /// The steps in flight.
    #[cfg(test)]
    pub(crate) fn steps(&self) -> impl Iterator<Item = (WorkerId, &Step)> + '_ {
        self.steps.iter().map(|(w, s)| (*w, s))
    }

    /// Drops everything (the shutdown abandons rollouts).
    pub(crate) fn clear(&mut self) {
        self.rollout = None;
        self.steps.clear();
    }

    /// Checks the steps in flight, then starts new ones up to the batch.
    pub(crate) fn advance(
        &mut self,
        slots: &Slots,
        boot_timeout: Option<Duration>,
        now: Instant,
    ) -> Advance {
        let mut out = Advance::default();
        let mut stuck = None;
        let bound = |from: Instant| boot_timeout.map(|t| super::pacing::deadline_after(from, t));
        self.steps.retain(|&worker, step| {
            if stuck.is_some() {
                return true;
            }
            if !slots.is_wanted(worker) {
                return false;
            }
            let bound =
                |from: Instant| boot_timeout.map(|t| super::pacing::deadline_after(from, t));
            match slots.get(worker) {
                Some(r) if r.pid == step.old_pid => {
                    if r.life.serving() && r.code_since >= step.at {
                        return false; // reloaded in place
                    }
                    if let Life::Reloading { since } = r.life {
                        match bound(since) {
                            Some(at) if now >= at => {
                                stuck = Some(Stuck::Reload { worker, pid: r.pid });
                                return false;
                            }
                            at => out.deadline = earliest(out.deadline, at),
                        }
                    }
                    true
                }
                Some(r) if r.life.serving() => false, // replaced, and ready
                _ => {
                    // Gone, or a replacement booting: timed from the death.
                    let died = *step.died_at.get_or_insert(now);
                    match bound(died) {
                        Some(at) if now >= at => {
                            stuck = Some(Stuck::NotReady { worker });
                            false
                        }
                        at => {
                            out.deadline = earliest(out.deadline, at);
                            true
                        }
                    }
                }
            }
        });
        if let Some(s) = stuck {
            let rollout = self.rollout.take();
            // Only recycles stay: they are one at a time anyway.
            self.steps.retain(|_, st| st.why == StepWhy::Recycle);
            out.stuck = Some((s, rollout));
            return out;
        }
        let Some(rollout) = self.rollout else {
            return out;
        };
        // Ids ascending: a stale worker not ready yet is waited for (it is
        // taken once ready), and so are the ids after it.
        let mut pending = false;
        for (worker, r) in slots.running() {
            if !slots.is_wanted(worker) || self.steps.contains_key(&worker) {
                continue;
            }
            let Some(why) = rollout.needs(r.started, r.code_since) else {
                continue;
            };
            match r.life {
                Life::Ready if self.steps.len() < rollout.batch => {
                    self.steps.insert(
                        worker,
                        Step {
                            why,
                            old_pid: r.pid,
                            at: now,
                            died_at: None,
                        },
                    );
                    out.start.push((worker, r.pid, why));
                    // Its bound: an in-place reload()'s end is the only thing
                    // that would wake the master otherwise.
                    out.deadline = earliest(out.deadline, bound(now));
                }
                // Waits for a free place in the batch, or to be ready.
                Life::Ready | Life::Booting | Life::Reloading { .. } => {
                    pending = true;
                    break;
                }
                // On its way out: its replacement will be fresh.
                Life::Stopping { .. } | Life::Aborting { .. } | Life::Killed { .. } => {}
            }
        }
        let rollout_steps = self.steps.values().any(|s| s.why != StepWhy::Recycle);
        if !pending && !rollout_steps {
            out.done = self.rollout.take();
        }
        out
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
