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

/// How long a worker aborted for a missed heartbeat may take to die before
/// SIGKILL.
const ABORT_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

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
        let now_ns = sys::timer::monotonic_ns();
        for (index, worker) in newly {
            if let Some(r) = self.m.state.table.get_mut(index, worker) {
                r.ready = true;
                r.ready_ns = now_ns;
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

    /// SIGHUP: a rollout for every service, `batch` workers at a time for those
    /// that reload rolling, all at once for the others (cotyledon's way: SIGHUP to
    /// every worker). Either way the reload is done, for `READY=1`, once every
    /// worker serves again.
    pub(super) fn reload_services(&mut self, now: Instant) {
        for index in 0..self.m.entries.len() {
            match self.m.entries[index].policy.reload {
                Reload::Rolling { batch } => self.start_rolling(index, batch, Mode::Reload, now),
                _ => self.start_rolling(index, usize::MAX, Mode::Reload, now),
            }
        }
    }

    /// Starts a rollout; `batch` `usize::MAX` is all at once, and says nothing.
    fn start_rolling(&mut self, index: usize, batch: usize, mode: Mode, now: Instant) {
        let slots = self.m.state.table.service(index);
        let ids: Vec<WorkerId> = slots.running().map(|(w, _)| w).collect();
        if batch != usize::MAX {
            info!(
                target: TARGET,
                "Rolling {} of {}: {} workers, {batch} at a time",
                if mode == Mode::Reload { "reload" } else { "restart" },
                self.m.entries[index].name,
                ids.len()
            );
        }
        self.push_rollout(index, ids, batch, mode, now);
    }

    /// Starts a rollout of `ids`. A new rollout of a service replaces the one
    /// under way (its steps in flight finish on their own).
    pub(super) fn push_rollout(
        &mut self,
        index: usize,
        ids: Vec<WorkerId>,
        batch: usize,
        mode: Mode,
        now: Instant,
    ) {
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
        self.heartbeats(now);
        self.advance_rollings(now);
        // After the rollouts (one that just finished lets the next recycle
        // start), and the recycles it starts get their first step now.
        if self.recycle(now) {
            self.advance_rollings(now);
        }
        let all_ready = self.m.state.table.all_ready();
        let msgs = self
            .protocol
            .serving(all_ready, !self.rollings.is_empty(), self.status());
        self.tell_systemd(msgs);
    }

    /// What `systemctl status` shows: workers ready per service.
    fn status(&self) -> String {
        let parts: Vec<String> = self
            .m
            .state
            .table
            .services()
            .map(|(index, slots)| {
                let ready = slots.running().filter(|(_, r)| r.ready).count();
                format!(
                    "{} {ready}/{} ready",
                    self.m.entries[index].name, slots.desired
                )
            })
            .collect();
        format!("Workers: {}", parts.join(", "))
    }

    /// A SIGHUP whose configuration was refused (issue 15 item 8): nothing
    /// changed; systemd gets the reason, and `READY=1` unless an earlier reload
    /// is still under way.
    pub(super) fn reload_refused(&mut self, why: &str) {
        let (ready, rolling) = (self.m.state.table.all_ready(), !self.rollings.is_empty());
        let msgs = self
            .protocol
            .reload_failed(why, self.status(), ready, rolling);
        self.tell_systemd(msgs);
    }

    /// Sends notifications to systemd (nothing without `NOTIFY_SOCKET`).
    pub(super) fn tell_systemd(&self, msgs: Vec<String>) {
        for msg in msgs {
            self.notifier.send(&msg);
        }
    }

    /// Sends `WATCHDOG=1` when due (only the loop does: a master stuck in a hook
    /// stops pinging); records when the next one is.
    pub(super) fn watchdog(&mut self) {
        // Now, not the turn's start: a hook may have run for long since.
        let now = Instant::now();
        let (msgs, next) = self.protocol.tick(self.notifier.watchdog(), now);
        self.tell_systemd(msgs);
        self.ping_at = next;
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

    /// The hung-worker watchdog: a ready worker of a service with a heartbeat
    /// timeout whose last beat (or readiness) is older than the timeout is logged
    /// and sent SIGABRT (so that it can dump core), then SIGKILL after
    /// [`ABORT_GRACE`] if it is still there; it is respawned as any dead worker.
    fn heartbeats(&mut self, now: Instant) {
        let now_ns = sys::timer::monotonic_ns();
        let mut actions = Vec::new();
        for (index, slots) in self.m.state.table.services() {
            let Some(limit) = self.m.entries[index].policy.heartbeat_timeout else {
                continue;
            };
            let limit_ns = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
            for (worker, r) in slots.running() {
                if !r.ready || r.asked || slots.is_stopping(worker) {
                    continue;
                }
                let beat = sys::shm::slot(r.slot).map_or(0, |s| s.beat.load(Ordering::SeqCst));
                let last = beat.max(r.ready_ns);
                let due = if r.aborted_ns != 0 {
                    r.aborted_ns.saturating_add(ABORT_GRACE.as_nanos() as u64)
                } else {
                    last.saturating_add(limit_ns)
                };
                if now_ns >= due {
                    actions.push((index, worker, r.pid, r.aborted_ns != 0, now_ns - last));
                } else {
                    let at = now.checked_add(std::time::Duration::from_nanos(due - now_ns));
                    self.serve_at = earliest(self.serve_at, at);
                }
            }
        }
        for (index, worker, pid, aborted, silent_ns) in actions {
            let name = self.m.entries[index].name;
            let Some(r) = self.m.state.table.get_mut(index, worker) else {
                continue;
            };
            if aborted {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                r.aborted_ns = u64::MAX;
                continue;
            }
            error!(
                target: TARGET,
                "Worker {name}({worker}) [{pid}] sent no heartbeat for {:?}, aborting it",
                std::time::Duration::from_nanos(silent_ns)
            );
            r.aborted_ns = now_ns;
            let _ = kill(Pid::from_raw(pid), Signal::SIGABRT);
            let at = now.checked_add(ABORT_GRACE);
            self.serve_at = earliest(self.serve_at, at);
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
            let quiet = rolling.batch() == usize::MAX;
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
                if quiet {
                    return false;
                }
                error!(
                    target: TARGET,
                    "Rolling {what} of {name} stopped: worker {name}({worker}) not ready after {:?}",
                    policy.boot_timeout.unwrap_or_default()
                );
                return false;
            }
            if step.done {
                if !quiet {
                    info!(target: TARGET, "Rolling {what} of {name} done");
                }
                return false;
            }
            true
        });
        // Rollouts started meanwhile (none: requests are served before) are kept.
        rollings.append(&mut self.rollings);
        self.rollings = rollings;
    }
}
