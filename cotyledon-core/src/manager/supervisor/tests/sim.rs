//! A simulated world for the supervisor: workers that boot, serve, reload, beat
//! and die on a fake clock, and a shell that answers forks and hooks. No process,
//! no signal, no sleep: every test runs in microseconds and is deterministic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use log::Level;
use nix::sys::signal::Signal;

use super::super::{Action, Facts, HookCall, Input, Settings, SlotFacts, Supervisor};
mod new_master;

pub(super) use self::new_master::{NewMaster, NewProc};
use crate::hooks::WorkerExit;
use crate::ids::ServiceId;
use crate::manager::supervisor::Request;

/// How a simulated service behaves.
#[derive(Clone, Copy, Debug)]
pub(super) struct Behaviour {
    /// From fork to ready.
    pub(super) boot: Duration,
    /// `Some(d)`: an in-place `reload()` taking `d` (`Duration::MAX`: never
    /// returns); `None`: the default reload, a restart.
    pub(super) reload: Option<Duration>,
    /// From SIGTERM to exit 0.
    pub(super) terminate: Duration,
    /// Heartbeats at every tick while serving.
    pub(super) beats: bool,
    /// The factory fails: exit 2 right after the fork.
    pub(super) factory_fails: bool,
    /// Resident memory reported, in bytes (grows by `leak` per tick).
    pub(super) rss: u64,
    pub(super) leak: u64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            boot: ms(50),
            reload: None,
            terminate: ms(20),
            beats: true,
            factory_fails: false,
            rss: 2 << 20,
            leak: 0,
        }
    }
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a simulated hook run answers: its outcome and requests.
pub(super) type HookAnswer = dyn FnMut(HookCall, &Supervisor) -> (Result<(), String>, Vec<Request>);

/// One simulated worker process.
#[derive(Clone, Debug)]
pub(super) struct Proc {
    pub(super) index: usize,
    pub(super) forked: Instant,
    pub(super) ready: bool,
    pub(super) leaving: bool,
    pub(super) die: Option<(Instant, WorkerExit)>,
    /// A reload under way: (start, end), and whether a SIGHUP came during it.
    pub(super) reloading: Option<(Instant, Instant)>,
    pub(super) again: bool,
    pub(super) reloaded_from: Option<Instant>,
    pub(super) beat: Option<Instant>,
    pub(super) hung: bool,
    pub(super) rss: u64,
}

/// The world.
pub(super) struct Sim {
    /// What the next new master does, and the one running.
    pub(super) new_master: NewMaster,
    pub(super) new_proc: Option<NewProc>,
    /// New masters started, and the pids handed over to.
    pub(super) upgrades_started: usize,
    pub(super) new_pids: Vec<i32>,
    pub(super) handed_over: Vec<i32>,
    /// This master (a new one) told the old one it is ready.
    pub(super) told_ready: bool,
    pub(super) sup: Supervisor,
    pub(super) t0: Instant,
    pub(super) now: Instant,
    pub(super) behaviour: Vec<Behaviour>,
    pub(super) procs: BTreeMap<i32, Proc>,
    pub(super) next_pid: i32,
    pub(super) reaped: Vec<Input>,
    pub(super) logs: Vec<(Duration, Level, String)>,
    pub(super) notes: Vec<(Duration, String)>,
    pub(super) signals: Vec<(Duration, i32, Signal)>,
    pub(super) exited: Option<i32>,
    /// What the next run of each kind of hooks asks, and whether it fails.
    pub(super) on_hooks: Box<HookAnswer>,
    pub(super) ids: Vec<ServiceId>,
    /// Readings of memory that fail.
    pub(super) rss_unreadable: bool,
    /// A worker did something it would signal the master about (its death,
    /// readiness, a finished reload, leaving): the master wakes.
    signalled: bool,
}

impl Sim {
    /// A manager with these services (count, behaviour), limiter and back-off off.
    pub(super) fn new(services: &[(usize, Behaviour)]) -> Self {
        let t0 = Instant::now();
        let mut sup = Supervisor::new(
            Settings {
                wait_interval: Duration::ZERO,
                graceful_shutdown_timeout: Duration::from_secs(60),
                fork_limiter: false,
                crash_backoff: (Duration::ZERO, Duration::ZERO),
                upgrade_timeout: Duration::from_secs(5),
            },
            t0,
        );
        let mut ids = Vec::new();
        for (n, (count, _)) in services.iter().enumerate() {
            let id = ServiceId::new_random();
            sup.add(id, ["web", "jobs", "misc"][n % 3], *count)
                .expect("valid count");
            ids.push(id);
        }
        sup.start(t0, None, false);
        Sim {
            new_master: NewMaster::default(),
            new_proc: None,
            upgrades_started: 0,
            new_pids: Vec::new(),
            handed_over: Vec::new(),
            told_ready: false,
            sup,
            t0,
            now: t0,
            behaviour: services.iter().map(|(_, b)| *b).collect(),
            procs: BTreeMap::new(),
            next_pid: 1000,
            reaped: Vec::new(),
            logs: Vec::new(),
            notes: Vec::new(),
            signals: Vec::new(),
            exited: None,
            on_hooks: Box::new(|_, _| (Ok(()), Vec::new())),
            ids,
            rss_unreadable: false,
            signalled: false,
        }
    }

    pub(super) fn at(&self) -> Duration {
        self.now - self.t0
    }

    fn facts(&self) -> Facts {
        let slots = self
            .procs
            .iter()
            .map(|(&pid, p)| {
                (
                    pid,
                    SlotFacts {
                        ready: p.ready,
                        reloaded_from: p.reloaded_from,
                        beat: p.beat,
                        recycle: false,
                        leaving: p.leaving,
                    },
                )
            })
            .collect();
        let rss = self.sup.rss_due(self.now).then(|| {
            self.procs
                .iter()
                .map(|(&pid, p)| (pid, (!self.rss_unreadable).then_some(p.rss)))
                .collect()
        });
        Facts {
            slots,
            rss,
            room: true,
            monotonic_usec: u64::try_from(self.at().as_micros()).unwrap_or(0),
        }
    }

    /// One step with these inputs (and the deaths seen), then the answers of
    /// forks and hooks until there are none.
    pub(super) fn step(&mut self, inputs: Vec<Input>) {
        let mut inputs = inputs;
        inputs.append(&mut self.reaped);
        loop {
            let facts = self.facts();
            let actions = self.sup.step(inputs, &facts, self.now);
            inputs = self.act(actions);
            if inputs.is_empty() || self.exited.is_some() {
                break;
            }
        }
    }

    fn act(&mut self, actions: Vec<Action>) -> Vec<Input> {
        let mut answers = Vec::new();
        let at = self.at();
        for action in actions {
            match action {
                Action::Log(level, msg) => self.logs.push((at, level, msg)),
                Action::Notify(msg) => self.notes.push((at, msg)),
                Action::Signal(pid, signal) => {
                    self.signals.push((at, pid, signal));
                    self.deliver(pid, signal);
                }
                Action::Fork { index, worker } => {
                    let pid = self.next_pid;
                    self.next_pid += 1;
                    let b = self.behaviour[index];
                    self.procs.insert(
                        pid,
                        Proc {
                            index,
                            forked: self.now,
                            ready: false,
                            leaving: false,
                            die: b
                                .factory_fails
                                .then(|| (self.now + ms(5), WorkerExit::Exited(2))),
                            reloading: None,
                            again: false,
                            reloaded_from: None,
                            beat: None,
                            hung: false,
                            rss: b.rss,
                        },
                    );
                    answers.push(Input::Forked {
                        index,
                        worker,
                        pid,
                        slot: pid as usize,
                        at: self.now,
                    });
                }
                Action::RunHooks(call) => {
                    let (outcome, requests) = (self.on_hooks)(call, &self.sup);
                    answers.push(Input::HooksDone { outcome, requests });
                }
                Action::Exit(code) => self.exited = Some(code),
                Action::StartUpgrade => answers.push(self.start_new_master()),
                Action::HandOver(pid) => self.handed_over.push(pid),
                Action::TellReady => self.told_ready = true,
                Action::Release(_) | Action::ArmGraceful | Action::SetGracefulTimeout(_) => {}
            }
        }
        answers
    }

    fn deliver(&mut self, pid: i32, signal: Signal) {
        let now = self.now;
        if self.signal_new_master(pid, signal) {
            return;
        }
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        let b = self.behaviour[p.index];
        let die_now = |code| Some((now, code));
        match signal {
            Signal::SIGTERM if !p.leaving => {
                p.leaving = true;
                self.signalled = true;
                p.die = p.die.or(Some((now + b.terminate, WorkerExit::Exited(0))));
            }
            Signal::SIGHUP if !p.leaving => match b.reload {
                None => {
                    p.leaving = true;
                    self.signalled = true;
                    p.die = p.die.or(Some((now + b.terminate, WorkerExit::Exited(0))));
                }
                Some(_) if p.reloading.is_some() => p.again = true,
                Some(d) => {
                    p.reloading = Some((
                        now,
                        now.checked_add(d)
                            .unwrap_or(now + Duration::from_secs(1 << 40)),
                    ))
                }
            },
            Signal::SIGKILL => p.die = die_now(WorkerExit::Signaled(9)),
            Signal::SIGABRT => p.die = die_now(WorkerExit::Signaled(6)),
            Signal::SIGINT => p.die = die_now(WorkerExit::Exited(1)),
            _ => {}
        }
    }

    /// Advances the clock by `d` in ticks of `tick`, and checks `check` at
    /// each. The master steps as the real one wakes: when a worker signals it
    /// (a death, a notice) or when the deadline it asked for has come, never
    /// otherwise, so a decision that forgets to ask for a wake-up is caught.
    pub(super) fn run_for(&mut self, d: Duration, tick: Duration, mut check: impl FnMut(&Sim)) {
        let end = self.now + d;
        while self.now < end && self.exited.is_none() {
            self.now += tick;
            self.live();
            let due = self.sup.deadline().is_some_and(|at| self.now >= at);
            if std::mem::take(&mut self.signalled) || due || !self.reaped.is_empty() {
                self.step(Vec::new());
            }
            check(self);
        }
    }

    /// Runs `d` in 5 ms ticks with no check.
    pub(super) fn run(&mut self, d: Duration) {
        self.run_for(d, ms(5), |_| {});
    }

    /// What the workers do on their own up to now.
    fn live(&mut self) {
        let now = self.now;
        let mut dead = Vec::new();
        for (&pid, p) in &mut self.procs {
            let b = self.behaviour[p.index];
            if let Some((at, exit)) = p.die
                && now >= at
            {
                dead.push((pid, exit));
                continue;
            }
            if !p.ready && !b.factory_fails && now >= p.forked + b.boot {
                p.ready = true;
                self.signalled = true;
            }
            if let Some((start, end)) = p.reloading
                && now >= end
            {
                p.reloaded_from = Some(start);
                self.signalled = true;
                p.reloading = p.again.then(|| (now, now + b.reload.unwrap_or_default()));
                p.again = false;
            }
            if b.beats && p.ready && !p.hung {
                p.beat = Some(now);
            }
            p.rss = p.rss.saturating_add(b.leak);
        }
        for (pid, exit) in dead {
            self.procs.remove(&pid);
            self.reaped.push(Input::Reaped(pid, exit));
        }
        self.new_master_lives();
    }

    /// Processes of service `index` that serve: ready, not leaving.
    pub(super) fn serving(&self, index: usize) -> usize {
        self.procs
            .values()
            .filter(|p| p.index == index && p.ready && !p.leaving && p.die.is_none())
            .count()
    }

    /// Whether a log line at `level` contains `text`.
    pub(super) fn logged(&self, level: Level, text: &str) -> bool {
        self.logs
            .iter()
            .any(|(_, l, m)| *l == level && m.contains(text))
    }

    /// Messages sent to systemd, in order, without timestamps.
    pub(super) fn notes(&self) -> Vec<&str> {
        self.notes.iter().map(|(_, m)| m.as_str()).collect()
    }
}
