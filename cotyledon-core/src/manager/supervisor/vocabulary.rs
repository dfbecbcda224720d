//! The supervisor's whole vocabulary: every input is an event the shell saw,
//! every output an action the shell performs (after watchexec's `Control`).

use std::time::{Duration, Instant};

use log::Level;
use nix::sys::signal::Signal;

use super::rollout::earliest;
use crate::hooks::WorkerExit;
use crate::ids::WorkerId;
use crate::manager::policy::Policy;

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
    /// The fork asked for happened: the child's pid and registry slot, and the
    /// time just before the fork (the child is a copy of the master as it was
    /// then: a SIGHUP served in this step came after it).
    Forked {
        index: usize,
        worker: WorkerId,
        pid: i32,
        slot: usize,
        at: Instant,
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
    /// SIGUSR2 (`signal`), or `upgrade()` from a hook: a binary upgrade.
    Upgrade { signal: bool },
    /// The new master asked for by [`Action::StartUpgrade`] runs.
    UpgradeStarted { pid: i32 },
    /// The new master could not be started, or said it cannot take over.
    UpgradeFailed(String),
    /// The new master said every one of its workers is ready.
    UpgradeReady,
    /// What the control endpoint, SIGTTIN or SIGTTOU asked (checked as a
    /// `ManagerHandle` checks them), applied as hooks' requests are.
    Control(Vec<Request>),
}

impl Input {
    /// The order in which inputs of one batch are served.
    pub(super) fn rank(&self) -> u8 {
        match self {
            Input::Forked { .. }
            | Input::ForkFailed { .. }
            | Input::HooksDone { .. }
            | Input::UpgradeStarted { .. }
            | Input::UpgradeFailed(_) => 0,
            Input::Interrupt => 1,
            Input::Terminate => 2,
            Input::GracefulDeadline => 3,
            Input::Reaped(..) | Input::UpgradeReady => 4,
            Input::Hangup | Input::Upgrade { .. } | Input::Control(_) => 5,
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
    /// Start the new master of a binary upgrade; answer with `UpgradeStarted`
    /// or `UpgradeFailed`, and later `UpgradeReady` or `UpgradeFailed` for
    /// what it says on its hand-over pipe.
    StartUpgrade,
    /// The new master (this pid) took over: tell systemd (`MAINPID=`,
    /// `READY=1`), then never notify again.
    HandOver(i32),
    /// This master is the new one of an upgrade and every worker is ready:
    /// tell the old master.
    TellReady,
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
pub(super) enum Then {
    /// The configuration was re-read: the reload hooks next.
    ReloadHooks { at: Instant },
    /// The reload hooks ran: the rollouts.
    Rollouts { at: Instant },
    /// The terminate hooks ran: SIGTERM to every worker.
    KillServices,
    /// A dead worker's hooks ran: nothing more.
    Nothing,
}

/// The actions of one step, with helpers.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub(crate) actions: Vec<Action>,
    pub(super) wake: Option<Instant>,
}

impl Out {
    pub(super) fn log(&mut self, level: Level, msg: impl Into<String>) {
        self.actions.push(Action::Log(level, msg.into()));
    }
    pub(super) fn signal(&mut self, pid: i32, signal: Signal) {
        self.actions.push(Action::Signal(pid, signal));
    }
    pub(super) fn notify(&mut self, msgs: Vec<String>) {
        self.actions.extend(msgs.into_iter().map(Action::Notify));
    }
    pub(super) fn wake_at(&mut self, at: Option<Instant>) {
        self.wake = earliest(self.wake, at);
    }
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
    pub(crate) upgrade_timeout: Duration,
    pub(crate) wait_interval: Duration,
    pub(crate) graceful_shutdown_timeout: Duration,
    pub(crate) fork_limiter: bool,
    pub(crate) crash_backoff: (Duration, Duration),
}

/// A request from a hook, recorded by its handle and applied by the
/// supervisor once the hooks return (`requests.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// A new worker count for a service.
    Reconfigure(usize, usize),
    /// The graceful shutdown.
    Shutdown,
    /// A new graceful-shutdown timeout for the manager.
    GracefulTimeout(Duration),
    /// Graceful restart of one worker (SIGTERM, respawned).
    Restart(usize, WorkerId),
    /// Graceful stop of one worker (SIGTERM, held down until started again).
    Stop(usize, WorkerId),
    /// Lets a held worker id run again.
    Start(usize, WorkerId),
    /// A rolling restart of a service.
    RollingRestart(usize),
    /// A binary upgrade.
    Upgrade,
}
