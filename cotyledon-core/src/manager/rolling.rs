//! Rolling reloads and restarts of one service (pure: the caller passes what it
//! knows of each worker id and the time; decisions come out).
//!
//! Workers are taken `batch` at a time, ids ascending. A step is done when the id
//! serves again: its process is a new one that is ready (the old one restarted),
//! or the same one finished an in-place `reload()` (its counter went up). A new
//! process that is not ready within the boot timeout stops the rollout. Ids whose
//! process started after the rollout began are fresh already and skipped, and so
//! are ids no longer wanted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::service::WorkerId;

/// What the caller knows of one worker id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A process runs for the id.
    Running {
        pid: i32,
        started: Instant,
        ready: bool,
        /// In-place reloads it finished.
        reloads: u32,
    },
    /// No process right now; one will be forked.
    Missing,
    /// The id is not wanted any more (scaled away, held down).
    Gone,
}

/// SIGHUP (the service's `reload()`) or SIGTERM (a restart) for each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Reload,
    Restart,
}

#[derive(Debug)]
struct Step {
    worker: WorkerId,
    old_pid: i32,
    reloads_before: u32,
}

/// One rollout.
#[derive(Debug)]
pub(crate) struct Rolling {
    pub(crate) service: usize,
    pub(crate) mode: Mode,
    batch: usize,
    began: Instant,
    queue: VecDeque<WorkerId>,
    steps: Vec<Step>,
}

/// What to do after [`Rolling::advance`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Advance {
    /// Signal these workers now (id, pid).
    pub(crate) signal: Vec<(WorkerId, i32)>,
    /// Every id was reloaded.
    pub(crate) done: bool,
    /// This id's new process was not ready within the boot timeout: stop.
    pub(crate) stuck: Option<WorkerId>,
    /// When to call again at the latest (a boot timeout).
    pub(crate) deadline: Option<Instant>,
}

impl Rolling {
    pub(crate) fn new(
        service: usize,
        ids: impl IntoIterator<Item = WorkerId>,
        batch: usize,
        mode: Mode,
        now: Instant,
    ) -> Self {
        Rolling {
            service,
            mode,
            batch: batch.max(1),
            began: now,
            queue: ids.into_iter().collect(),
            steps: Vec::new(),
        }
    }

    /// How many workers it takes at a time (`usize::MAX`: all at once).
    pub(crate) fn batch(&self) -> usize {
        self.batch
    }

    /// Whether `worker` is being replaced by this rollout (restarted, not
    /// reloaded in place): its next fork is planned, not a crash's respawn.
    pub(crate) fn replacing(&self, worker: WorkerId) -> bool {
        self.mode == Mode::Restart && self.steps.iter().any(|s| s.worker == worker)
    }

    /// How many ids the rollout covers that are not done yet.
    #[cfg(test)]
    pub(crate) fn left(&self) -> usize {
        self.queue.len() + self.steps.len()
    }

    /// Checks the steps under way, then starts new ones up to the batch size.
    pub(crate) fn advance(
        &mut self,
        slot: impl Fn(WorkerId) -> Slot,
        boot_timeout: Option<Duration>,
        now: Instant,
    ) -> Advance {
        let mut out = Advance::default();
        let mut stuck = None;
        self.steps.retain(|step| match slot(step.worker) {
            Slot::Gone => false,
            Slot::Missing => true,
            Slot::Running { pid, reloads, .. } if pid == step.old_pid => {
                reloads <= step.reloads_before
            }
            Slot::Running { ready: true, .. } => false,
            Slot::Running { started, .. } => {
                if let Some(limit) = boot_timeout {
                    let at = started.checked_add(limit);
                    if at.is_none_or(|at| now < at) {
                        out.deadline = min(out.deadline, at);
                    } else {
                        stuck = Some(step.worker);
                    }
                }
                true
            }
        });
        if stuck.is_some() {
            out.stuck = stuck;
            return out;
        }
        while self.steps.len() < self.batch {
            let Some(worker) = self.queue.pop_front() else {
                break;
            };
            if let Slot::Running {
                pid,
                started,
                reloads,
                ..
            } = slot(worker)
                && started < self.began
            {
                self.steps.push(Step {
                    worker,
                    old_pid: pid,
                    reloads_before: reloads,
                });
                out.signal.push((worker, pid));
            }
        }
        out.done = self.steps.is_empty() && self.queue.is_empty();
        out
    }
}

fn min(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests;
