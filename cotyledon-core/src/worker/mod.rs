//! The worker process: entered right after `fork` (never returns). It builds the
//! service, runs `run()` on its own thread and serves signals and parent death on
//! the main thread. `terminate()` runs on the run thread when that is free, else
//! on a thread of its own (`terminate`); `reload()` on a thread of its own.

mod parent;
mod terminate;
mod threads;

use std::any::Any;
use std::convert::Infallible;
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use log::{debug, error, info};
use nix::unistd::Pid;

use crate::context::Context;
use crate::hooks::{self, NewWorkerHook, panic_message};
use crate::ids::{ServiceId, WorkerId};
use crate::notice::Notice;
use crate::proctitle;
use crate::service::{BoxError, Service};
use crate::signals::{Event, SelfPipe};
use crate::stop::run_watch;
use crate::sys;
use threads::{Outcome, Outcomes};

pub(crate) use crate::sys::handler::worker::exit;

const TARGET: &str = "cotyledon::worker";

/// Everything a worker needs from the master, prepared before the fork.
pub(crate) struct WorkerStart<'a> {
    pub(crate) service_id: ServiceId,
    pub(crate) worker_id: WorkerId,
    /// This worker's own self-pipe (created after the fork).
    pub(crate) signal_pipe: SelfPipe,
    /// Read end of the parent-death pipe (the master holds the only write end).
    pub(crate) death_pipe: RawFd,
    pub(crate) master_pid: Pid,
    pub(crate) titler: &'a proctitle::Titler,
    pub(crate) hooks: &'a mut Vec<NewWorkerHook>,
    /// Its slot in the shared region (and the master's pid registry).
    pub(crate) slot: usize,
    /// Ready only when the service says so (`Readiness::Explicit`).
    pub(crate) explicit_ready: bool,
}

/// The worker's entry point, in the child.
pub(crate) fn main<S: Service>(
    ws: WorkerStart<'_>,
    timeout: Option<Duration>,
    factory: &dyn Fn(WorkerId) -> Result<S, BoxError>,
) -> Infallible {
    let outcome = catch_unwind(AssertUnwindSafe(|| serve(ws, timeout, factory)));
    match outcome {
        Ok(never) => match never {},
        Err(payload) => {
            error!(target: TARGET, "Worker panicked: {}", panic_message(&*payload));
            exit(2)
        }
    }
}

fn serve<S: Service>(
    mut ws: WorkerStart<'_>,
    timeout: Option<Duration>,
    factory: &dyn Fn(WorkerId) -> Result<S, BoxError>,
) -> Infallible {
    crate::sys::handler::worker::start(timeout);
    let pid = nix::unistd::getpid();
    let title = format!("{}({}) [{}]", S::NAME, ws.worker_id, pid);
    let mut parent = parent::Watch::start(ws.death_pipe, ws.master_pid);

    let service = match catch_unwind(AssertUnwindSafe(|| factory(ws.worker_id))) {
        Ok(Ok(service)) => Arc::new(service),
        Ok(Err(e)) => {
            error!(target: TARGET, "Failed to create service {title}: {e}");
            exit(2)
        }
        Err(payload) => {
            error!(
                target: TARGET,
                "Unhandled panic while creating service {title}: {}",
                panic_message(&*payload)
            );
            exit(2)
        }
    };
    ws.titler.set_worker(S::NAME, ws.worker_id);
    let svc_any: &dyn Any = &*service;
    hooks::run_list(TARGET, "new_worker", ws.hooks, |h| {
        h(ws.service_id, ws.worker_id, svc_any)
    });
    debug!(target: TARGET, "Run service {title}");

    let notice = Notice::new(ws.slot, ws.master_pid.as_raw());
    let ctx = Context::with_notice(S::NAME, ws.worker_id, notice);
    let outcomes: Outcomes = Arc::default();
    let run = threads::Run {
        service: service.clone(),
        ctx: ctx.clone(),
        outcomes: outcomes.clone(),
        title: title.clone(),
        ready_on_run: !ws.explicit_ready,
    };
    if let Err(e) = threads::spawn_run(run) {
        error!(target: TARGET, "Could not start the run thread of {title}: {e}");
        exit(2);
    }

    let mut w = Worker {
        service,
        ctx,
        outcomes,
        title,
        timeout,
        deadline: None,
        handoff: None,
        terminating: false,
        reloading: Arc::new(AtomicU8::new(threads::IDLE)),
        reloader: None,
    };
    loop {
        let wake_at = [w.deadline, w.handoff].into_iter().flatten().min();
        let parent_gone = parent.poll(&mut ws.signal_pipe, wake_at);
        let mut events = ws.signal_pipe.events().unwrap_or_default();
        if parent_gone {
            events.insert(0, Event::ParentDied);
        }
        for event in events {
            match event {
                Event::Terminate => w.begin_terminate(),
                Event::Interrupt => {
                    info!(
                        target: TARGET,
                        "Caught SIGINT signal, instantaneous exiting of service {}", w.title
                    );
                    exit(1);
                }
                Event::Hangup => w.reload(),
                Event::ParentDied => {
                    if parent.mark_gone() && !w.terminating {
                        info!(
                            target: TARGET,
                            "Parent process has died unexpectedly, {} exiting", w.title
                        );
                        w.begin_terminate();
                    }
                }
                // SIGUSR2, SIGTTIN and SIGTTOU are the master's (an upgrade,
                // scaling): a worker that gets one ignores it.
                Event::Child
                | Event::Alarm
                | Event::Notice
                | Event::Wake
                | Event::Upgrade
                | Event::MoreWorkers
                | Event::FewerWorkers => {}
            }
        }
        w.handle_outcomes();
        w.check_handoff();
        if w.deadline.is_some_and(|d| Instant::now() >= d) {
            info!(
                target: TARGET,
                "Graceful shutdown timeout ({}) exceeded, exiting {} now.",
                fmt_secs(w.timeout.unwrap_or_default()),
                w.title
            );
            exit(1);
        }
    }
}

struct Worker<S: Service> {
    service: Arc<S>,
    ctx: Context,
    outcomes: Outcomes,
    title: String,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    /// When to look again whether the run thread took `terminate()`.
    handoff: Option<Instant>,
    terminating: bool,
    /// [`threads::IDLE`], [`threads::RELOADING`] or [`threads::AGAIN`].
    reloading: Arc<AtomicU8>,
    /// Wakes the reload thread, once started.
    reloader: Option<std::sync::mpsc::Sender<()>>,
}

impl<S: Service> Worker<S> {
    /// The SIGTERM path; a second SIGTERM does not run terminate() again.
    fn begin_terminate(&mut self) {
        if self.terminating {
            return;
        }
        self.terminating = true;
        if let Some(notice) = self.ctx.notice() {
            notice.leaving();
        }
        info!(
            target: TARGET,
            "Caught SIGTERM signal, graceful exiting of service {}", self.title
        );
        // A timeout too long to represent is no timeout.
        self.deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        let watch = self.ctx.run_watch();
        watch.offer();
        let waiting = self.ctx.stop();
        if watch.returned() {
            // run() returned: its thread, in our own code, takes terminate()
            // as it sees the stop, however long it waits for a CPU.
        } else if waiting {
            // The run thread was waiting on its context: it may come for
            // terminate() as run() returns.
            self.handoff = Some(Instant::now() + run_watch::HANDOFF);
        } else {
            self.take_back();
        }
    }

    /// After a stop that found the run thread waiting: starts `terminate()` on a
    /// thread of its own if the run thread has not come for it in time.
    fn check_handoff(&mut self) {
        let Some(at) = self.handoff else { return };
        let now = Instant::now();
        if now < at {
            return;
        }
        self.handoff = None;
        match self.ctx.run_watch().next(sys::timer::monotonic_ns()) {
            run_watch::Next::Done => {}
            run_watch::Next::Recheck(after) => self.handoff = Some(now + after),
            run_watch::Next::TakeBack => self.take_back(),
        }
    }

    /// Calls `terminate()` on a thread of its own, unless the run thread took it.
    fn take_back(&mut self) {
        if !self.ctx.run_watch().take() {
            return;
        }
        // The thread ends the process itself once terminate() returns: no round
        // trip through the main thread on the way out.
        let service = self.service.clone();
        if let Err(e) = threads::spawn_terminate(service, self.title.clone()) {
            error!(target: TARGET, "Could not start terminate() of {}: {e}", self.title);
            exit(1);
        }
    }

    /// SIGHUP: reload() on a thread, unless terminate() runs. A SIGHUP while a
    /// reload() runs is not lost: one more reload() follows it (however many
    /// SIGHUPs came meanwhile), so the last configuration is always read.
    fn reload(&mut self) {
        if self.terminating {
            return;
        }
        if let Err(state) = self.reloading.compare_exchange(
            threads::IDLE,
            threads::RELOADING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            if state == threads::RELOADING {
                // The reload thread runs reload() once more when it is done.
                let _ = self.reloading.compare_exchange(
                    threads::RELOADING,
                    threads::AGAIN,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if self.reloading.load(Ordering::Acquire) == threads::IDLE {
                    // It finished in between: start afresh.
                    return self.reload();
                }
            }
            return;
        }
        // One reload thread, started at the first SIGHUP and reused after: a
        // reload costs a channel message, not a thread.
        if self.reloader.is_none() {
            let (service, outcomes) = (self.service.clone(), self.outcomes.clone());
            let reloading = self.reloading.clone();
            match threads::spawn_reload(service, outcomes, reloading, self.ctx.notice()) {
                Ok(tx) => self.reloader = Some(tx),
                Err(e) => {
                    self.reloading.store(threads::IDLE, Ordering::Release);
                    error!(target: TARGET, "Could not start reload() of {}: {e}", self.title);
                    return;
                }
            }
        }
        if let Some(tx) = &self.reloader
            && tx.send(()).is_err()
        {
            self.reloading.store(threads::IDLE, Ordering::Release);
        }
    }

    /// Exits if a service thread failed (the first failure reported wins).
    fn handle_outcomes(&mut self) {
        let first = self
            .outcomes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .next();
        match first {
            None => {}
            Some(Outcome::RunFailed(msg)) => {
                error!(target: TARGET, "{msg} (service {})", self.title);
                exit(2);
            }
            Some(Outcome::Panicked(what, msg)) => {
                error!(
                    target: TARGET,
                    "Unhandled panic in {what}() (service {}): {msg}", self.title
                );
                exit(2);
            }
        }
    }
}

/// `1` for whole seconds, `0.5` otherwise, as cotyledon prints its timeouts.
fn fmt_secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        d.as_secs_f64().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_print_like_cotyledon() {
        assert_eq!(fmt_secs(Duration::from_secs(1)), "1");
        assert_eq!(fmt_secs(Duration::from_millis(1500)), "1.5");
    }
}
