//! The supervisor: every decision the master makes, and nothing else (pure: no
//! system call, no clock, no global).
//!
//! One entry point, [`Supervisor::step`]: the shell passes what happened
//! ([`Input`]: signals, reaped exits, the outcome of what it was last asked to
//! do), what it read just before ([`Facts`]: each worker's shared slot, memory
//! readings) and the time; the supervisor updates its state and returns what
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
mod judge;
pub(crate) mod notify;
pub(crate) mod pacing;
mod recycle;
mod requests;
pub(crate) mod rollout;
pub(crate) mod table;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use log::Level;
use nix::sys::signal::Signal;

use self::backoff::Backoff;
use self::notify::Protocol;
use self::pacing::{Gate, Pacing};
use self::rollout::{Plan, StepWhy, Stuck, earliest};
pub(crate) use self::table::{Life, StopWhy, Table};
use super::handle::Request;
use super::policy::{Policy, Reload};
use crate::hooks::{WorkerExit, signal_name};
use crate::service::WorkerId;

/// How long an instantaneous exit waits for workers before SIGKILL.
pub(crate) const INSTANT_EXIT_GRACE: Duration = Duration::from_secs(1);

/// What happened, as the shell tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// SIGTERM (or `shutdown()` from a hook).
    Terminate,
    /// SIGINT.
    Interrupt,
    /// SIGHUP.
    Hangup,
    /// The graceful-shutdown timer (armed at SIGTERM) fired.
    GracefulDeadline,
    /// A worker was reaped.
    Reaped(i32, WorkerExit),
    /// The fork asked for happened: the child's pid and registry slot.
    Forked {
        index: usize,
        worker: WorkerId,
        pid: i32,
        slot: usize,
    },
    /// The fork asked for failed.
    ForkFailed {
        index: usize,
        worker: WorkerId,
        error: String,
    },
    /// The hooks asked for ran: whether every one succeeded (else why the
    /// first failed), and what they asked of the manager through their handle.
    HooksDone {
        outcome: Result<(), String>,
        requests: Vec<Request>,
    },
}

impl Input {
    /// The order in which inputs of one batch are served.
    fn rank(&self) -> u8 {
        match self {
            Input::Forked { .. } | Input::ForkFailed { .. } | Input::HooksDone { .. } => 0,
            Input::Interrupt => 1,
            Input::Terminate => 2,
            Input::GracefulDeadline => 3,
            Input::Reaped(..) => 4,
            Input::Hangup => 5,
        }
    }
}

/// What one worker's shared slot says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SlotFacts {
    /// It said it is ready.
    pub(crate) ready: bool,
    /// When the last in-place `reload()` that finished had started.
    pub(crate) reloaded_from: Option<Instant>,
    /// Its last heartbeat.
    pub(crate) beat: Option<Instant>,
    /// It asked to be recycled.
    pub(crate) recycle: bool,
    /// It began a graceful exit (SIGTERM, or its own request).
    pub(crate) leaving: bool,
}

/// What the shell read before the step.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    /// Each running worker's slot, by pid.
    pub(crate) slots: Vec<(i32, SlotFacts)>,
    /// Resident memory by pid (`None`: unreadable), when [`Supervisor::rss_due`].
    pub(crate) rss: Option<Vec<(i32, Option<u64>)>>,
    /// Whether a forked worker would find a free registry slot.
    pub(crate) room: bool,
    /// `CLOCK_MONOTONIC` in microseconds, read with `now` (for `RELOADING=1`).
    pub(crate) monotonic_usec: u64,
}

/// The hooks a step asks the shell to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HookCall {
    /// The configuration re-read (SIGHUP, before the reload hooks).
    Config,
    /// `on_reload`.
    Reload,
    /// `on_terminate`.
    Terminate,
    /// `on_dead_worker`.
    DeadWorker {
        index: usize,
        worker: WorkerId,
        exit: WorkerExit,
    },
}

/// What the shell must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Log under `cotyledon::manager`.
    Log(Level, String),
    /// Send to systemd (nothing without `NOTIFY_SOCKET`).
    Notify(String),
    /// Send a signal to a worker.
    Signal(i32, Signal),
    /// Fork worker `worker` of service `index`; answer with `Forked` or
    /// `ForkFailed`.
    Fork { index: usize, worker: WorkerId },
    /// Free a reaped worker's registry slot.
    Release(usize),
    /// Run hooks; answer with `HooksDone`. Always the last action of a step.
    RunHooks(HookCall),
    /// Arm the kernel timer of the graceful deadline (once).
    ArmGraceful,
    /// The manager's graceful-shutdown timeout changed.
    SetGracefulTimeout(Duration),
    /// Exit the master with this status.
    Exit(i32),
}

/// Where the master is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Supervising: respawning, reloading.
    Running,
    /// SIGTERM: waiting for workers, until the deadline (if any).
    Graceful { deadline: Option<Instant> },
    /// SIGINT or graceful timeout: waiting briefly before SIGKILL and exit 1.
    Instant { deadline: Instant },
}

/// What a step does once the hooks it asked for have run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// The configuration was re-read: the reload hooks next.
    ReloadHooks { at: Instant },
    /// The reload hooks ran: the rollouts.
    Rollouts { at: Instant },
    /// The terminate hooks ran: SIGTERM to every worker.
    KillServices,
    /// A dead worker's hooks ran: nothing more.
    Nothing,
}

/// One registered service, as the supervisor knows it.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) name: &'static str,
    pub(crate) policy: Policy,
}

/// The manager-wide settings the supervisor applies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) wait_interval: Duration,
    pub(crate) graceful_shutdown_timeout: Duration,
    pub(crate) fork_limiter: bool,
    pub(crate) crash_backoff: (Duration, Duration),
}

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
    /// When the loop should next try to fork.
    spawn_at: Option<Instant>,
    /// When the workers' memory is read next.
    rss_at: Option<Instant>,
    /// Services whose memory could not be read (warned once).
    rss_warned: Vec<bool>,
    /// Services whose `max_rss` is below a new worker's size (warned once).
    rss_small_warned: Vec<bool>,
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
}

/// The actions of one step, with helpers.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub(crate) actions: Vec<Action>,
    wake: Option<Instant>,
}

impl Out {
    fn log(&mut self, level: Level, msg: impl Into<String>) {
        self.actions.push(Action::Log(level, msg.into()));
    }
    fn signal(&mut self, pid: i32, signal: Signal) {
        self.actions.push(Action::Signal(pid, signal));
    }
    fn notify(&mut self, msgs: Vec<String>) {
        self.actions.extend(msgs.into_iter().map(Action::Notify));
    }
    fn wake_at(&mut self, at: Option<Instant>) {
        self.wake = earliest(self.wake, at);
    }
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
            spawn_at: Some(now),
            rss_at: None,
            rss_warned: Vec::new(),
            rss_small_warned: Vec::new(),
            judged_from: Vec::new(),
            wake: None,
            trouble: None,
            then: None,
            queued: Vec::new(),
            mono_us: 0,
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
        self.judged_from.push(None);
        Ok(index)
    }

    /// The loop starts at `now`: the recycling grid's origin, the first fork,
    /// and systemd's watchdog period (half `WATCHDOG_USEC`).
    pub(crate) fn start(&mut self, now: Instant, watchdog: Option<Duration>) {
        self.epoch = now;
        self.spawn_at = Some(now);
        self.wake = Some(now);
        self.watchdog = watchdog;
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

    /// Serves one input.
    fn handle(&mut self, input: Input, now: Instant, out: &mut Out) {
        match input {
            Input::Terminate => self.begin_graceful(now, out),
            Input::Interrupt => {
                if !matches!(self.phase, Phase::Instant { .. }) {
                    out.log(Level::Info, "Caught SIGINT signal, instantaneous exiting");
                    self.begin_instant(now, out);
                }
            }
            Input::GracefulDeadline => {
                if !matches!(self.phase, Phase::Instant { .. }) {
                    self.graceful_timeout_exceeded(now, out);
                }
            }
            Input::Hangup => self.begin_reload(now, out),
            Input::Reaped(pid, exit) => self.reaped(pid, exit, now, out),
            Input::Forked {
                index,
                worker,
                pid,
                slot,
            } => {
                self.table.insert(index, worker, pid, now).slot = slot;
                let planned = self.plans[index].replacing(worker);
                self.pacing.forked(now, planned);
                // The facts of this step were read before the worker was in
                // the table: its slot is read at once at the next step (a notice
                // it sent meanwhile may already be consumed).
                out.wake_at(Some(now));
            }
            Input::ForkFailed {
                index,
                worker,
                error,
            } => {
                let delay = self.pacing.fork_failed(now);
                let name = self.services[index].name;
                out.log(
                    Level::Error,
                    format!(
                        "Could not fork worker {name}({worker}): {error}; retrying in {delay:?}"
                    ),
                );
            }
            // Served in `step`.
            Input::HooksDone { .. } => {}
        }
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

    /// SIGHUP: RELOADING=1, then the configuration, the reload hooks, and the
    /// rollouts (after each hook run, see [`Then`]).
    fn begin_reload(&mut self, now: Instant, out: &mut Out) {
        if self.phase != Phase::Running {
            return;
        }
        out.log(Level::Debug, "Caught SIGHUP signal, reloading services");
        self.trouble = None;
        out.notify(self.protocol.reloading(self.mono_us));
        self.then = Some(Then::ReloadHooks { at: now });
        out.actions.push(Action::RunHooks(HookCall::Config));
    }

    /// After the reload hooks: the fork history and back-offs are forgotten,
    /// workers scaled away are stopped, and every service gets a rollout (or
    /// the one under way takes the new target).
    fn reload_services(&mut self, at: Instant, now: Instant, out: &mut Out) {
        self.pacing.reset();
        self.backoff.reset();
        self.stop_excess(now, out);
        for index in 0..self.services.len() {
            let batch = match self.services[index].policy.reload {
                Reload::Rolling { batch } => batch,
                _ => usize::MAX,
            };
            self.start_rollout(index, false, batch, at, out);
        }
    }

    /// Starts a rollout of service `index`, or folds into its rollout under way.
    fn start_rollout(
        &mut self,
        index: usize,
        restart: bool,
        batch: usize,
        at: Instant,
        out: &mut Out,
    ) {
        let was_quiet = self.plans[index].rollout.is_none_or(|r| r.quiet());
        let fresh = self.plans[index].target(restart, batch, at);
        let name = self.services[index].name;
        let Some(rollout) = self.plans[index].rollout else {
            return;
        };
        if rollout.quiet() {
            return;
        }
        let workers = self.table.service(index).running().count();
        let what = rollout.what();
        if fresh || was_quiet {
            out.log(
                Level::Info,
                format!(
                    "Rolling {what} of {name}: {workers} workers, {} at a time",
                    rollout.batch
                ),
            );
        } else if rollout.began < at {
            out.log(
                Level::Info,
                format!(
                    "Rolling {what} of {name}: folded into the rollout under way, \
                     {} at a time, until every worker runs code started after now",
                    rollout.batch
                ),
            );
        }
    }

    /// A reaped worker: the log line, the back-off, the dead-worker hooks.
    fn reaped(&mut self, pid: i32, exit: WorkerExit, now: Instant, out: &mut Out) {
        let Some(removed) = self.table.remove_pid(pid) else {
            return;
        };
        out.actions.push(Action::Release(removed.running.slot));
        match exit {
            WorkerExit::Exited(code) => out.log(
                Level::Info,
                format!("Child {pid} exited with status {code}"),
            ),
            WorkerExit::Signaled(sig) => out.log(
                Level::Info,
                format!("Child {pid} killed by signal {}", signal_name(sig)),
            ),
        }
        let slot = (removed.index, removed.worker);
        let life = removed.running.life;
        if life.asked_to_stop() || self.phase != Phase::Running || exit == WorkerExit::Exited(0) {
            self.backoff.forget(slot);
        } else {
            // A worker killed for missing its boot timeout died early, however
            // long it was given.
            let started = if life == (Life::Killed { boot: true }) {
                now
            } else {
                removed.started
            };
            if let Some(delay) = self.backoff.died(slot, started, now) {
                out.log(
                    Level::Info,
                    format!(
                        "Worker {}({}) keeps dying right after start, respawning it in {delay:?}",
                        self.services[removed.index].name, removed.worker
                    ),
                );
            }
        }
        self.then = Some(Then::Nothing);
        out.actions.push(Action::RunHooks(HookCall::DeadWorker {
            index: removed.index,
            worker: removed.worker,
            exit,
        }));
    }

    /// SIGTERM or `shutdown()`: STOPPING=1, the deadline, the terminate hooks,
    /// then SIGTERM to every worker.
    fn begin_graceful(&mut self, now: Instant, out: &mut Out) {
        if self.phase != Phase::Running {
            return;
        }
        out.log(
            Level::Info,
            "Caught SIGTERM signal, graceful exiting of master process",
        );
        out.notify(self.protocol.stopping());
        out.actions.push(Action::ArmGraceful);
        let timeout = self.graceful_timeout;
        self.phase = Phase::Graceful {
            // A deadline too far to represent is no deadline.
            deadline: (!timeout.is_zero())
                .then(|| now.checked_add(timeout))
                .flatten(),
        };
        for plan in &mut self.plans {
            plan.clear();
        }
        // Any continuation (a reload) is abandoned: the shutdown outranks it.
        self.then = Some(Then::KillServices);
        out.actions.push(Action::RunHooks(HookCall::Terminate));
    }

    fn graceful_timeout_exceeded(&mut self, now: Instant, out: &mut Out) {
        out.log(
            Level::Info,
            "Graceful shutdown timeout exceeded, instantaneous exiting of master process",
        );
        self.begin_instant(now, out);
    }

    /// SIGINT or the graceful timeout: STOPPING=1, SIGINT to every worker, exit
    /// once they are gone (SIGKILL after a second).
    fn begin_instant(&mut self, now: Instant, out: &mut Out) {
        out.notify(self.protocol.stopping());
        self.phase = Phase::Instant {
            deadline: pacing::deadline_after(now, INSTANT_EXIT_GRACE),
        };
        self.then = None;
        for plan in &mut self.plans {
            plan.clear();
        }
        for pid in self.table.pids() {
            out.signal(pid, Signal::SIGINT);
        }
    }

    /// SIGTERM to every worker (the shutdown).
    fn stop_all(&mut self, now: Instant, out: &mut Out) {
        for (index, worker, pid) in self.table.workers() {
            self.table.set_life(
                index,
                worker,
                Life::Stopping {
                    why: StopWhy::Shutdown,
                    since: now,
                },
                now,
            );
            out.signal(pid, Signal::SIGTERM);
        }
    }

    /// Sends SIGTERM, once, to the workers above their service's count.
    fn stop_excess(&mut self, now: Instant, out: &mut Out) {
        for pid in self.table.take_excess(now) {
            out.signal(pid, Signal::SIGTERM);
        }
    }

    /// Asks one worker to stop (SIGTERM), for `why`: its death is no crash.
    fn ask_to_stop(
        &mut self,
        index: usize,
        worker: WorkerId,
        why: StopWhy,
        now: Instant,
        out: &mut Out,
    ) {
        let Some(r) = self.table.get(index, worker) else {
            return;
        };
        if r.life.asked_to_stop() {
            return;
        }
        let pid = r.pid;
        self.table
            .set_life(index, worker, Life::Stopping { why, since: now }, now);
        out.signal(pid, Signal::SIGTERM);
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
                let busy = self.plans.iter().any(|p| p.rollout.is_some());
                let status = self.status();
                out.notify(self.protocol.serving(self.table.all_ready(), busy, status));
            }
            Phase::Graceful { deadline } => {
                if self.table.is_empty() {
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
                if self.table.is_empty() {
                    out.actions.push(Action::Exit(1));
                    return;
                }
                if now >= deadline {
                    for pid in self.table.pids() {
                        out.signal(pid, Signal::SIGKILL);
                    }
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

    /// Advances every service's plan: steps done, steps stuck, new steps.
    fn advance_plans(&mut self, now: Instant, out: &mut Out) {
        for index in 0..self.services.len() {
            let boot_timeout = self.services[index].policy.boot_timeout;
            let step = self.plans[index].advance(self.table.service(index), boot_timeout, now);
            out.wake_at(step.deadline);
            let name = self.services[index].name;
            for (worker, pid, why) in step.start {
                let life = match why {
                    StepWhy::Reload => Life::Reloading { since: now },
                    StepWhy::Restart | StepWhy::Recycle => Life::Stopping {
                        why: StopWhy::Rollout,
                        since: now,
                    },
                };
                self.table.set_life(index, worker, life, now);
                let signal = if why == StepWhy::Reload {
                    Signal::SIGHUP
                } else {
                    Signal::SIGTERM
                };
                out.signal(pid, signal);
            }
            if let Some(done) = step.done
                && !done.quiet()
            {
                out.log(
                    Level::Info,
                    format!("Rolling {} of {name} done", done.what()),
                );
            }
            if let Some((stuck, rollout)) = step.stuck {
                let limit = boot_timeout.unwrap_or_default();
                let what = rollout.map_or("recycle", |r| r.what());
                let (worker, reason) = match stuck {
                    Stuck::Reload { worker, .. } => {
                        (worker, format!("reload() did not return within {limit:?}"))
                    }
                    Stuck::NotReady { worker } => (worker, format!("not ready after {limit:?}")),
                };
                let msg = if what == "recycle" {
                    format!("Recycle of worker {name}({worker}) stuck: {reason}")
                } else {
                    format!("Rolling {what} of {name} stopped: worker {name}({worker}) {reason}")
                };
                out.log(Level::Error, msg.clone());
                if rollout.is_some() {
                    self.trouble = Some(msg);
                }
                if let Stuck::Reload { worker, .. } = stuck {
                    self.ask_to_stop(index, worker, StopWhy::StuckReload, now, out);
                }
            }
        }
    }

    /// Starts one missing worker if pacing allows; records when to try again.
    fn spawn(&mut self, room: bool, now: Instant, out: &mut Out) {
        // The first missing worker whose id is not backing off; otherwise, when
        // the first back-off ends.
        let mut ready = None;
        let mut backing_off: Option<Instant> = None;
        for slot in self.table.missing() {
            match self.backoff.not_before(slot, now) {
                None => {
                    ready = Some(slot);
                    break;
                }
                Some(at) => backing_off = earliest(backing_off, Some(at)),
            }
        }
        let Some((index, worker)) = ready else {
            self.spawn_at = backing_off;
            out.wake_at(backing_off);
            return;
        };
        // The emergency path must see every worker: fork only with a free
        // registry slot (a reap frees one and wakes the loop).
        if !room {
            self.spawn_at = None;
            return;
        }
        if self.spawn_at.is_some_and(|at| now < at) {
            out.wake_at(self.spawn_at);
            return;
        }
        match self.pacing.gate(now, self.table.expected()) {
            Gate::Open => {
                out.actions.push(Action::Fork { index, worker });
                // Come straight back: the next fork may be due at once, and
                // the pipe is read in between.
                self.spawn_at = Some(now);
            }
            Gate::Until(at) => self.spawn_at = Some(at),
            Gate::TooFast(at) => {
                out.log(Level::Info, "Forking too fast, sleeping");
                self.spawn_at = Some(at);
            }
        }
        out.wake_at(self.spawn_at);
    }

    /// What `systemctl status` shows: workers ready per service, and the last
    /// reload's failure until a reload succeeds.
    fn status(&self) -> String {
        let parts: Vec<String> = self
            .table
            .services()
            .map(|(index, slots)| {
                let ready = slots.running().filter(|(_, r)| r.life.serving()).count();
                format!(
                    "{} {ready}/{} ready",
                    self.services[index].name, slots.desired
                )
            })
            .collect();
        let workers = format!("Workers: {}", parts.join(", "));
        match &self.trouble {
            Some(trouble) => format!("{trouble}; {workers}"),
            None => workers,
        }
    }
}

/// The deadline `after` from `from`, if any (saturating).
fn after(from: Instant, after: Option<Duration>) -> Option<Instant> {
    after.map(|d| pacing::deadline_after(from, d))
}
