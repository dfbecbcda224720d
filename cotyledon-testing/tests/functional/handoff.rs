//! Which thread calls `terminate()`: the run thread when `run()` has returned, a
//! thread of its own when `run()` is busy or does not return; and whichever it
//! is, `terminate()` runs once and the worker exits with its value, also when
//! `terminate()` waits for `run()` to finish.
//!
//! Where the thread depends on timing, the tests do not assert it: a `run()`
//! that returns as the stop wakes it leaves `terminate()` to its thread only if
//! it returns within 50 ms of waking up, and on a loaded machine it may not get
//! the CPU for that long (then a thread of its own calls it: both are correct).

use cotyledon_testing::{Scenario, Signal};

use crate::{SOON, assert_in_order, start};

/// `handoff_app` with its five workers in run(): the scenario and their pids, in
/// the order waiter, returner, lingerer, busy, finisher.
fn handoff_app() -> (Scenario, [i32; 5]) {
    let mut s = start("handoff_app");
    let names = ["waiter", "returner", "lingerer", "busy", "finisher"];
    let pids = names.map(|name| s.wait_for_run(name, 0, SOON));
    for line in ["returner run returned", "busy run sleeps", "finisher run"] {
        s.wait_for_line(line, SOON);
    }
    (s, pids)
}

/// SIGTERM to `pid`: waits for its exit status `code`, then for `line`.
fn stop(s: &mut Scenario, pid: i32, code: i32, line: &str) {
    s.kill(pid, Signal::SIGTERM);
    s.wait_for_line(&format!("Child {pid} exited with status {code}"), SOON);
    assert!(
        s.lines().iter().any(|l| l.ends_with(line)),
        "missing {line:?} in {:#?}",
        s.lines()
    );
}

/// The threads `terminate()` of service `name` ran on, one per call (`run` or
/// `terminate`), from its "NAME terminate on THREAD" lines.
fn terminate_threads(s: &Scenario, name: &str) -> Vec<String> {
    let prefix = format!("ERROR:scenarios::handoff:{name} terminate on ");
    s.lines()
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect()
}

/// Asserts that `terminate()` of `name` ran exactly once, on the run thread or
/// a thread of its own (which one depends on timing).
#[track_caller]
fn terminated_once_on_either_thread(s: &Scenario, name: &str) {
    let threads = terminate_threads(s, name);
    assert!(
        matches!(&threads[..], [t] if t == "run" || t == "terminate"),
        "{name}: terminate() ran on {threads:?}: {:#?}",
        s.lines()
    );
}

#[test]
fn a_run_that_returns_as_it_wakes_up_gets_terminate_once_with_its_value() {
    let (mut s, [waiter, ..]) = handoff_app();
    s.kill(waiter, Signal::SIGTERM);
    s.wait_for_line(&format!("Child {waiter} exited with status 42"), SOON);
    // terminate() waits until run() has returned (the scenario's own order).
    assert_in_order(
        &s.masked_lines(),
        &[
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service waiter(0) [XXXX]",
            "ERROR:scenarios::handoff:waiter run returns",
            "INFO:cotyledon::manager:Child XXXX exited with status 42",
        ],
    );
    terminated_once_on_either_thread(&s, "waiter");
    let terminate = terminate_threads(&s, "waiter").remove(0);
    assert_in_order(
        &s.masked_lines(),
        &[
            "ERROR:scenarios::handoff:waiter run returns",
            &format!("ERROR:scenarios::handoff:waiter terminate on {terminate}"),
            "INFO:cotyledon::manager:Child XXXX exited with status 42",
        ],
    );
    // The waiter is respawned (exit 42 is no shutdown): its replacement runs
    // terminate() of its own at the master's SIGTERM.
    s.end_with(Signal::SIGTERM, 0);
    s.assert_no_process_left(SOON);
}

#[test]
fn a_run_that_returned_before_the_stop_calls_terminate() {
    let (mut s, [_, returner, ..]) = handoff_app();
    stop(&mut s, returner, 43, "returner terminate on run");
    s.end_with(Signal::SIGTERM, 0);
    s.assert_no_process_left(SOON);
}

#[test]
fn a_run_that_does_not_return_after_waking_up_gets_a_terminate_thread() {
    let (mut s, [_, _, lingerer, ..]) = handoff_app();
    stop(&mut s, lingerer, 44, "lingerer terminate on terminate");
    assert_in_order(
        &s.masked_lines(),
        &[
            "ERROR:scenarios::handoff:lingerer woke up",
            "ERROR:scenarios::handoff:lingerer terminate on terminate",
            "INFO:cotyledon::manager:Child XXXX exited with status 44",
        ],
    );
    s.end_with(Signal::SIGTERM, 0);
    s.assert_no_process_left(SOON);
}

#[test]
fn a_busy_run_gets_a_terminate_thread() {
    let (mut s, [_, _, _, busy, _]) = handoff_app();
    stop(&mut s, busy, 45, "busy terminate on terminate");
    s.end_with(Signal::SIGTERM, 0);
    s.assert_no_process_left(SOON);
}

#[test]
fn terminate_may_wait_for_a_run_that_finishes_its_job_after_the_stop() {
    let (mut s, [.., finisher]) = handoff_app();
    s.kill(finisher, Signal::SIGTERM);
    s.wait_for_line(&format!("Child {finisher} exited with status 46"), SOON);
    // Usually on a thread of its own (run() does not return within 50 ms of
    // waking up: its job takes 1 s), but a worker whose main thread got no CPU
    // for that second finds run() returned: the run thread may call it then.
    terminated_once_on_either_thread(&s, "finisher");
    let terminate = terminate_threads(&s, "finisher").remove(0);
    assert_in_order(
        &s.masked_lines(),
        &[
            "ERROR:scenarios::handoff:finisher job done",
            &format!("ERROR:scenarios::handoff:finisher terminate on {terminate}"),
            "INFO:cotyledon::manager:Child XXXX exited with status 46",
        ],
    );
    s.end_with(Signal::SIGTERM, 0);
    s.assert_no_process_left(SOON);
}

#[test]
fn the_master_shutdown_ends_each_worker_with_terminate_s_value() {
    let (mut s, _) = handoff_app();
    s.end_with(Signal::SIGTERM, 0);
    let lines = s.masked_lines();
    for code in 42..=46 {
        let line = format!("INFO:cotyledon::manager:Child XXXX exited with status {code}");
        assert!(lines.contains(&line), "missing {line:?} in {lines:#?}");
    }
    // Each terminate() once; the threads that do not depend on timing.
    for (name, thread) in [
        ("returner", "run"),
        ("lingerer", "terminate"),
        ("busy", "terminate"),
    ] {
        assert_eq!(terminate_threads(&s, name), [thread], "{lines:#?}");
    }
    for name in ["waiter", "finisher"] {
        terminated_once_on_either_thread(&s, name);
    }
    s.assert_no_process_left(SOON);
}
