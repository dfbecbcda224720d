//! Who calls `terminate()`, and on which thread: the run thread when it is free,
//! a thread of its own otherwise, and never both.
//!
//! The run thread is free once `run()` has returned `Ok` (it then waits on its
//! [`Context`](crate::Context)), and soon will be when the stop finds `run()`
//! waiting on its `Context` (`wait_for_stop`, `wait_timeout`): such a `run()`
//! typically returns as it wakes up. So the stop *offers* `terminate()` to the run
//! thread and the main thread only takes it back, to call it on a new thread,
//! when the run thread cannot come: at once if the stop found `run()` busy in
//! code of its own, or [`HANDOFF`](crate::stop::run_watch::HANDOFF) after `run()` woke up without returning. One
//! compare-and-swap decides who calls it; that thread ends the process with its
//! value. A thread created at the stop costs a worker more than the rest of its
//! exit (stack and signal-stack mappings, its own malloc arena, its teardown).

use std::panic::{AssertUnwindSafe, catch_unwind};

use log::error;

use super::TARGET;
use crate::hooks::panic_message;
use crate::service::Service;

/// Calls `terminate()` and ends the worker with its value (2 if it panicked).
pub(super) fn call<S: Service>(service: &S, title: &str) -> ! {
    match catch_unwind(AssertUnwindSafe(|| service.terminate())) {
        Ok(code) => super::exit(code),
        Err(payload) => {
            error!(
                target: TARGET,
                "Unhandled panic in terminate() (service {title}): {}",
                panic_message(&*payload)
            );
            super::exit(2)
        }
    }
}
