//! The worker process: entered right after `fork` (never returns). It builds the
//! service, runs `run()` on its own thread and serves signals and parent death on
//! the main thread, calling `terminate()` / `reload()` on threads of their own.

mod killswitch;
mod parent;

use std::any::Any;
use std::convert::Infallible;
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{debug, error, info};
use nix::unistd::Pid;

use crate::context::Context;
use crate::hooks::{self, NewWorkerHook, panic_message};
use crate::notice::Notice;
use crate::proctitle;
use crate::service::{BoxError, Service, ServiceId, WorkerId};
use crate::signals::{Event, SelfPipe, WAKE};
use crate::sys;

pub(crate) use killswitch::exit;

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

/// Set once the worker asked itself to exit (the default `reload()` does): a
/// reload that ends so is a restart, not an in-place reload.
static EXIT_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the current worker to exit gracefully, as if it had received SIGTERM.
pub(crate) fn request_graceful_exit() {
    EXIT_REQUESTED.store(true, Ordering::SeqCst);
    sys::signal::notify(libc::SIGTERM as u8);
}

/// What the service's threads report to the main thread.
enum Outcome {
    /// `run()` returned an error or panicked (the message).
    RunFailed(String),
    /// `reload()` panicked.
    Panicked(&'static str, String),
}

type Outcomes = Arc<Mutex<Vec<Outcome>>>;

fn report(outcomes: &Outcomes, outcome: Outcome) {
    outcomes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(outcome);
    sys::signal::notify(WAKE);
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
    killswitch::start(timeout);
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
    let ready_on_run = !ws.explicit_ready;
    let outcomes: Outcomes = Arc::default();
    {
        let (service, ctx, outcomes) = (service.clone(), ctx.clone(), outcomes.clone());
        let spawned = std::thread::Builder::new()
            .name("run".to_owned())
            .spawn(move || {
                // A thread that execs passes its own parent-death signal on.
                let _ = sys::signal::set_parent_death_signal();
                if ready_on_run && let Some(notice) = ctx.notice() {
                    notice.ready();
                }
                let result = catch_unwind(AssertUnwindSafe(|| service.run(&ctx)));
                // Ok: the worker stays alive until told to stop; nothing to say.
                let failure = match result {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => format!("run() failed: {e}"),
                    Err(payload) => {
                        format!("Unhandled panic in run(): {}", panic_message(&*payload))
                    }
                };
                report(&outcomes, Outcome::RunFailed(failure));
            });
        if let Err(e) = spawned {
            error!(target: TARGET, "Could not start the run thread of {title}: {e}");
            exit(2);
        }
    }

    let mut w = Worker {
        service,
        ctx,
        outcomes,
        title,
        timeout,
        deadline: None,
        terminating: false,
        reloading: Arc::new(AtomicBool::new(false)),
        reloader: None,
    };
    loop {
        let parent_gone = parent.poll(&mut ws.signal_pipe, w.deadline);
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
                Event::Child | Event::Alarm | Event::Notice | Event::Wake => {}
            }
        }
        w.handle_outcomes();
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
    terminating: bool,
    reloading: Arc<AtomicBool>,
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
        info!(
            target: TARGET,
            "Caught SIGTERM signal, graceful exiting of service {}", self.title
        );
        // A timeout too long to represent is no timeout.
        self.deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        self.ctx.stop();
        let (service, title) = (self.service.clone(), self.title.clone());
        // The thread ends the process itself once terminate() returns: no round
        // trip through the main thread on the way out.
        let spawned = std::thread::Builder::new()
            .name("terminate".to_owned())
            .spawn(move || {
                let _ = sys::signal::set_parent_death_signal();
                match catch_unwind(AssertUnwindSafe(|| service.terminate())) {
                    Ok(code) => exit(code),
                    Err(payload) => {
                        error!(
                            target: TARGET,
                            "Unhandled panic in terminate() (service {title}): {}",
                            panic_message(&*payload)
                        );
                        exit(2)
                    }
                }
            });
        if let Err(e) = spawned {
            error!(target: TARGET, "Could not start terminate() of {}: {e}", self.title);
            exit(1);
        }
    }

    /// SIGHUP: reload() on a thread, unless terminate() or a reload() is running.
    fn reload(&mut self) {
        if self.terminating || self.reloading.swap(true, Ordering::AcqRel) {
            return;
        }
        // One reload thread, started at the first SIGHUP and reused after: a
        // reload costs a channel message, not a thread.
        if self.reloader.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let (service, outcomes, reloading) = (
                self.service.clone(),
                self.outcomes.clone(),
                self.reloading.clone(),
            );
            let notice = self.ctx.notice();
            let spawned = std::thread::Builder::new()
                .name("reload".to_owned())
                .spawn(move || {
                    let _ = sys::signal::set_parent_death_signal();
                    while rx.recv().is_ok() {
                        let result = catch_unwind(AssertUnwindSafe(|| service.reload()));
                        reloading.store(false, Ordering::Release);
                        // An in-place reload (not the default restart) tells the
                        // master it serves again: the next rolling step may go.
                        if result.is_ok()
                            && !EXIT_REQUESTED.load(Ordering::SeqCst)
                            && let Some(notice) = notice
                        {
                            notice.reloaded();
                        }
                        if let Err(payload) = result {
                            let msg = panic_message(&*payload);
                            report(&outcomes, Outcome::Panicked("reload", msg));
                            return;
                        }
                    }
                });
            match spawned {
                Ok(_) => self.reloader = Some(tx),
                Err(e) => {
                    self.reloading.store(false, Ordering::Release);
                    error!(target: TARGET, "Could not start reload() of {}: {e}", self.title);
                    return;
                }
            }
        }
        if let Some(tx) = &self.reloader
            && tx.send(()).is_err()
        {
            self.reloading.store(false, Ordering::Release);
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
