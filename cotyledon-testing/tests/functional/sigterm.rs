//! SIGTERM: to the master (graceful shutdown), to workers, during start-up, and
//! the graceful-shutdown timeouts.

use cotyledon_testing::Signal;

use crate::{SOON, assert_in_order, buggy_worker_in_terminate, example_app, start, target_lines};

#[test]
fn sigterm_runs_hooks_in_order_then_exits_zero() {
    let mut app = example_app();
    app.s.end_with(Signal::SIGTERM, 0);

    // The master's own lines, exactly and in order; pids masked.
    let master = target_lines(&app.s, "cotyledon::manager");
    let expected_head = [
        "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process",
        "DEBUG:cotyledon::manager:Killing services with signal SIGTERM",
        "DEBUG:cotyledon::manager:Waiting services to terminate",
    ];
    assert_eq!(master[..3], expected_head, "{master:#?}");
    assert_eq!(
        master.last().map(String::as_str),
        Some("DEBUG:cotyledon::manager:Shutdown finish")
    );
    let mut exits: Vec<&str> = master[3..master.len() - 1]
        .iter()
        .map(String::as_str)
        .collect();
    exits.sort_unstable();
    assert_eq!(
        exits,
        [
            "INFO:cotyledon::manager:Child XXXX exited with status 0",
            "INFO:cotyledon::manager:Child XXXX exited with status 42",
            "INFO:cotyledon::manager:Child XXXX exited with status 42",
        ]
    );
    // Both terminate hooks run in registration order, before the workers get
    // SIGTERM; every worker runs its SIGTERM path.
    let all = app.s.masked_lines();
    assert_in_order(
        &all,
        &[
            "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process",
            "ERROR:scenarios:master terminate hook",
            "ERROR:scenarios:master terminate2 hook",
            "DEBUG:cotyledon::manager:Killing services with signal SIGTERM",
        ],
    );
    for worker in ["heavy(0)", "heavy(1)", "light(0)"] {
        let line = format!(
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service {worker} [XXXX]"
        );
        assert!(all.contains(&line), "missing {line:?} in {all:#?}");
    }
    assert_eq!(
        all.iter()
            .filter(|l| *l == "ERROR:scenarios:heavy terminate")
            .count(),
        2
    );
}

#[test]
fn sigterm_to_a_heavy_worker_exits_42_and_it_is_respawned_with_its_id() {
    let mut app = example_app();
    let old = app.heavy[1];
    app.s.kill(old, Signal::SIGTERM);
    app.s
        .wait_for_line(&format!("Child {old} exited with status 42"), SOON);
    let new = app.s.wait_for_run("heavy", 1, SOON);
    assert_ne!(new, old);
    let lines = app.s.masked_lines();
    assert_in_order(
        &lines,
        &[
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service heavy(1) [XXXX]",
            "ERROR:scenarios:heavy terminate",
            "INFO:cotyledon::manager:Child XXXX exited with status 42",
            "ERROR:scenarios:heavy init",
            "DEBUG:cotyledon::worker:Run service heavy(1) [XXXX]",
        ],
    );
    app.s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_second_sigterm_to_a_worker_does_not_run_terminate_again() {
    let (mut s, pid) = buggy_worker_in_terminate();
    // As under systemd's KillMode=control-group: the worker gets SIGTERM again.
    s.kill(pid, Signal::SIGTERM);
    s.wait_for_line(&format!("Child {pid} exited with status 1"), SOON);
    let caught = s
        .lines()
        .iter()
        .filter(|l| l.contains("Caught SIGTERM signal, graceful exiting of service buggy(0)"))
        .count();
    assert_eq!(caught, 1, "{:#?}", s.lines());
    s.wait_for_run("buggy", 0, SOON);
    s.end_with(Signal::SIGINT, 1);
}

#[test]
fn sigterm_to_buggy_app_hits_the_service_timeout() {
    let mut s = start("buggy_app");
    s.wait_for_run("buggy", 0, SOON);
    s.end_with(Signal::SIGTERM, 0);
    let lines = s.masked_lines();
    // The master's lines, in the master's order.
    assert_in_order(
        &lines,
        &[
            "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process",
            "DEBUG:cotyledon::manager:Killing services with signal SIGTERM",
            "DEBUG:cotyledon::manager:Waiting services to terminate",
            "INFO:cotyledon::manager:Child XXXX exited with status 1",
            "DEBUG:cotyledon::manager:Shutdown finish",
        ],
    );
    // Across the two processes only what causality orders: the master logs
    // "Killing…" before it sends SIGTERM, and the worker has logged its lines
    // before it exits, so before the master reaps it. The worker's "Caught
    // SIGTERM" and the master's "Waiting…" race: no order between them.
    assert_in_order(
        &lines,
        &[
            "DEBUG:cotyledon::manager:Killing services with signal SIGTERM",
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service buggy(0) [XXXX]",
            "INFO:cotyledon::worker:Graceful shutdown timeout (1) exceeded, exiting buggy(0) [XXXX] now.",
            "INFO:cotyledon::manager:Child XXXX exited with status 1",
        ],
    );
    assert!(!lines.iter().any(|l| l.contains("time.sleep done")));
}

#[test]
fn sigterm_during_start_up_is_a_clean_shutdown() {
    // The scenario sends itself SIGTERM 10 ms after start, while forking 10 workers.
    let mut s = start("sigterm_during_init");
    s.expect_exit(0);
    let lines = s.masked_lines();
    assert_in_order(
        &lines,
        &["INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process"],
    );
    assert_eq!(
        target_lines(&s, "cotyledon::manager")
            .last()
            .map(String::as_str),
        Some("DEBUG:cotyledon::manager:Shutdown finish")
    );
    // Every worker that was started was also reaped.
    let started = lines
        .iter()
        .filter(|l| l.contains("Run service light("))
        .count();
    let reaped = lines.iter().filter(|l| l.contains(":Child XXXX ")).count();
    assert!(
        started <= reaped,
        "started {started}, reaped {reaped}:\n{}",
        lines.join("\n")
    );
}

#[test]
fn on_dead_worker_hook_can_shut_the_manager_down() {
    let mut s = start("exit_on_special_child_app");
    let light = s.wait_for_run("light", 0, SOON);
    s.wait_for_run("heavy", 0, SOON);
    s.wait_for_run("heavy", 1, SOON);
    s.kill(light, Signal::SIGKILL);
    s.expect_exit(0);
    assert_in_order(
        &s.masked_lines(),
        &[
            "INFO:cotyledon::manager:Child XXXX killed by signal SIGKILL",
            "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process",
            "DEBUG:cotyledon::manager:Killing services with signal SIGTERM",
            "DEBUG:cotyledon::manager:Shutdown finish",
        ],
    );
    // The light worker is not respawned once the shutdown has begun.
    let runs = s
        .lines()
        .iter()
        .filter(|l| l.contains("Run service light(0)"))
        .count();
    assert_eq!(runs, 1);
}

#[test]
fn the_master_timeout_ends_workers_stuck_in_terminate() {
    // The service's own timeout is 0 (wait forever); the manager's is 1 s.
    let mut s = start("master_timeout_app");
    s.wait_for_run("stuck", 0, SOON);
    s.wait_for_run("stuck", 1, SOON);
    s.end_with(Signal::SIGTERM, 1);
    let lines = s.masked_lines();
    assert_in_order(
        &lines,
        &[
            "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process",
            "DEBUG:cotyledon::manager:Waiting services to terminate",
            "INFO:cotyledon::manager:Graceful shutdown timeout exceeded, instantaneous exiting of master process",
        ],
    );
    for id in 0..2 {
        let caught = format!(
            "INFO:cotyledon::worker:Caught SIGINT signal, instantaneous exiting of service stuck({id}) [XXXX]"
        );
        assert!(lines.contains(&caught), "missing {caught:?} in {lines:#?}");
    }
    // Each worker entered terminate() at most once; whether both had when the
    // 1 s timeout fired depends on the CPU they got (not asserted).
    assert!(
        lines
            .iter()
            .filter(|l| l.ends_with("stuck terminate"))
            .count()
            <= 2,
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("Shutdown finish")));
}

#[test]
fn a_master_with_other_threads_is_warned_about() {
    let mut s = start("threaded_master");
    s.wait_for_line(
        "WARN:cotyledon::manager:The master process has 2 threads",
        SOON,
    );
    s.wait_for_run("light", 0, SOON);
    s.end_with(Signal::SIGTERM, 0);
}
