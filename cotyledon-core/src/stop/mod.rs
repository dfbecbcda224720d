//! The worker's stop, as a leaf that the public API (`Context`, `Stopped`, the
//! async adapter, `Service::reload`'s default) and the worker runtime both use:
//! the stop token (flag, condvar, wakers, cancellation token), the request for
//! a graceful exit, and the watch on the run thread that decides who calls
//! `terminate()`. Nothing here
//! imports the worker, the manager or the public types.

pub(crate) mod run_watch;
pub(crate) mod token;
pub(crate) mod wakers;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys;

pub(crate) use run_watch::RunWatch;
pub(crate) use wakers::Wakers;

/// Set once the worker asked itself to exit (the default `reload()` does): a
/// reload that ends so is a restart, not an in-place reload.
static EXIT_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the current worker to exit gracefully, as if it had received SIGTERM.
pub(crate) fn request_graceful_exit() {
    EXIT_REQUESTED.store(true, Ordering::SeqCst);
    sys::signal::notify(libc::SIGTERM as u8);
}

/// Whether the worker asked itself to exit.
pub(crate) fn exit_requested() -> bool {
    EXIT_REQUESTED.load(Ordering::SeqCst)
}
