//! Code that runs inside signal handlers, beyond the handler itself
//! (`sys::signal`): each process installs one hook with the `unsafe`
//! [`set_hook`](super::signal::set_hook), whose contract these modules keep
//! (async-signal-safe work, or work bounded by a kernel timer that ends the
//! process whatever the interrupted code holds; no unwinding out).
//!
//! - `master`: the master's emergency exits (SIGINT while a hook blocks, the
//!   graceful deadline as a kernel timer) and the pid registry they read.
//! - `worker`: the worker's kill switch, a timer that ends it at once on every
//!   exit path, whatever its threads are doing.

pub(crate) mod master;
pub(crate) mod worker;
