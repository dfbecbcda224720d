//! The supervisor's counters (pure): updated where the events are decided
//! (forks, exits by reason, fork failures, reloads, rollouts done or stopped,
//! watchdog aborts, boot timeouts, recycles by cause, rollout durations), read
//! by the control endpoint (`/metrics`, `/status`).
//!
//! Memory is bounded by the ids that ever ran (at most
//! [`MAX_WORKERS`](super::table::MAX_WORKERS) per service): one small record
//! per id, its starts and its last exit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Life, StopWhy};
use crate::hooks::WorkerExit;
use crate::ids::WorkerId;

/// Why a worker process ended, as the master judged it when it was reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitWhy {
    /// Died unasked with a status other than 0, or by a signal.
    Crash,
    /// Exited 0 unasked.
    Exit,
    /// Aborted (then killed) for a missed heartbeat.
    Watchdog,
    /// Killed: not ready within its boot timeout.
    BootTimeout,
    /// Restarted on request (`restart_worker`, the control endpoint).
    Restart,
    /// Stopped on request and held down (`stop_worker`).
    Stop,
    /// Above its service's count (scale-down).
    ScaleDown,
    /// A step of a rollout (SIGHUP reload or rolling restart).
    Rollout,
    /// Recycled (lifetime, memory or its own request).
    Recycle,
    /// Its in-place `reload()` did not return in time.
    StuckReload,
    /// The manager's shutdown.
    Shutdown,
    /// It began a graceful exit itself.
    OwnExit,
}

impl ExitWhy {
    /// Every reason, in the order metrics list them.
    pub(crate) const ALL: [ExitWhy; 12] = [
        ExitWhy::Crash,
        ExitWhy::Exit,
        ExitWhy::Watchdog,
        ExitWhy::BootTimeout,
        ExitWhy::Restart,
        ExitWhy::Stop,
        ExitWhy::ScaleDown,
        ExitWhy::Rollout,
        ExitWhy::Recycle,
        ExitWhy::StuckReload,
        ExitWhy::Shutdown,
        ExitWhy::OwnExit,
    ];

    /// Its label in metrics and status (`reason="crash"`).
    pub(crate) fn label(self) -> &'static str {
        match self {
            ExitWhy::Crash => "crash",
            ExitWhy::Exit => "exit",
            ExitWhy::Watchdog => "watchdog",
            ExitWhy::BootTimeout => "boot_timeout",
            ExitWhy::Restart => "restart",
            ExitWhy::Stop => "stop",
            ExitWhy::ScaleDown => "scale_down",
            ExitWhy::Rollout => "rollout",
            ExitWhy::Recycle => "recycle",
            ExitWhy::StuckReload => "stuck_reload",
            ExitWhy::Shutdown => "shutdown",
            ExitWhy::OwnExit => "own_exit",
        }
    }

    /// The reason of a worker reaped in phase `life`, with `exit`, while the
    /// master was (`running`) or was not supervising.
    pub(crate) fn of(life: Life, exit: WorkerExit, running: bool) -> ExitWhy {
        match life {
            Life::Stopping { why, .. } => match why {
                StopWhy::Restart => ExitWhy::Restart,
                StopWhy::Held => ExitWhy::Stop,
                StopWhy::ScaledDown => ExitWhy::ScaleDown,
                StopWhy::Rollout => ExitWhy::Rollout,
                StopWhy::Recycle => ExitWhy::Recycle,
                StopWhy::StuckReload => ExitWhy::StuckReload,
                StopWhy::Shutdown => ExitWhy::Shutdown,
                StopWhy::OwnExit => ExitWhy::OwnExit,
            },
            Life::Aborting { .. } | Life::Killed { boot: false } => ExitWhy::Watchdog,
            Life::Killed { boot: true } => ExitWhy::BootTimeout,
            _ if !running => ExitWhy::Shutdown,
            _ if exit == WorkerExit::Exited(0) => ExitWhy::Exit,
            _ => ExitWhy::Crash,
        }
    }
}

/// What made a recycle due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecycleCause {
    /// `max_lifetime` reached.
    Lifetime,
    /// Resident memory above `max_rss`.
    Rss,
    /// The worker asked (`ctx.request_recycle()`).
    Asked,
}

impl RecycleCause {
    /// Every cause, in the order metrics list them.
    pub(crate) const ALL: [RecycleCause; 3] = [
        RecycleCause::Lifetime,
        RecycleCause::Rss,
        RecycleCause::Asked,
    ];

    /// Its label in metrics (`cause="lifetime"`).
    pub(crate) fn label(self) -> &'static str {
        match self {
            RecycleCause::Lifetime => "lifetime",
            RecycleCause::Rss => "rss",
            RecycleCause::Asked => "asked",
        }
    }
}

/// The upper bounds of the rollout-duration histogram's buckets, in seconds.
pub(crate) const ROLLOUT_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// A Prometheus histogram of durations (cumulative buckets are made when
/// rendered: these are per-bucket counts, the last one above every bound).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) counts: [u64; ROLLOUT_BUCKETS.len() + 1],
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

impl Histogram {
    /// Records one duration.
    pub(crate) fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        let bucket = ROLLOUT_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(ROLLOUT_BUCKETS.len());
        self.counts[bucket] += 1;
        self.sum += secs;
        self.count += 1;
    }
}

/// How a worker process ended, for the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LastExit {
    pub(crate) exit: WorkerExit,
    pub(crate) at: Instant,
    pub(crate) why: ExitWhy,
}

/// One worker id's history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct IdHistory {
    /// Processes forked for this id.
    pub(crate) starts: u64,
    pub(crate) last_exit: Option<LastExit>,
}

impl IdHistory {
    /// Processes after the first (respawns, restarts, recycles, rollouts).
    pub(crate) fn restarts(&self) -> u64 {
        self.starts.saturating_sub(1)
    }
}

/// The counters of one service.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ServiceMetrics {
    pub(crate) starts: u64,
    pub(crate) exits: [u64; ExitWhy::ALL.len()],
    pub(crate) fork_failures: u64,
    pub(crate) watchdog_aborts: u64,
    pub(crate) boot_timeouts: u64,
    pub(crate) recycles: [u64; RecycleCause::ALL.len()],
    pub(crate) rollouts_done: u64,
    pub(crate) rollouts_stopped: u64,
    pub(crate) rollout_seconds: Histogram,
    pub(crate) ids: BTreeMap<WorkerId, IdHistory>,
}

impl ServiceMetrics {
    /// Exits counted for `why`.
    pub(crate) fn exits_for(&self, why: ExitWhy) -> u64 {
        let i = ExitWhy::ALL.iter().position(|w| *w == why).unwrap_or(0);
        self.exits[i]
    }

    /// Recycles counted for `cause`.
    pub(crate) fn recycles_for(&self, cause: RecycleCause) -> u64 {
        let i = RecycleCause::ALL
            .iter()
            .position(|c| *c == cause)
            .unwrap_or(0);
        self.recycles[i]
    }
}

/// Every counter of the manager.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Metrics {
    /// By service index.
    pub(crate) services: Vec<ServiceMetrics>,
    /// SIGHUPs served (reloads begun).
    pub(crate) reloads: u64,
    /// Whether every worker was ready at least once (the end of the start).
    pub(crate) started: bool,
    /// Binary upgrades: attempts started, handed over, failed.
    pub(crate) upgrades: Upgrades,
}

/// The binary upgrades of this master.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Upgrades {
    pub(crate) started: u64,
    pub(crate) handed_over: u64,
    pub(crate) failed: u64,
}

impl Metrics {
    fn service(&mut self, index: usize) -> &mut ServiceMetrics {
        if self.services.len() <= index {
            self.services
                .resize_with(index + 1, ServiceMetrics::default);
        }
        &mut self.services[index]
    }

    /// A worker process was forked.
    pub(crate) fn forked(&mut self, index: usize, worker: WorkerId) {
        let s = self.service(index);
        s.starts += 1;
        s.ids.entry(worker).or_default().starts += 1;
    }

    /// A fork failed.
    pub(crate) fn fork_failed(&mut self, index: usize) {
        self.service(index).fork_failures += 1;
    }

    /// A worker process was reaped.
    pub(crate) fn exited(&mut self, index: usize, worker: WorkerId, last: LastExit) {
        let s = self.service(index);
        if let Some(i) = ExitWhy::ALL.iter().position(|w| *w == last.why) {
            s.exits[i] += 1;
        }
        s.ids.entry(worker).or_default().last_exit = Some(last);
    }

    /// A worker was aborted for a missed heartbeat.
    pub(crate) fn watchdog_abort(&mut self, index: usize) {
        self.service(index).watchdog_aborts += 1;
    }

    /// A worker was killed for its boot timeout.
    pub(crate) fn boot_timeout(&mut self, index: usize) {
        self.service(index).boot_timeouts += 1;
    }

    /// A recycle began.
    pub(crate) fn recycled(&mut self, index: usize, cause: RecycleCause) {
        if let Some(i) = RecycleCause::ALL.iter().position(|c| *c == cause) {
            self.service(index).recycles[i] += 1;
        }
    }

    /// A rollout of service `index` ended: done after `took`, or stopped.
    pub(crate) fn rollout_ended(&mut self, index: usize, done: Option<Duration>) {
        let s = self.service(index);
        match done {
            Some(took) => {
                s.rollouts_done += 1;
                s.rollout_seconds.observe(took);
            }
            None => s.rollouts_stopped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_classified_by_the_phase_they_died_in() {
        let now = Instant::now();
        let crash = WorkerExit::Signaled(9);
        assert_eq!(ExitWhy::of(Life::Ready, crash, true), ExitWhy::Crash);
        assert_eq!(
            ExitWhy::of(Life::Ready, WorkerExit::Exited(0), true),
            ExitWhy::Exit
        );
        assert_eq!(ExitWhy::of(Life::Ready, crash, false), ExitWhy::Shutdown);
        assert_eq!(
            ExitWhy::of(Life::Aborting { since: now }, crash, true),
            ExitWhy::Watchdog
        );
        assert_eq!(
            ExitWhy::of(Life::Killed { boot: true }, crash, true),
            ExitWhy::BootTimeout
        );
        let recycle = Life::Stopping {
            why: StopWhy::Recycle,
            since: now,
        };
        assert_eq!(
            ExitWhy::of(recycle, WorkerExit::Exited(0), true),
            ExitWhy::Recycle
        );
    }

    #[test]
    fn histogram_buckets_and_restarts() {
        let mut h = Histogram::default();
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_secs(3));
        h.observe(Duration::from_secs(10_000));
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[4], 1);
        assert_eq!(h.counts[ROLLOUT_BUCKETS.len()], 1);
        assert_eq!(h.count, 3);
        let mut m = Metrics::default();
        m.forked(1, WorkerId::new(0));
        m.forked(1, WorkerId::new(0));
        assert_eq!(m.services[1].ids[&WorkerId::new(0)].restarts(), 1);
        assert_eq!(m.services[0], ServiceMetrics::default());
    }
}
