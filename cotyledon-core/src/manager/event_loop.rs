//! The master's event loop: one thread, `poll()` on the self-pipe with the next
//! deadline as timeout (none when idle), events dispatched in arrival order.

use std::convert::Infallible;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use log::{debug, error, info};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::Readiness;
use super::ServiceManager;
use super::backoff::Backoff;
use super::edge::{exit, flush_output, poll_readable, warn_if_threaded};
use super::emergency::{self, InHook};
use super::handle::ManagerHandle;
use super::notify::Protocol;
use super::pacing::{Gate, Pacing};
use super::reap;
use super::rolling::Rolling;
use super::workers::Removed;
use crate::error::Error;
use crate::hooks::{self, WorkerExit};
use crate::proctitle;
use crate::sd_notify::Notifier;
use crate::signals::{Event, SelfPipe};
use crate::sys;
use crate::worker::WorkerStart;

const TARGET: &str = "cotyledon::manager";

#[path = "recycle.rs"]
mod recycle;
#[path = "serving.rs"]
mod serving;
#[path = "shutdown.rs"]
mod shutdown;

/// How long an instantaneous exit waits for workers before SIGKILL.
const INSTANT_EXIT_GRACE: Duration = Duration::from_secs(1);

/// Where the master is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Supervising: respawning, reloading.
    Running,
    /// SIGTERM: waiting for workers, until the deadline (if any).
    Graceful { deadline: Option<Instant> },
    /// SIGINT or graceful timeout: waiting briefly before SIGKILL and exit 1.
    Instant { deadline: Instant },
}

struct Loop {
    m: ServiceManager,
    pacing: Pacing,
    backoff: Backoff,
    phase: Phase,
    notifier: Notifier,
    titler: proctitle::Titler,
    master_pid: Pid,
    pid1: bool,
    checked_threads: bool,
    /// When the loop should next try to fork (a pacing deadline).
    spawn_at: Option<Instant>,
    /// Rollouts under way, one per service at most.
    rollings: Vec<Rolling>,
    /// When a boot timeout or a rollout needs the loop next.
    serve_at: Option<Instant>,
    /// The systemd notify protocol's state.
    protocol: Protocol,
    /// When the next `WATCHDOG=1` is due.
    ping_at: Option<Instant>,
    /// When the workers' memory is read next, and the services whose RSS limit
    /// turned out below a new worker's size.
    rss_at: Option<Instant>,
    rss_off: Vec<bool>,
    /// The origin of every worker's recycling grid (the loop's start).
    epoch: Instant,
}

pub(super) fn run(m: ServiceManager) -> Result<Infallible, Error> {
    if !m.state.table.has_services() {
        return Err(Error::NoServices);
    }
    let notifier = Notifier::from_env();
    let titler = proctitle::Titler::new(&m.argv);
    titler.set_master(&m.argv);
    let pacing = Pacing::new(m.settings.wait_interval, m.settings.fork_limiter);
    let backoff = Backoff::new(m.settings.crash_backoff.0, m.settings.crash_backoff.1);
    let master_pid = nix::unistd::getpid();
    let mut l = Loop {
        m,
        pacing,
        backoff,
        phase: Phase::Running,
        notifier,
        titler,
        master_pid,
        pid1: master_pid.as_raw() == 1,
        checked_threads: false,
        spawn_at: Some(Instant::now()),
        rollings: Vec::new(),
        serve_at: None,
        protocol: Protocol::default(),
        ping_at: None,
        rss_at: None,
        rss_off: Vec::new(),
        epoch: Instant::now(),
    };
    loop {
        l.wait()?;
        l.step(Instant::now());
    }
}

impl Loop {
    /// Sleeps in poll until the self-pipe is readable or the next deadline.
    fn wait(&mut self) -> Result<(), Error> {
        let deadline = match self.phase {
            Phase::Running => serving::earliest(self.spawn_at, self.serve_at),
            Phase::Graceful { deadline } => deadline,
            Phase::Instant { deadline } => Some(deadline),
        };
        let deadline = serving::earliest(deadline, self.ping_at);
        if let Err(e) = self.m.pipe.repair() {
            error!(target: TARGET, "Could not re-create the signal pipe: {e}");
        }
        poll_readable(self.m.pipe.poll_fd(), deadline).map_err(Error::EventLoop)
    }

    /// One turn: events, requests from hooks, deadlines, then forks.
    fn step(&mut self, now: Instant) {
        let events = match self.m.pipe.events() {
            Ok(events) => events,
            Err(e) => {
                error!(target: TARGET, "Could not read the signal pipe: {e}");
                Vec::new()
            }
        };
        for event in events {
            match event {
                Event::Terminate => self.begin_graceful(now),
                Event::Interrupt => {
                    if !matches!(self.phase, Phase::Instant { .. }) {
                        info!(target: TARGET, "Caught SIGINT signal, instantaneous exiting");
                        self.begin_instant(now);
                    }
                }
                Event::Hangup => self.reload(now),
                Event::Child => self.reap(now),
                Event::Notice => self.notice(),
                // The kernel timer armed when SIGTERM arrived: the graceful deadline.
                Event::Alarm if emergency::graceful_armed() => {
                    self.begin_graceful(now);
                    if matches!(self.phase, Phase::Graceful { .. }) {
                        self.graceful_timeout(now);
                    }
                }
                Event::Alarm | Event::ParentDied | Event::Wake => {}
            }
        }
        self.apply_settings();
        self.watchdog();
        if std::mem::take(&mut self.m.state.shutdown_requested) {
            self.begin_graceful(now);
        }
        if std::mem::take(&mut self.m.state.reconfigured) {
            self.pacing.reset();
            self.backoff.reset();
        }
        match self.phase {
            Phase::Running => {
                self.serve_requests(now);
                self.adjust_workers(now);
                self.serve(now);
            }
            Phase::Graceful { deadline } => {
                if self.m.state.table.is_empty() {
                    debug!(target: TARGET, "Shutdown finish");
                    exit(0);
                }
                if deadline.is_some_and(|d| now >= d) {
                    self.graceful_timeout(now);
                }
            }
            Phase::Instant { deadline } => {
                if self.m.state.table.is_empty() {
                    exit(1);
                }
                if now >= deadline {
                    self.signal_all(Signal::SIGKILL);
                    exit(1);
                }
            }
        }
    }

    fn reload(&mut self, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        debug!(target: TARGET, "Caught SIGHUP signal, reloading services");
        let msgs = self.protocol.reloading(sys::timer::monotonic_ns() / 1000);
        self.tell_systemd(msgs);
        let in_hook = InHook::enter();
        // The configuration first, so that the reload hooks see the new one. A
        // refused one aborts the reload, undone (issue 15 item 8; hook_api.rs).
        let config = &mut self.m.hooks.config;
        if let Err(why) = super::hook_api::run_config_hooks(TARGET, config, &mut self.m.state) {
            drop(in_hook);
            return self.reload_refused(&why);
        }
        let mut handle = ManagerHandle::new(&mut self.m.state);
        hooks::run_list(TARGET, "reload", &mut self.m.hooks.reload, |h| {
            h(&mut handle)
        });
        drop(in_hook);
        self.apply_settings();
        self.pacing.reset();
        self.backoff.reset();
        // Workers that a reload hook just scaled away are stopped, not reloaded.
        self.stop_excess();
        self.reload_services(now);
    }

    /// Sends SIGTERM, once, to the workers above their service's count.
    fn stop_excess(&mut self) {
        for pid in self.m.state.table.take_excess() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }

    fn signal_all(&self, signal: Signal) {
        for pid in self.m.state.table.pids() {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// Reaps every dead worker (every dead child when running as PID 1), logs it
    /// and runs the `on_dead_worker` hooks.
    fn reap(&mut self, now: Instant) {
        let dead = reap::collect_dead(&self.m.state.table, self.pid1);
        for (pid, exit) in dead {
            let Some(removed) = self.m.state.table.remove_pid(pid) else {
                continue;
            };
            emergency::release(removed.running.slot);
            let (index, worker) = (removed.index, removed.worker);
            match exit {
                WorkerExit::Exited(code) => {
                    info!(target: TARGET, "Child {pid} exited with status {code}")
                }
                WorkerExit::Signaled(sig) => info!(
                    target: TARGET,
                    "Child {pid} killed by signal {}",
                    hooks::signal_name(sig)
                ),
            }
            self.note_death(&removed, exit, now);
            let service = self.m.state.table.service(index).id;
            let mut handle = ManagerHandle::new(&mut self.m.state);
            let _in_hook = InHook::enter();
            hooks::run_list(TARGET, "dead_worker", &mut self.m.hooks.dead_worker, |h| {
                h(&mut handle, service, worker, exit)
            });
        }
    }

    /// Feeds the crash-loop back-off: an abnormal death soon after start, unasked,
    /// delays the respawn of that worker id.
    fn note_death(&mut self, removed: &Removed, exit: WorkerExit, now: Instant) {
        let slot = (removed.index, removed.worker);
        let asked = removed.was_stopping || removed.running.asked;
        if asked || self.phase != Phase::Running || exit == WorkerExit::Exited(0) {
            self.backoff.forget(slot);
            return;
        }
        // A worker killed for missing its boot timeout died early, however long
        // it was given.
        let started = if removed.running.boot_killed {
            now
        } else {
            removed.started
        };
        if let Some(delay) = self.backoff.died(slot, started, now) {
            info!(
                target: TARGET,
                "Worker {}({}) keeps dying right after start, respawning it in {:?}",
                self.m.entries[removed.index].name,
                removed.worker,
                delay
            );
        }
    }

    /// Stops workers above their service's count and starts one missing worker
    /// if pacing allows; records when to try again.
    fn adjust_workers(&mut self, now: Instant) {
        self.stop_excess();
        // The first missing worker whose id is not backing off; otherwise, when
        // the first back-off ends.
        let mut ready = None;
        let mut backing_off: Option<Instant> = None;
        for slot in self.m.state.table.missing() {
            match self.backoff.not_before(slot, now) {
                None => {
                    ready = Some(slot);
                    break;
                }
                Some(at) => backing_off = Some(backing_off.map_or(at, |b| b.min(at))),
            }
        }
        // The emergency path must see every worker: fork only with a free slot
        // (a reap frees one and wakes the loop).
        if ready.is_some() && !emergency::has_room() {
            self.spawn_at = None;
            return;
        }
        let Some((index, worker)) = ready else {
            self.spawn_at = backing_off;
            return;
        };
        match self.pacing.gate(now, self.m.state.table.expected()) {
            Gate::Open => {
                self.spawn(index, worker, now);
                // Come straight back: the next fork may be due at once, and the
                // pipe is checked in between.
                self.spawn_at = Some(now);
            }
            Gate::Until(at) => self.spawn_at = Some(at),
            Gate::TooFast(at) => {
                info!(target: TARGET, "Forking too fast, sleeping");
                self.spawn_at = Some(at);
            }
        }
    }

    fn spawn(&mut self, index: usize, worker: crate::WorkerId, now: Instant) {
        if !self.checked_threads {
            self.checked_threads = true;
            warn_if_threaded();
        }
        flush_output();
        let m = &mut self.m;
        let [pipe_read, pipe_write] = m.pipe.raw_fds();
        let close = [pipe_read, pipe_write, m.death_write.as_raw_fd()];
        let service_id = m.state.table.service(index).id;
        let entry = &m.entries[index];
        let hooks = &mut m.hooks.new_worker;
        let death_pipe = m.death_read.as_raw_fd();
        let master_pid = self.master_pid;
        let titler = &self.titler;
        let explicit_ready = entry.policy.readiness == Readiness::Explicit;
        let Some(slot) = emergency::reserve() else {
            self.spawn_at = None;
            return;
        };
        if let Some(shared) = sys::shm::slot(slot) {
            shared.reset();
        }
        let forked = sys::fork::fork_worker(&close, |(read, write)| {
            (entry.start)(WorkerStart {
                service_id,
                worker_id: worker,
                signal_pipe: SelfPipe::targeted(read, write),
                death_pipe,
                master_pid,
                titler,
                hooks,
                slot,
                explicit_ready,
            })
        });
        match forked {
            Ok(pid) => {
                emergency::fill(slot, pid.as_raw());
                m.state.table.insert(index, worker, pid.as_raw(), now).slot = slot;
                // A rollout's replacement (reload, restart, recycle) is planned:
                // the limiter counts only the respawns of workers that died.
                let planned = self
                    .rollings
                    .iter()
                    .any(|r| r.service == index && r.replacing(worker));
                self.pacing.forked(now, planned);
            }
            Err(e) => {
                emergency::release(slot);
                let delay = self.pacing.fork_failed(now);
                error!(
                    target: TARGET,
                    "Could not fork worker {}({worker}): {e}; retrying in {delay:?}",
                    entry.name
                );
            }
        }
    }
}
