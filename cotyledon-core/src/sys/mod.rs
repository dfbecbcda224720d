//! The only module with `unsafe` code: signal handlers and masks (and the
//! code that runs in signal context, `handler`), `fork`, the process-title
//! rewrite of the argv area, the fds of socket activation and the exec of an
//! upgrade.
//! Everything here returns `io::Result` and exposes a safe interface whose
//! invariants are stated at each `unsafe` block.

pub(crate) mod argv;
pub(crate) mod env;
pub(crate) mod exec;
pub(crate) mod fd;
pub(crate) mod fork;
pub(crate) mod handler;
pub(crate) mod pipe;
pub(crate) mod shm;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod thread;
pub(crate) mod threads;
pub(crate) mod timer;
