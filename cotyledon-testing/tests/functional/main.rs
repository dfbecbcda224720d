//! Functional tests: each starts a real manager (a scenario of
//! `examples/scenarios.rs`), sends real signals and asserts on its log lines, exit
//! code and on the processes left (none). Run with `cargo xtask functional-tests`,
//! which enables the `tokio` feature (the async scenarios and their tests).

mod after_reload;
#[cfg(feature = "tokio")]
mod asynchronous;
mod blocking_hooks;
mod bounds;
mod chaos;
#[cfg(feature = "config")]
mod config;
mod control;
mod control_cli;
mod control_commands;
mod control_hostile;
mod handoff;
mod hooks;
mod http;
mod listeners;
mod overlap;
mod parent_death;
mod reconfigure;
mod respawn;
mod robustness;
mod sd_notify;
mod serving;
mod shutdown_first;
mod sighup;
mod sigint;
mod sigterm;
mod titles;
mod upgrade;
mod worker_exits;

use std::path::PathBuf;
use std::time::Duration;

use cotyledon_testing::Scenario;

/// Deadline for anything that should happen "at once": generous, so a loaded
/// machine does not fail a test; a correct run never waits for it.
pub(crate) const SOON: Duration = Duration::from_secs(10);

/// Whether the machine is loaded on purpose (`cargo xtask functional-tests
/// --under-load` sets `COTYLEDON_UNDER_LOAD` while it keeps every core busy).
pub(crate) fn under_load() -> bool {
    std::env::var_os("COTYLEDON_UNDER_LOAD").is_some()
}

/// `target`, or [`SOON`] while the machine is loaded on purpose: for a speed
/// that the contract does not promise (how soon the workers of a killed master
/// are gone, say), which the tests hold a machine with a CPU to spare to, and
/// only measure on a loaded one.
pub(crate) fn target_or_soon(target: Duration) -> Duration {
    if under_load() { SOON } else { target }
}

/// Held by the tests that load the machine (the chaos run) and by those with a
/// tight deadline, so that the two never run at the same time.
pub(crate) static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`HEAVY`] (a test that panicked while holding it does not poison it).
pub(crate) fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The scenario program: `COTYLEDON_SCENARIOS_BIN` if set, else the `scenarios`
/// binary cargo built for this package.
#[track_caller]
pub(crate) fn bin() -> PathBuf {
    std::env::var_os("COTYLEDON_SCENARIOS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_scenarios")))
}

/// Starts scenario `name`.
pub(crate) fn start(name: &str) -> Scenario {
    Scenario::spawn(bin(), name)
}

/// The three workers of `example_app`, once all of them are in run().
pub(crate) struct ExampleApp {
    pub(crate) s: Scenario,
    pub(crate) heavy: [i32; 2],
    pub(crate) light: i32,
}

/// Starts `example_app` and waits for heavy(0), heavy(1), light(0) to run.
pub(crate) fn example_app() -> ExampleApp {
    let mut s = start("example_app");
    let h0 = s.wait_for_run("heavy", 0, SOON);
    let h1 = s.wait_for_run("heavy", 1, SOON);
    let light = s.wait_for_run("light", 0, SOON);
    // Both heavy workers have logged "heavy run" once they are in run().
    for _ in 0..2 {
        s.wait_for_line("heavy run", SOON);
    }
    ExampleApp {
        s,
        heavy: [h0, h1],
        light,
    }
}

/// Starts `buggy_app` and puts its worker in its (hanging) terminate(): returns
/// the scenario and the worker's pid.
pub(crate) fn buggy_worker_in_terminate() -> (Scenario, i32) {
    let mut s = start("buggy_app");
    let pid = s.wait_for_run("buggy", 0, SOON);
    s.kill(pid, cotyledon_testing::Signal::SIGTERM);
    s.wait_for_line(
        "Caught SIGTERM signal, graceful exiting of service buggy(0)",
        SOON,
    );
    (s, pid)
}

/// Whether `expected` appear in `lines` in this order (other lines may come between).
///
/// Master and workers write to one pipe, so lines of different processes
/// interleave freely. Expect an order only between lines of one process, or where
/// causality fixes it: a line logged before sending a signal (or forking) comes
/// before the lines the receiver logs because of it, and a worker's lines come
/// before the master's "Child PID exited…" for it.
pub(crate) fn in_order(lines: &[String], expected: &[&str]) -> bool {
    let mut it = lines.iter();
    expected.iter().all(|e| it.any(|l| l == e))
}

/// Asserts [`in_order`], printing both lists when it fails.
#[track_caller]
pub(crate) fn assert_in_order(lines: &[String], expected: &[&str]) {
    assert!(
        in_order(lines, expected),
        "expected, in this order:\n{}\n--- got ---\n{}",
        expected.join("\n"),
        lines.join("\n")
    );
}

/// The lines of one log target (e.g. `cotyledon::manager`), pids masked.
pub(crate) fn target_lines(s: &Scenario, target: &str) -> Vec<String> {
    let prefix = format!(":{target}:");
    s.masked_lines()
        .into_iter()
        .filter(|l| l.contains(&prefix))
        .collect()
}
