//! Which thread calls `terminate()`: the run thread when `run()` has returned or
//! returns as the stop wakes it up, a thread of its own when `run()` is busy or
//! does not return; and whichever it is, the worker exits with `terminate()`'s
//! value, also when `terminate()` waits for `run()` to finish.

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

#[test]
fn a_run_that_returns_as_it_wakes_up_leaves_terminate_to_its_thread() {
    let (mut s, [waiter, ..]) = handoff_app();
    stop(&mut s, waiter, 42, "waiter terminate on run");
    assert_in_order(
        &s.masked_lines(),
        &[
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service waiter(0) [XXXX]",
            "ERROR:scenarios::handoff:waiter run returns",
            "ERROR:scenarios::handoff:waiter terminate on run",
            "INFO:cotyledon::manager:Child XXXX exited with status 42",
        ],
    );
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
    s.wait_for_line("lingerer woke up", SOON);
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
    stop(&mut s, finisher, 46, "finisher terminate on terminate");
    assert_in_order(
        &s.masked_lines(),
        &[
            "ERROR:scenarios::handoff:finisher job done",
            "ERROR:scenarios::handoff:finisher terminate on terminate",
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
    for line in [
        "ERROR:scenarios::handoff:waiter terminate on run",
        "ERROR:scenarios::handoff:returner terminate on run",
        "ERROR:scenarios::handoff:lingerer terminate on terminate",
        "ERROR:scenarios::handoff:busy terminate on terminate",
        "ERROR:scenarios::handoff:finisher terminate on terminate",
    ] {
        assert!(
            lines.iter().any(|l| l == line),
            "missing {line:?} in {lines:#?}"
        );
    }
    s.assert_no_process_left(SOON);
}
