//! The status of the manager as the supervisor knows it (pure): the master's
//! phase, each service's count and rollout progress, each worker id's process
//! and history. The control endpoint renders it (`/status`); the shell adds
//! what only I/O knows (pids of its own, memory, uptime).

use std::time::{Duration, Instant};

use super::metrics::{ExitWhy, IdHistory, LastExit, Metrics};
use super::vocabulary::Then;
use super::{Life, Phase, Supervisor};
use crate::ids::WorkerId;

/// The master's phase, as the status shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MasterPhase {
    /// Not every worker was ready yet since the start.
    Starting,
    /// Supervising.
    Running,
    /// A reload or a rollout is under way.
    Reloading,
    /// A binary upgrade is under way: the new master's workers boot.
    Upgrading,
    /// Shutting down.
    Stopping,
}

impl MasterPhase {
    /// Its name in the status.
    pub(crate) fn label(self) -> &'static str {
        match self {
            MasterPhase::Starting => "starting",
            MasterPhase::Running => "running",
            MasterPhase::Reloading => "reloading",
            MasterPhase::Upgrading => "upgrading",
            MasterPhase::Stopping => "stopping",
        }
    }
}

/// A rollout under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RolloutView {
    /// `"reload"` or `"restart"`.
    pub(crate) what: &'static str,
    /// Workers already running code as fresh as the rollout asks.
    pub(crate) fresh: usize,
    /// Workers the service should have.
    pub(crate) total: usize,
    /// Steps at a time (`usize::MAX`: all at once).
    pub(crate) batch: usize,
    /// How long it has been under way.
    pub(crate) age: Duration,
}

/// One worker id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WorkerView {
    pub(crate) id: WorkerId,
    /// Its process (`None`: none right now).
    pub(crate) pid: Option<i32>,
    /// `booting`, `ready`, `reloading`, `stopping`, `aborting`, `killed`;
    /// without a process: `held` or `down` (waiting to be forked).
    pub(crate) state: &'static str,
    /// Why it is stopping, when it is.
    pub(crate) stopping: Option<ExitWhy>,
    /// Time since its fork.
    pub(crate) age: Option<Duration>,
    /// Time since its last heartbeat (only with a watchdog).
    pub(crate) beat_age: Option<Duration>,
    /// Processes of this id after the first.
    pub(crate) restarts: u64,
    /// How the previous process of this id ended, and how long ago.
    pub(crate) last_exit: Option<(LastExit, Duration)>,
}

/// One service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceView {
    pub(crate) name: &'static str,
    pub(crate) desired: usize,
    pub(crate) rollout: Option<RolloutView>,
    pub(crate) workers: Vec<WorkerView>,
}

/// The whole status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) phase: MasterPhase,
    /// The last failed reload or rollout, until a reload succeeds.
    pub(crate) trouble: Option<String>,
    pub(crate) services: Vec<ServiceView>,
}

impl Supervisor {
    /// The counters (see `metrics.rs`).
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether the manager is shutting down (commands change nothing then).
    pub(crate) fn is_stopping(&self) -> bool {
        self.phase != Phase::Running
    }

    /// The status at `now`.
    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        // A reload's hooks run (or their answer is due), or a rollout is under way.
        let hooks = matches!(
            self.then,
            Some(Then::ReloadHooks { .. } | Then::Rollouts { .. })
        );
        let busy = hooks || self.plans.iter().any(|p| p.rollout.is_some());
        let phase = match self.phase {
            Phase::Graceful { .. } | Phase::Instant { .. } => MasterPhase::Stopping,
            Phase::Running if self.upgrading() => MasterPhase::Upgrading,
            Phase::Running if busy => MasterPhase::Reloading,
            Phase::Running if !self.metrics.started => MasterPhase::Starting,
            Phase::Running => MasterPhase::Running,
        };
        let services = self
            .table
            .services()
            .map(|(index, slots)| self.service_view(index, slots, now))
            .collect();
        Snapshot {
            phase,
            trouble: self.trouble.clone(),
            services,
        }
    }

    fn service_view(&self, index: usize, slots: &super::table::Slots, now: Instant) -> ServiceView {
        let since = |at: Instant| now.saturating_duration_since(at);
        let watched = self.services[index].policy.heartbeat_timeout.is_some();
        let history = self.metrics.services.get(index);
        let of = |id: WorkerId| -> IdHistory {
            history
                .and_then(|h| h.ids.get(&id).copied())
                .unwrap_or_default()
        };
        let mut ids: Vec<WorkerId> = (0..slots.desired).map(WorkerId::new).collect();
        ids.extend(
            slots
                .running()
                .map(|(w, _)| w)
                .filter(|w| w.get() >= slots.desired),
        );
        let workers = ids
            .into_iter()
            .map(|id| {
                let h = of(id);
                let last_exit = h.last_exit.map(|l| (l, since(l.at)));
                let Some(r) = slots.get(id) else {
                    let state = if slots.is_held(id) { "held" } else { "down" };
                    return WorkerView {
                        id,
                        pid: None,
                        state,
                        stopping: None,
                        age: None,
                        beat_age: None,
                        restarts: h.restarts(),
                        last_exit,
                    };
                };
                let (state, stopping) = match r.life {
                    Life::Booting => ("booting", None),
                    Life::Ready => ("ready", None),
                    Life::Reloading { .. } => ("reloading", None),
                    Life::Stopping { why, since } => (
                        "stopping",
                        Some(ExitWhy::of(
                            Life::Stopping { why, since },
                            crate::WorkerExit::Exited(0),
                            true,
                        )),
                    ),
                    Life::Aborting { .. } => ("aborting", None),
                    Life::Killed { .. } => ("killed", None),
                };
                WorkerView {
                    id,
                    pid: Some(r.pid),
                    state,
                    stopping,
                    age: Some(since(r.started)),
                    beat_age: watched.then(|| r.beat.max(r.ready_at).map(since)).flatten(),
                    restarts: h.restarts(),
                    last_exit,
                }
            })
            .collect();
        let rollout = self.plans[index].rollout.map(|ro| RolloutView {
            what: ro.what(),
            fresh: slots
                .running()
                .filter(|(w, r)| {
                    slots.is_wanted(*w) && r.life.serving() && ro.is_fresh(r.started, r.code_since)
                })
                .count(),
            total: slots.desired,
            batch: ro.batch,
            age: since(ro.began),
        });
        ServiceView {
            name: self.services[index].name,
            desired: slots.desired,
            rollout,
            workers,
        }
    }
}
