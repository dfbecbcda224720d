//! A harness for functional tests of cotyledon-rs: start a real manager (a
//! scenario of `examples/scenarios.rs`) in its own process group, read its log
//! lines with deadlines, find worker pids from its "Run service" lines, send real
//! signals, check exit codes, and check that no process of the group is left.
//!
//! ```no_run
//! use std::time::Duration;
//! use cotyledon_testing::{Scenario, Signal};
//!
//! let mut s = Scenario::spawn("path/to/scenarios", "example_app");
//! let pid = s.wait_for_run("heavy", 0, Duration::from_secs(5));
//! s.kill(pid, Signal::SIGTERM);
//! s.wait_for_line("Child", Duration::from_secs(5));
//! ```

pub mod chaos;
mod procs;
mod scenario;

pub use nix::sys::signal::Signal;
pub use procs::mask_pids;
pub use procs::{
    FdEntry, children, cmdline, comm, environ, fds, group_and_session, is_alive, state,
};
pub use scenario::{Scenario, ScenarioBuilder};
