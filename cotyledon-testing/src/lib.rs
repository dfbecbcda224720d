//! Functional tests for programs built on cotyledon-rs (the `cotyledon` library of
//! the `cotyledon-core` package): start your real program, the one cargo built, in
//! a process group of its own; wait for its log lines with deadlines; find its
//! workers; send real signals; assert its exit code and that no process of it is
//! left.
//!
//! Like `cotyledon-core`, this crate is not on crates.io: depend on it from the
//! same clone of the cotyledon-rs repository, next to the `cotyledon` line of your
//! `[dependencies]` (see the README, "Getting started"):
//!
//! ```toml
//! [dev-dependencies]
//! cotyledon-testing = { path = "../cotyledon-rs/cotyledon-testing" } # your clone
//! ```
//!
//! `path` is the `cotyledon-testing` directory of your clone, relative to your
//! crate; with `git = "…"` (the URL you clone it from) in place of `path`, Cargo
//! finds the package in the repository by its name.
//!
//! # Example
//!
//! cotyledon's README shows a complete service: a manager with two `consumer`
//! workers that log `worker N polls its queue` every second, log
//! `worker N drains and leaves` on SIGTERM and exit 0. With a logger installed
//! (cotyledon itself installs none), here is its test, in `tests/consumer.rs` of a
//! crate whose binary is `consumer`:
//!
//! ```no_run
//! # #![allow(unused)]
//! # macro_rules! env { ($name:literal) => { "target/debug/consumer" }; }
//! use std::process::Command;
//! use std::time::Duration;
//!
//! use cotyledon_testing::{Scenario, Signal};
//!
//! /// For what should happen at once: generous, so a loaded CI machine passes;
//! /// a correct run never waits for it.
//! const SOON: Duration = Duration::from_secs(10);
//!
//! #[test]
//! fn sigterm_drains_both_workers_and_exits_zero() {
//!     // Cargo builds the package's binaries before its integration tests.
//!     let mut app = Scenario::command(Command::new(env!("CARGO_BIN_EXE_consumer")))
//!         .merge_stderr() // read the lines of a logger that writes to stderr too
//!         .spawn();
//!     app.wait_for_line("worker 0 polls its queue", SOON);
//!     app.wait_for_line("worker 1 polls its queue", SOON);
//!     // The master's live children, from /proc: its two workers.
//!     let workers = app.wait_for_workers(2, SOON);
//!
//!     app.signal(Signal::SIGTERM);
//!     app.wait_for_line("worker 0 drains and leaves", SOON);
//!     app.wait_for_line("worker 1 drains and leaves", SOON);
//!     for pid in workers {
//!         // cotyledon's manager logs each worker's exit status.
//!         app.wait_for_line(&format!("Child {pid} exited with status 0"), SOON);
//!     }
//!     // The manager exits 0 and nothing of its process group is left.
//!     app.expect_exit(0);
//! }
//! # fn main() {}
//! ```
//!
//! cotyledon's repository runs this very test on the README's code (its example
//! `readme_service`).
//!
//! # How it works
//!
//! - **Start** any command: [`Scenario::command`] takes a
//!   [`std::process::Command`] (program, arguments, environment, working
//!   directory), [`Scenario::program`] a path; [`ScenarioBuilder`] adds
//!   arguments and environment, runs the program through a wrapper, or reads
//!   stderr too. [`spawn`](ScenarioBuilder::spawn) starts it as the leader of a
//!   new process group, stdin from `/dev/null`, stdout (and stderr) piped to the
//!   harness. A cotyledon manager started so stays in that group with its workers
//!   (its `setsid()` fails for a group leader), which is what makes "nothing is
//!   left" checkable.
//! - **Log lines.** A thread reads the program's stdout as lines (the workers
//!   share it). [`wait_for_line`](Scenario::wait_for_line) and
//!   [`wait_for`](Scenario::wait_for) wait for a line with a deadline, never a
//!   sleep; each line satisfies one wait at most, so two waits for the same text
//!   wait for two lines. Lines no wait matched stay pending for later waits
//!   ([`skip_pending_lines`](Scenario::skip_pending_lines) sets them aside);
//!   [`lines`](Scenario::lines) has them all. cotyledon itself never installs a
//!   logger: your program must, and must write to stdout, or to stderr with
//!   [`merge_stderr`](ScenarioBuilder::merge_stderr).
//! - **Workers**, two ways: [`workers`](Scenario::workers) and
//!   [`wait_for_workers`](Scenario::wait_for_workers) read the master's children
//!   in /proc and need no log line; [`wait_for_run`](Scenario::wait_for_run)
//!   reads the pid of worker `NAME(ID)` from cotyledon's DEBUG line
//!   `Run service NAME(ID) [PID]`, when your logger lets DEBUG records of
//!   `cotyledon::worker` through.
//! - **Signals**: [`signal`](Scenario::signal) to the master,
//!   [`kill`](Scenario::kill) to any pid, [`signal_group`](Scenario::signal_group)
//!   to the whole group (a terminal's Ctrl-C).
//! - **The end**: [`expect_exit`](Scenario::expect_exit) waits for the exit,
//!   asserts the code, then asserts that no process of the group is left;
//!   [`end_with`](Scenario::end_with) sends a signal first;
//!   [`wait_exit`](Scenario::wait_exit) and
//!   [`assert_no_process_left`](Scenario::assert_no_process_left) take your own
//!   deadlines.
//! - **Failures**: a wait that times out kills the group and panics with the
//!   command and everything the program wrote; dropping a [`Scenario`] (a test
//!   that panicked) SIGKILLs its group, so no test leaves processes behind.
//! - **Looking at processes**: [`cmdline`] (a cotyledon worker's title is
//!   `PROG: NAME worker(ID)`), [`comm`], [`state`], [`is_alive`], [`children`],
//!   [`fds`], [`environ`], [`group_and_session`]; [`mask_pids`] makes lines
//!   comparable across runs.
//!
//! Linux only: it reads /proc, and the test process makes itself a child
//! subreaper so that the workers of a manager that dies are reaped by it. Tests
//! may run in parallel: each program has its own group.
//!
//! cotyledon's own functional tests drive a program that takes a scenario name
//! as its first argument; [`Scenario::builder`] and [`Scenario::spawn`] keep that
//! form.

#![warn(missing_docs)]

mod builder;
mod exit;
mod output;
mod procs;
mod scenario;
mod workers;

pub use builder::ScenarioBuilder;
pub use nix::sys::signal::Signal;
pub use procs::mask_pids;
pub use procs::{
    FdEntry, children, cmdline, comm, environ, fds, group_and_session, is_alive, state,
};
pub use scenario::Scenario;
