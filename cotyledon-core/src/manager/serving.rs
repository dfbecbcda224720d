//! Readiness, boot timeouts, one-worker requests and rolling reloads in the
//! master's loop. The decisions are pure (`workers.rs`, `rolling.rs`); this file
//! reads the shared slots and sends the signals.

use std::sync::atomic::Ordering;
use std::time::Instant;

use log::{error, info};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::super::Reload;
use super::super::handle::Request;
use super::super::rolling::{Mode, Rolling, Slot};
use super::{Loop, TARGET};
use crate::service::WorkerId;
use crate::sys;

/// The earlier of two optional deadlines.
pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a worker's shared slot says: (ready, in-place reloads).
fn shared(slot: usize) -> (bool, u32) {
    sys::shm::slot(slot).map_or((false, 0), |s| {
        (
            s.ready.load(Ordering::SeqCst) != 0,
            s.reloads.load(Ordering::SeqCst),
        )
    })
}

impl Loop {
    /// A worker's slot changed: marks the workers that said they are ready.
    pub(super) fn notice(&mut self) {
        let mut newly = Vec::new();
        for (index, slots) in self.m.state.table.services() {
            for (worker, r) in slots.running() {
                if !r.ready && shared(r.slot).0 {
                    newly.push((index, worker));
                }
            }
        }
        for (index, worker) in newly {
            if let Some(r) = self.m.state.table.get_mut(index, worker) {
                r.ready = true;
            }
        }
    }

    /// Serves what hooks asked through their handle.
    pub(super) fn serve_requests(&mut self, now: Instant) {
        for request in std::mem::take(&mut self.m.state.requests) {
            match request {
                Request::Restart(index, worker) | Request::Stop(index, worker) => {
                    self.ask_to_stop(index, worker, Signal::SIGTERM);
                }
                Request::RollingRestart(index) => {
                    let batch = match self.m.entries[index].policy.reload {
                        Reload::Rolling { batch } => batch,
                        _ => 1,
                    };
                    self.start_rolling(index, batch, Mode::Restart, now);
                }
            }
        }
    }

    /// SIGHUP: a rollout for the services that reload rolling, SIGHUP at once to
    /// the workers of the others.
    pub(super) fn reload_services(&mut self, now: Instant) {
        for index in 0..self.m.entries.len() {
            match self.m.entries[index].policy.reload {
                Reload::Rolling { batch } => self.start_rolling(index, batch, Mode::Reload, now),
                _ => {
                    let slots = self.m.state.table.service(index);
                    for (worker, r) in slots.running() {
                        if !slots.is_stopping(worker) {
                            let _ = kill(Pid::from_raw(r.pid), Signal::SIGHUP);
                        }
                    }
                }
            }
        }
    }

    fn start_rolling(&mut self, index: usize, batch: usize, mode: Mode, now: Instant) {
        let slots = self.m.state.table.service(index);
        let ids: Vec<WorkerId> = slots.running().map(|(w, _)| w).collect();
        info!(
            target: TARGET,
            "Rolling {} of {}: {} workers, {batch} at a time",
            if mode == Mode::Reload { "reload" } else { "restart" },
            self.m.entries[index].name,
            ids.len()
        );
        // A new rollout of the same service replaces the one under way (its
        // steps in flight finish on their own).
        self.rollings.retain(|r| r.service != index);
        self.rollings
            .push(Rolling::new(index, ids, batch, mode, now));
    }

    /// Sends `signal` to the worker, as a request (its death is not a crash).
    fn ask_to_stop(&mut self, index: usize, worker: WorkerId, signal: Signal) {
        if let Some(r) = self.m.state.table.get_mut(index, worker) {
            r.asked = true;
            let _ = kill(Pid::from_raw(r.pid), signal);
        }
    }

    /// Boot timeouts, rollouts and READY=1; records when to come back.
    pub(super) fn serve(&mut self, now: Instant) {
        self.serve_at = None;
        self.boot_timeouts(now);
        self.advance_rollings(now);
        if self.m.state.table.all_ready() {
            self.notifier.ready();
        }
    }

    /// Kills the workers not ready within their service's boot timeout.
    fn boot_timeouts(&mut self, now: Instant) {
        let mut late = Vec::new();
        for (index, slots) in self.m.state.table.services() {
            let Some(limit) = self.m.entries[index].policy.boot_timeout else {
                continue;
            };
            for (worker, r) in slots.running() {
                if r.ready || r.boot_killed || slots.is_stopping(worker) {
                    continue;
                }
                match r.started.checked_add(limit) {
                    Some(at) if now >= at => late.push((index, worker, r.pid)),
                    at => self.serve_at = earliest(self.serve_at, at),
                }
            }
        }
        for (index, worker, pid) in late {
            let name = self.m.entries[index].name;
            let limit = self.m.entries[index]
                .policy
                .boot_timeout
                .unwrap_or_default();
            error!(
                target: TARGET,
                "Worker {name}({worker}) not ready after {limit:?}, killing it"
            );
            if let Some(r) = self.m.state.table.get_mut(index, worker) {
                r.boot_killed = true;
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    fn advance_rollings(&mut self, now: Instant) {
        let mut rollings = std::mem::take(&mut self.rollings);
        rollings.retain_mut(|rolling| {
            let index = rolling.service;
            let slots = self.m.state.table.service(index);
            let policy = self.m.entries[index].policy;
            let view = |worker: WorkerId| match slots.get(worker) {
                _ if !slots.is_wanted(worker) => Slot::Gone,
                Some(r) => {
                    let (_, reloads) = shared(r.slot);
                    Slot::Running {
                        pid: r.pid,
                        started: r.started,
                        ready: r.ready,
                        reloads,
                    }
                }
                None => Slot::Missing,
            };
            let step = rolling.advance(view, policy.boot_timeout, now);
            let name = self.m.entries[index].name;
            let what = match rolling.mode {
                Mode::Reload => "reload",
                Mode::Restart => "restart",
            };
            let signal = match rolling.mode {
                Mode::Reload => Signal::SIGHUP,
                Mode::Restart => Signal::SIGTERM,
            };
            for (worker, _) in &step.signal {
                self.ask_to_stop(index, *worker, signal);
            }
            self.serve_at = earliest(self.serve_at, step.deadline);
            if let Some(worker) = step.stuck {
                error!(
                    target: TARGET,
                    "Rolling {what} of {name} stopped: worker {name}({worker}) not ready after {:?}",
                    policy.boot_timeout.unwrap_or_default()
                );
                return false;
            }
            if step.done {
                info!(target: TARGET, "Rolling {what} of {name} done");
                return false;
            }
            true
        });
        // Rollouts started meanwhile (none: requests are served before) are kept.
        rollings.append(&mut self.rollings);
        self.rollings = rollings;
    }
}
