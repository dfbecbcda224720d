//! The supervisor: every decision the master makes, and nothing else (pure: no
//! system call, no clock, no global).
//!
//! One entry point, [`Supervisor::step`]: the shell passes what happened
//! ([`Input`]: signals, reaped exits, the outcome of what it was last asked to
//! do), what it read just before ([`Facts`]: the workers' shared slots that
//! changed, memory readings) and the time; the supervisor updates its state and returns what
//! the shell must do, in order ([`Action`]: fork, signal, notify systemd, run
//! hooks, log, exit). The path of an event is readable in this module and its
//! children:
//!
//! ```text
//! signal ─► shell: self-pipe ─► Input ─┐
//! waitpid ─► shell: reap ──────► Input ─┼─► Supervisor::step(inputs, facts, now)
//! shared slots, /proc ─► shell ─► Facts ┘        │ observe (facts → worker phases)
//!                                                │ inputs, by priority (SIGINT, SIGTERM first)
//!                                                │ tick: timers, rollouts, recycles, forks, notify
//!                                                ▼
//!                           Vec<Action> ─► shell: fork, kill, sd_notify, hooks, log, exit
//!                                                │ (forks and hooks answer with an Input)
//!                                                └─► next step
//! ```
//!
//! Hooks run in the shell (they are user code on the master's thread): a step
//! that needs them ends with [`Action::RunHooks`] and waits, keeping the rest of
//! its work as a continuation; the shell runs them and comes back with
//! [`Input::HooksDone`] and whatever signals arrived meanwhile. A SIGTERM or
//! SIGINT among those is served before the continuation, so a reload never
//! outruns a shutdown.
//!
//! Each worker's life is one [`Life`] in the [`Table`], changed only through
//! [`Table::set_life`]; its deadlines follow from its phase. Planned disruptions
//! (rollouts, recycles) are a [`Plan`] per service (see `rollout.rs`).

pub(crate) mod backoff;
mod dispatch;
mod exits;
mod forks;
mod judge;
mod life;
pub(crate) mod metrics;
pub(crate) mod notify;
pub(crate) mod pacing;
mod recycle;
mod reload;
mod requests;
pub(crate) mod rollout;
pub(crate) mod snapshot;
mod status;
pub(crate) mod table;
#[cfg(test)]
mod tests;
mod upgrade;
mod vocabulary;

use std::time::{Duration, Instant};

use log::Level;
use nix::sys::signal::Signal;

use self::backoff::Backoff;
use self::notify::Protocol;
use self::pacing::Pacing;
use self::rollout::Plan;
pub(crate) use self::table::{Life, StopWhy, Table};
pub(crate) use self::vocabulary::{
    Action, Facts, HookCall, Input, Phase, Request, Service, Settings, SlotFacts,
};
use self::vocabulary::{Out, Then};
use super::policy::Policy;

/// How long an instantaneous exit waits for workers before SIGKILL.
pub(crate) const INSTANT_EXIT_GRACE: Duration = Duration::from_secs(1);

/// The master's decisions. See the module documentation.
#[derive(Debug)]
pub(crate) struct Supervisor {
    pub(crate) services: Vec<Service>,
    pub(crate) table: Table,
    plans: Vec<Plan>,
    pacing: Pacing,
    backoff: Backoff,
    protocol: Protocol,
    phase: Phase,
    graceful_timeout: Duration,
    /// `WATCHDOG_USEC / 2`, when systemd watches the master.
    watchdog: Option<Duration>,
    /// The origin of every worker's recycling grid (the start of `run()`).
    epoch: Instant,
    /// When the workers' memory is read next.
    rss_at: Option<Instant>,
    /// Services whose memory could not be read (warned once).
    rss_warned: Vec<bool>,
    /// Services whose `max_rss` is below a new worker's size (warned once).
    rss_small_warned: Vec<bool>,
    /// Services one of whose workers asked to be recycled (looked at since).
    recycle_asked: Vec<bool>,
    /// Per service: heartbeats are judged from no earlier than this (a fresh
    /// period after the master itself did not run).
    judged_from: Vec<Option<Instant>>,
    /// The deadline the shell polled with last (to see a stall of the master).
    wake: Option<Instant>,
    /// What the last reload or rollout that failed said, for `STATUS=`.
    trouble: Option<String>,
    /// Set while hooks run: what comes after them, and the inputs left.
    then: Option<Then>,
    queued: Vec<Input>,
    /// `CLOCK_MONOTONIC` in microseconds at the last facts.
    mono_us: u64,
    /// The status line and whether all are ready, for the table's version and
    /// the trouble they were computed with.
    view: Option<(u64, Option<String>, bool, String)>,
    /// The binary upgrade under way, if any (`upgrade.rs`).
    upgrade: Option<upgrade::Attempt>,
    /// How long a new master may take to be ready.
    upgrade_timeout: Duration,
    /// This master is the new one of an upgrade and has not told the old one
    /// it is ready yet.
    handover_pending: bool,
    /// The counters the control endpoint shows (`metrics.rs`).
    metrics: metrics::Metrics,
}

impl Supervisor {
    pub(crate) fn new(settings: Settings, now: Instant) -> Self {
        Supervisor {
            services: Vec::new(),
            table: Table::default(),
            plans: Vec::new(),
            pacing: Pacing::new(settings.wait_interval, settings.fork_limiter),
            backoff: Backoff::new(settings.crash_backoff.0, settings.crash_backoff.1),
            protocol: Protocol::default(),
            phase: Phase::Running,
            graceful_timeout: settings.graceful_shutdown_timeout,
            watchdog: None,
            epoch: now,
            rss_at: None,
            rss_warned: Vec::new(),
            rss_small_warned: Vec::new(),
            recycle_asked: Vec::new(),
            judged_from: Vec::new(),
            wake: None,
            trouble: None,
            then: None,
            queued: Vec::new(),
            mono_us: 0,
            view: None,
            upgrade: None,
            upgrade_timeout: settings.upgrade_timeout,
            handover_pending: false,
            metrics: metrics::Metrics::default(),
        }
    }

    /// Registers a service; returns its index.
    pub(crate) fn add(
        &mut self,
        id: crate::ServiceId,
        name: &'static str,
        workers: usize,
    ) -> Result<usize, crate::Error> {
        let index = self.table.add(id, workers)?;
        self.services.push(Service {
            name,
            policy: Policy::default(),
        });
        self.plans.push(Plan::default());
        self.rss_warned.push(false);
        self.rss_small_warned.push(false);
        self.recycle_asked.push(false);
        self.judged_from.push(None);
        Ok(index)
    }

    /// The loop starts at `now`: the recycling grid's origin, the first fork,
    /// and systemd's watchdog period (half `WATCHDOG_USEC`). `inherited`: this
    /// master is the new one of an upgrade (its first readiness goes to the old
    /// master, not systemd).
    pub(crate) fn start(&mut self, now: Instant, watchdog: Option<Duration>, inherited: bool) {
        self.epoch = now;
        self.wake = Some(now);
        self.watchdog = watchdog;
        self.handover_pending = inherited;
    }

    /// The phase.
    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// When the shell must call again at the latest, with no input (`None`: only
    /// when something happens).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.wake
    }

    /// Whether every step needs the workers' slots read (heartbeats, which
    /// come with no signal), beyond the steps a worker's notice wakes.
    pub(crate) fn needs_beats(&self) -> bool {
        self.phase == Phase::Running
            && self
                .services
                .iter()
                .any(|s| s.policy.heartbeat_timeout.is_some())
    }

    /// Whether the next step wants memory readings in its facts.
    pub(crate) fn rss_due(&self, now: Instant) -> bool {
        self.phase == Phase::Running
            && self.services.iter().any(|s| s.policy.max_rss.is_some())
            && self.rss_at.is_none_or(|at| now >= at)
    }

    /// One step. See the module documentation.
    pub(crate) fn step(&mut self, inputs: Vec<Input>, facts: &Facts, now: Instant) -> Vec<Action> {
        let mut out = Out::default();
        let late = self.wake.take().filter(|&w| now > w).map(|w| now - w);
        self.observe(facts, late, now, &mut out);
        self.queued.extend(inputs);
        // Stable: arrival order within a rank.
        self.queued.sort_by_key(Input::rank);
        // Hooks that ran: their requests now, what came after them below.
        let mut resume = None;
        if let Some(pos) = self
            .queued
            .iter()
            .position(|i| matches!(i, Input::HooksDone { .. }))
            && let Input::HooksDone { outcome, requests } = self.queued.remove(pos)
        {
            let then = self.then.take();
            resume = self.hooks_done(then, outcome, requests, now, &mut out);
        }
        if self.then.is_some() {
            // Still waiting for hooks (the shell always answers).
            return out.actions;
        }
        // What changes the phase (SIGINT, SIGTERM, the deadline) comes before
        // the continuation: a reload never outruns a shutdown.
        while self.queued.first().is_some_and(|i| i.rank() <= 3) {
            let input = self.queued.remove(0);
            self.handle(input, now, &mut out);
            if self.then.is_some() {
                return out.actions;
            }
        }
        if let Some(then) = resume {
            self.resume(then, now, &mut out);
            if self.then.is_some() {
                return out.actions;
            }
        }
        while !self.queued.is_empty() {
            let input = self.queued.remove(0);
            self.handle(input, now, &mut out);
            if self.then.is_some() {
                return out.actions;
            }
        }
        self.tick(now, facts, &mut out);
        self.wake = out.wake;
        out.actions
    }

    /// Applies what hooks asked and returns what comes next; a failed
    /// configuration re-read changes nothing and ends the reload there.
    fn hooks_done(
        &mut self,
        then: Option<Then>,
        outcome: Result<(), String>,
        requests: Vec<Request>,
        now: Instant,
        out: &mut Out,
    ) -> Option<Then> {
        if let (Some(Then::ReloadHooks { .. }), Err(reason)) = (then, &outcome) {
            let busy = self.plans.iter().any(|p| p.rollout.is_some());
            let status = self.status();
            out.notify(
                self.protocol
                    .reload_failed(reason, status, self.table.all_ready(), busy),
            );
            return None;
        }
        self.apply(requests, now, out);
        then
    }

    /// Continues after hooks.
    fn resume(&mut self, then: Then, now: Instant, out: &mut Out) {
        match then {
            Then::ReloadHooks { at } if self.phase == Phase::Running => {
                self.then = Some(Then::Rollouts { at });
                out.actions.push(Action::RunHooks(HookCall::Reload));
            }
            Then::Rollouts { at } if self.phase == Phase::Running => {
                self.reload_services(at, now, out)
            }
            Then::KillServices if matches!(self.phase, Phase::Graceful { .. }) => {
                out.log(Level::Debug, "Killing services with signal SIGTERM");
                self.stop_all(now, out);
                out.log(Level::Debug, "Waiting services to terminate");
            }
            _ => {}
        }
    }

    /// After the inputs: timers, rollouts, recycles, forks, systemd.
    fn tick(&mut self, now: Instant, facts: &Facts, out: &mut Out) {
        match self.phase {
            Phase::Running => {
                self.judge(now, out);
                self.advance_plans(now, out);
                if self.recycle(facts, now, out) {
                    self.advance_plans(now, out);
                }
                self.stop_excess(now, out);
                self.spawn(facts.room, now, out);
                self.upgrade_tick(now, out);
                let busy = self.plans.iter().any(|p| p.rollout.is_some());
                let (all_ready, status) = self.view();
                self.metrics.started |= all_ready;
                // An upgrade under way holds READY=1 back like a rollout does.
                let busy = busy || self.upgrade_pending();
                let mut msgs = self.protocol.serving(all_ready, busy, status);
                self.tell_ready_if_first(&mut msgs, out);
                out.notify(msgs);
            }
            Phase::Graceful { deadline } => {
                self.upgrade_tick(now, out);
                if self.table.is_empty() && !self.upgrade_pending() {
                    out.log(Level::Debug, "Shutdown finish");
                    out.actions.push(Action::Exit(0));
                    return;
                }
                if deadline.is_some_and(|d| now >= d) {
                    self.graceful_timeout_exceeded(now, out);
                    return self.tick(now, facts, out);
                }
                out.wake_at(deadline);
            }
            Phase::Instant { deadline } => {
                if self.table.is_empty() && !self.upgrade_pending() {
                    out.actions.push(Action::Exit(1));
                    return;
                }
                if now >= deadline {
                    for pid in self.table.pids() {
                        out.signal(pid, Signal::SIGKILL);
                    }
                    self.upgrade_kill(out);
                    out.actions.push(Action::Exit(1));
                    return;
                }
                out.wake_at(Some(deadline));
            }
        }
        let (msgs, next) = self.protocol.tick(self.watchdog, now);
        out.notify(msgs);
        out.wake_at(next);
    }
}

/// The deadline `after` from `from`, if any (saturating).
fn after(from: Instant, after: Option<Duration>) -> Option<Instant> {
    after.map(|d| pacing::deadline_after(from, d))
}
