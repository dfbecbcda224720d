//! The master's I/O shell around the [`Supervisor`]: one thread, `poll()` on the
//! self-pipe with the supervisor's next deadline as timeout (none when idle).
//!
//! Each turn: read the pipe (signals become [`Input`]s; SIGCHLD reaps), read the
//! [`Facts`] (every worker's shared slot, `/proc` when memory is due), give both
//! to the supervisor with the time, and do what it says ([`Action`]s: fork,
//! signal, notify, hooks, log, exit). A fork or a hook run answers with an input
//! of its own, passed at the next step without sleeping, together with the
//! signals that came meanwhile, so a SIGTERM that arrives while a hook blocks is
//! served as soon as the hook returns. The clock is read here, once per step.

mod edge;
mod reap;
mod spawn;
mod upgrade;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use log::log;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use super::ServiceManager;
use super::control;
use super::handle::{ManagerHandle, Request};
use super::hooks as hook_api;
use super::supervisor::rollout::earliest;
use super::supervisor::{Action, Facts, HookCall, Input, SlotFacts};
use crate::error::Error;
use crate::hooks;
use crate::notice;
use crate::proctitle;
use crate::sd_notify::Notifier;
use crate::signals::Event;
use crate::sys;
use crate::sys::handler::master::{self as emergency, InHook};

use edge::{exit, poll_fds};

const TARGET: &str = "cotyledon::manager";

/// The shell's state beside the manager itself.
struct Shell {
    m: ServiceManager,
    notifier: Notifier,
    titler: proctitle::Titler,
    master_pid: Pid,
    pid1: bool,
    checked_threads: bool,
    /// What each shared slot said when last passed on (by slot: its worker's
    /// pid and reading): only what changed is passed to the supervisor, so a
    /// step costs a read per worker, not a decision per worker.
    seen: Vec<Option<(i32, notice::Reading)>>,
    /// Whether the next step reads the slots: a worker signalled that it wrote
    /// in its slot (everything but a heartbeat comes with that signal).
    read_slots: bool,
    /// Workers (pid, slot) whose fork's answer came at the last step: their
    /// slots are read at this one whatever else (see `run`).
    fresh: Vec<(i32, usize)>,
    /// Which children are reaped.
    reaper: reap::Reaper,
    /// The new master of a binary upgrade, until it is reaped.
    link: Option<upgrade::Link>,
    /// The control endpoint and its clients (`control.rs` of the manager).
    control: Option<control::Server>,
    /// When `run()` began (the status's uptime), and as wall-clock seconds.
    started: (Instant, f64),
}

pub(super) fn run(m: ServiceManager) -> Result<Infallible, Error> {
    if !m.sup.table.has_services() {
        return Err(Error::NoServices);
    }
    let notifier = Notifier::from_env();
    let titler = proctitle::Titler::new(&m.argv);
    titler.set_master(&m.argv);
    let master_pid = nix::unistd::getpid();
    let mut shell = Shell {
        m,
        notifier,
        titler,
        master_pid,
        pid1: master_pid.as_raw() == 1,
        checked_threads: false,
        seen: Vec::new(),
        read_slots: true,
        fresh: Vec::new(),
        reaper: reap::Reaper::default(),
        link: None,
        control: None,
        started: (Instant::now(), control::unix_now()),
    };
    // The new master of an upgrade serves the control endpoint it inherited
    // only once it took over (`tell_ready`): until then the old one does.
    if shell.m.handover.is_none() {
        shell.control = shell.m.control.take().map(control::Server::new);
    }
    if let Some(socket) = shell.notifier.socket() {
        emergency::prepare_notify(socket);
    }
    let watchdog = shell.notifier.watchdog();
    let inherited = shell.m.handover.is_some();
    if inherited {
        crate::listen::close_unclaimed_from_upgrade();
    }
    if let Some(h) = &shell.m.handover {
        log!(
            target: TARGET,
            log::Level::Info,
            "Upgrade: this master takes over from the old master [{}]",
            h.old_pid
        );
    }
    shell.m.sup.start(Instant::now(), watchdog, inherited);
    let mut answers = Vec::new();
    loop {
        if answers.is_empty() {
            shell.wait()?;
        }
        let mut inputs = std::mem::take(&mut answers);
        // A new worker's notice may have come with the answer of its fork,
        // before its slot was known: its slot is read at the next step too.
        let forked: Vec<(i32, usize)> = inputs
            .iter()
            .filter_map(|i| match *i {
                Input::Forked { pid, slot, .. } => Some((pid, slot)),
                _ => None,
            })
            .collect();
        // Children forked by the last actions, not in the table yet: known.
        shell.reaper.answered(&inputs);
        inputs.extend(shell.inputs());
        inputs.extend(shell.serve_control());
        let read = std::mem::take(&mut shell.read_slots) || shell.m.sup.needs_beats();
        let fresh = std::mem::replace(&mut shell.fresh, forked);
        let (facts, now) = shell.facts(read, &fresh);
        // Every step at TRACE level (`COTYLEDON_LOG=trace` with cotyledon's
        // logger): what came in, what the supervisor said.
        let trace = log::log_enabled!(target: TARGET, log::Level::Trace);
        if trace {
            log!(target: TARGET, log::Level::Trace, "step in={inputs:?} facts={:?}", facts.slots);
        }
        let actions = shell.m.sup.step(inputs, &facts, now);
        if trace {
            log!(target: TARGET, log::Level::Trace, "step out={actions:?}");
        }
        let sup = &shell.m.sup;
        shell.reaper.settle(&sup.table, sup.upgrade_pid());
        answers = shell.execute(actions);
    }
}

impl Shell {
    /// Sleeps in poll until the self-pipe is readable or the next deadline.
    fn wait(&mut self) -> Result<(), Error> {
        if let Err(e) = self.m.pipe.repair() {
            log!(target: TARGET, log::Level::Error, "Could not re-create the signal pipe: {e}");
        }
        use nix::poll::{PollFd, PollFlags};
        let mut fds = vec![PollFd::new(self.m.pipe.poll_fd(), PollFlags::POLLIN)];
        fds.extend(self.link_fd().map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
        let mut deadline = self.m.sup.deadline();
        if let Some(control) = &self.control {
            for (fd, want) in control.poll_fds() {
                let flags = match want {
                    control::Want::Read => PollFlags::POLLIN,
                    control::Want::Write => PollFlags::POLLOUT,
                };
                fds.push(PollFd::new(fd, flags));
            }
            deadline = earliest(deadline, control.deadline());
        }
        poll_fds(&mut fds, deadline).map_err(Error::EventLoop)
    }

    /// Serves the control endpoint's clients; the commands as inputs.
    fn serve_control(&mut self) -> Vec<Input> {
        let Some(control) = &mut self.control else {
            return Vec::new();
        };
        let info = control::MasterInfo {
            pid: self.master_pid.as_raw(),
            uptime: self.started.0.elapsed(),
            started_unix: self.started.1,
            binary: std::env::current_exe()
                .ok()
                .map(|p| p.display().to_string()),
            rss: edge::rss,
            read: Default::default(),
        };
        control.serve(&self.m.sup, &info)
    }

    /// The control endpoint's listeners (Unix, TCP), served or not yet.
    fn control_fds(&self) -> Option<(Option<i32>, Option<i32>)> {
        match (&self.control, &self.m.control) {
            (Some(server), _) => Some(server.listener_fds()),
            (None, Some(endpoint)) => Some(endpoint.listener_fds()),
            (None, None) => None,
        }
    }

    /// SIGTTIN or SIGTTOU: one worker more or fewer for every service.
    fn add_workers(&self, more: bool) -> Option<Input> {
        let (name, what) = if more {
            ("SIGTTIN", "one more worker")
        } else {
            ("SIGTTOU", "one fewer worker")
        };
        log!(target: TARGET, log::Level::Info, "Caught {name} signal, {what} for every service");
        let (input, refused) = control::add_workers(&self.m.sup, more);
        for why in refused {
            log!(target: TARGET, log::Level::Warn, "{name}: {why}");
        }
        input
    }

    /// The signals that came, as inputs; SIGCHLD reaps the workers of the table,
    /// the new master of an upgrade, and the children not yet in either.
    fn inputs(&mut self) -> Vec<Input> {
        let events = match self.m.pipe.events() {
            Ok(events) => events,
            Err(e) => {
                log!(target: TARGET, log::Level::Error, "Could not read the signal pipe: {e}");
                Vec::new()
            }
        };
        let mut inputs = Vec::new();
        for event in events {
            match event {
                Event::Terminate => inputs.push(Input::Terminate),
                Event::Interrupt => inputs.push(Input::Interrupt),
                Event::Hangup => inputs.push(Input::Hangup),
                Event::Child => {
                    let upgrade = self.m.sup.upgrade_pid();
                    let dead = self.reaper.collect(&self.m.sup.table, upgrade, self.pid1);
                    for (pid, exit) in dead {
                        self.upgrade_reaped(pid);
                        inputs.push(Input::Reaped(pid, exit));
                    }
                }
                // The kernel timer armed when SIGTERM arrived: the graceful deadline.
                Event::Alarm if emergency::graceful_armed() => inputs.push(Input::GracefulDeadline),
                // A worker wrote in its slot: read them.
                Event::Notice => self.read_slots = true,
                Event::Upgrade => inputs.push(Input::Upgrade { signal: true }),
                Event::MoreWorkers => inputs.extend(self.add_workers(true)),
                Event::FewerWorkers => inputs.extend(self.add_workers(false)),
                Event::Alarm | Event::ParentDied | Event::Wake => {}
            }
        }
        inputs.extend(self.upgrade_inputs());
        inputs
    }

    /// The new master's hand-over pipe, while it may still say something.
    fn link_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.link.as_ref()?.read_fd()
    }

    /// What the workers' shared slots say, and their memory when it is due;
    /// and the time. `CLOCK_MONOTONIC` is read just before `Instant::now()`, so
    /// a worker's stamp converted to an `Instant` is never earlier than it was
    /// (a reload begun after a step's signal never seems to have begun before).
    fn facts(&mut self, read: bool, fresh: &[(i32, usize)]) -> (Facts, Instant) {
        let now_ns = sys::timer::monotonic_ns();
        let now = Instant::now();
        // A CLOCK_MONOTONIC stamp as an Instant on the same clock.
        let at =
            |ns: u64| (ns != 0 && ns <= now_ns).then(|| now - Duration::from_nanos(now_ns - ns));
        let mut wanted: Vec<(i32, usize)> = Vec::new();
        if read {
            for (_, slots_of) in self.m.sup.table.services() {
                wanted.extend(slots_of.running().map(|(_, r)| (r.pid, r.slot)));
            }
        } else {
            wanted.extend_from_slice(fresh);
        }
        let mut slots = Vec::new();
        for (pid, slot) in wanted {
            let Some(s) = notice::read(slot, pid) else {
                continue;
            };
            if self.seen.len() <= slot {
                self.seen.resize(slot + 1, None);
            }
            if self.seen[slot] == Some((pid, s)) {
                continue;
            }
            self.seen[slot] = Some((pid, s));
            slots.push((
                pid,
                SlotFacts {
                    ready: s.ready,
                    reloaded_from: at(s.reloaded_from_ns),
                    beat: at(s.beat_ns),
                    recycle: s.recycle,
                    leaving: s.leaving,
                },
            ));
        }
        let rss = self.m.sup.rss_due(now).then(|| {
            self.m
                .sup
                .table
                .workers()
                .into_iter()
                .map(|(_, _, pid)| (pid, edge::rss(pid)))
                .collect()
        });
        let facts = Facts {
            slots,
            rss,
            room: emergency::has_room(),
            monotonic_usec: now_ns / 1000,
        };
        (facts, now)
    }

    /// Does what the supervisor said; returns the answers of forks and hooks.
    fn execute(&mut self, actions: Vec<Action>) -> Vec<Input> {
        let mut answers = Vec::new();
        for action in actions {
            match action {
                Action::Log(level, msg) => log!(target: TARGET, level, "{msg}"),
                Action::Notify(msg) => {
                    if msg == "STOPPING=1" {
                        emergency::mark_stopping();
                    }
                    self.notifier.send(&msg);
                }
                Action::Signal(pid, signal) => {
                    let _ = kill(Pid::from_raw(pid), signal);
                }
                Action::Fork { index, worker } => answers.push(self.spawn(index, worker)),
                Action::Release(slot) => emergency::release(slot),
                Action::RunHooks(call) => answers.push(self.run_hooks(call)),
                Action::ArmGraceful => emergency::arm_graceful(),
                Action::SetGracefulTimeout(timeout) => emergency::set_graceful(timeout),
                Action::Exit(code) => {
                    // The control socket's file goes with the master.
                    self.control = None;
                    exit(code)
                }
                Action::StartUpgrade => answers.push(self.start_upgrade()),
                Action::HandOver(pid) => self.hand_over(pid),
                Action::TellReady => self.tell_ready(),
            }
        }
        answers
    }

    /// Runs one kind of hooks with a handle that records their requests.
    fn run_hooks(&mut self, call: HookCall) -> Input {
        let mut requests: Vec<Request> = Vec::new();
        let sup = &self.m.sup;
        let hooks = &mut self.m.hooks;
        let mut handle = ManagerHandle::new(sup, &mut requests);
        let _in_hook = InHook::enter();
        let outcome = match call {
            HookCall::Config => hook_api::run_config_hooks(TARGET, &mut hooks.config, &mut handle),
            HookCall::Reload => ok(hooks::run_list(TARGET, "reload", &mut hooks.reload, |h| {
                h(&mut handle)
            })),
            HookCall::Terminate => ok(hooks::run_list(
                TARGET,
                "terminate",
                &mut hooks.terminate,
                |h| h(&mut handle),
            )),
            HookCall::DeadWorker {
                index,
                worker,
                exit,
            } => {
                let service = sup.table.service(index).id;
                ok(hooks::run_list(
                    TARGET,
                    "dead_worker",
                    &mut hooks.dead_worker,
                    |h| h(&mut handle, service, worker, exit),
                ))
            }
        };
        Input::HooksDone { outcome, requests }
    }
}

/// A hook list's outcome: its failure was logged by `run_list`.
fn ok(all_ran: bool) -> Result<(), String> {
    if all_ran {
        Ok(())
    } else {
        Err("a hook failed".to_owned())
    }
}
