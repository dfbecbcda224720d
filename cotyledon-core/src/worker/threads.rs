//! The worker's threads besides the main one, and what they report to it: the
//! run thread (`run()`, then `terminate()` when it is free), a `terminate()`
//! thread when the run thread cannot take it (see `terminate`), and the reload
//! thread. Each sets the parent-death signal for itself: a thread that `exec`s
//! passes its own on to the new program, and each of them runs user code.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use super::terminate;
use crate::context::Context;
use crate::hooks::panic_message;
use crate::notice::Notice;
use crate::service::Service;
use crate::signals::WAKE;
use crate::stop::{self, run_watch};
use crate::sys;

/// What the service's threads report to the main thread.
pub(super) enum Outcome {
    /// `run()` returned an error or panicked (the message).
    RunFailed(String),
    /// `reload()` panicked.
    Panicked(&'static str, String),
}

pub(super) type Outcomes = Arc<Mutex<Vec<Outcome>>>;

fn report(outcomes: &Outcomes, outcome: Outcome) {
    outcomes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(outcome);
    sys::signal::notify(WAKE);
}

/// What the run thread gets.
pub(super) struct Run<S> {
    pub(super) service: Arc<S>,
    pub(super) ctx: Context,
    pub(super) outcomes: Outcomes,
    /// `NAME(ID) [PID]`, for the messages of `terminate()`.
    pub(super) title: String,
    /// Ready as `run()` starts (`Readiness::OnRun`).
    pub(super) ready_on_run: bool,
}

/// Starts the run thread: the ready notice (unless the service says when it is
/// ready), `run()`, and once `run()` has returned `Ok` and the stop came,
/// `terminate()` unless the main thread took it back. It is started without
/// std's per-thread set-up (see `sys::thread`): it is the one thread every
/// worker starts.
pub(super) fn spawn_run<S: Service>(run: Run<S>) -> io::Result<()> {
    let Run {
        service,
        ctx,
        outcomes,
        title,
        ready_on_run,
    } = run;
    sys::thread::spawn(
        c"run",
        Box::new(move || {
            run_watch::mark_run_thread();
            let _ = sys::signal::set_parent_death_signal();
            if ready_on_run && let Some(notice) = ctx.notice() {
                notice.ready();
            }
            let failure = match catch_unwind(AssertUnwindSafe(|| service.run(&ctx))) {
                // The worker stays alive until told to stop; this thread is then
                // free to call terminate().
                Ok(Ok(())) => {
                    ctx.run_watch().mark_returned();
                    ctx.wait_for_stop();
                    if ctx.run_watch().take() {
                        terminate::call(&*service, &title);
                    }
                    // Taken back: the process ends from the terminate() thread.
                    loop {
                        std::thread::park();
                    }
                }
                Ok(Err(e)) => format!("run() failed: {e}"),
                Err(payload) => format!("Unhandled panic in run(): {}", panic_message(&*payload)),
            };
            report(&outcomes, Outcome::RunFailed(failure));
        }),
    )
}

/// Starts a thread that calls `terminate()` and ends the process with its value.
pub(super) fn spawn_terminate<S: Service>(service: Arc<S>, title: String) -> io::Result<()> {
    std::thread::Builder::new()
        .name("terminate".to_owned())
        .spawn(move || {
            let _ = sys::signal::set_parent_death_signal();
            terminate::call(&*service, &title)
        })
        .map(drop)
}

/// The reload thread is idle.
pub(super) const IDLE: u8 = 0;
/// A `reload()` runs.
pub(super) const RELOADING: u8 = 1;
/// A `reload()` runs and a SIGHUP came meanwhile: one more follows.
pub(super) const AGAIN: u8 = 2;

/// Starts the reload thread, which calls `reload()` once per message on the
/// returned channel, and once more each time `reloading` says a SIGHUP came
/// during the call ([`AGAIN`]), then sets it back to [`IDLE`]; an in-place
/// reload (not the default restart) tells the master when the `reload()` it
/// finished had started, so that the master knows how recent the code is.
pub(super) fn spawn_reload<S: Service>(
    service: Arc<S>,
    outcomes: Outcomes,
    reloading: Arc<AtomicU8>,
    notice: Option<Notice>,
) -> io::Result<Sender<()>> {
    let (tx, rx) = channel::<()>();
    std::thread::Builder::new()
        .name("reload".to_owned())
        .spawn(move || {
            let _ = sys::signal::set_parent_death_signal();
            while rx.recv().is_ok() {
                loop {
                    let started = sys::timer::monotonic_ns();
                    let result = catch_unwind(AssertUnwindSafe(|| service.reload()));
                    if let Err(payload) = result {
                        let msg = panic_message(&*payload);
                        report(&outcomes, Outcome::Panicked("reload", msg));
                        return;
                    }
                    // The next rolling step may go.
                    if !stop::exit_requested()
                        && let Some(notice) = notice
                    {
                        notice.reloaded(started);
                    }
                    let again = reloading
                        .compare_exchange(AGAIN, RELOADING, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok();
                    if !again {
                        reloading.store(IDLE, Ordering::Release);
                        break;
                    }
                }
            }
        })
        .map(|_| tx)
}
