//! SIGCHLD: dead workers are reaped, reported and respawned with their id; a
//! panicking service exits 2; the fork limiter; only workers are reaped, except
//! by a master running as PID 1, which reaps every child.

use std::time::{Duration, Instant};

use assert_cmd::assert::OutputAssertExt;
use cotyledon_testing::{Scenario, Signal, children, state};

use crate::{SOON, assert_in_order, bin, example_app, start};

#[test]
fn a_killed_worker_is_respawned_with_the_same_id() {
    let mut app = example_app();
    for id in 0..2 {
        let old = app.heavy[id];
        app.s.kill(old, Signal::SIGKILL);
        app.s
            .wait_for_line(&format!("Child {old} killed by signal SIGKILL"), SOON);
        let new = app.s.wait_for_run("heavy", id, SOON);
        assert_ne!(new, old);
        app.heavy[id] = new;
    }
    app.s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_panicking_service_exits_two_and_is_respawned() {
    let mut s = start("badly_coded_app");
    let first = s.wait_for_run("BadlyCoded", 0, SOON);
    s.wait_for_line("so badly coded service", SOON);
    s.wait_for_line(&format!("Child {first} exited with status 2"), SOON);
    let second = s.wait_for_run("BadlyCoded", 0, SOON);
    assert_ne!(first, second);
    let panic_line = s
        .lines()
        .iter()
        .find(|l| l.contains("so badly coded service"))
        .cloned()
        .unwrap_or_default();
    assert!(
        panic_line.starts_with("ERROR:cotyledon::worker:"),
        "{panic_line}"
    );
    s.end_with(Signal::SIGINT, 1);
}

#[test]
fn failing_factories_exit_two_and_are_respawned() {
    let mut s = start("factory_error_app");
    s.wait_for_line("Failed to create service light(0)", SOON);
    s.wait_for_line("no database", SOON);
    s.wait_for_line("factory panic", SOON);
    s.wait_for_line("exited with status 2", SOON);
    // Respawned: a second failure of worker 0.
    let first = s
        .lines()
        .iter()
        .filter(|l| l.contains("Failed to create service light(0)"))
        .count();
    s.wait_for_line("Failed to create service light(0)", SOON);
    assert!(first >= 1);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn the_limiter_pauses_a_crash_loop_and_still_serves_sigterm() {
    let mut s = start("limiter_app");
    s.wait_for_line("Forking too fast, sleeping", SOON);
    // The pause is a timer in the event loop, not a sleep: SIGTERM is served
    // during it, so the shutdown finishes before the 5 s pause is over and no
    // worker is forked in between.
    s.signal(Signal::SIGTERM);
    s.wait_for_line("Shutdown finish", Duration::from_secs(4));
    s.wait_exit(SOON).assert().code(0);
    s.assert_no_process_left(SOON);
    let lines = s.masked_lines();
    let pause = lines
        .iter()
        .rposition(|l| l.ends_with("Forking too fast, sleeping"))
        .expect("the limiter tripped");
    assert!(
        !lines[pause..].iter().any(|l| l.contains("Run service")),
        "a worker was forked during the pause: {lines:#?}"
    );
    assert_in_order(
        &s.masked_lines(),
        &[
            "ERROR:cotyledon::worker:run() failed: crasher gives up (service crasher(0) [XXXX])",
            "INFO:cotyledon::manager:Child XXXX exited with status 2",
            "INFO:cotyledon::manager:Forking too fast, sleeping",
            "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process",
            "DEBUG:cotyledon::manager:Shutdown finish",
        ],
    );
}

#[test]
fn workers_are_reaped_but_the_programs_own_children_are_left_alone() {
    let mut s = start("foreign_child_app");
    let line = s.wait_for_line("foreign child ", SOON);
    let foreign: i32 = line
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a pid");
    let light0 = s.wait_for_run("light", 0, SOON);
    s.wait_for_run("light", 1, SOON);
    // Several deaths while a foreign zombie sits among the master's children.
    for _ in 0..3 {
        let old = s.lines().iter().rev().find_map(|l| {
            l.strip_prefix("DEBUG:cotyledon::worker:Run service light(0) [")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|p| p.parse::<i32>().ok())
        });
        let old = old.unwrap_or(light0);
        s.kill(old, Signal::SIGKILL);
        s.wait_for_line(&format!("Child {old} killed by signal SIGKILL"), SOON);
        assert_ne!(s.wait_for_run("light", 0, SOON), old);
    }
    // The foreign child's status was not taken: it is still a zombie, waiting for
    // its own parent's wait().
    let stat = std::fs::read_to_string(format!("/proc/{foreign}/stat")).expect("still there");
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next());
    assert_eq!(state, Some("Z"), "{stat}");
    assert!(
        !s.lines()
            .iter()
            .any(|l| l.contains(&format!("Child {foreign} ")))
    );
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn as_pid_1_the_master_reaps_every_child() {
    // In a new pid namespace the manager is PID 1: it reaps every child, its
    // workers and the others alike (here a `true` it spawned and never waited for).
    let mut s = Scenario::builder(bin(), "foreign_child_app")
        .wrapped_in(&["unshare", "--fork", "--pid"])
        .spawn();
    s.wait_for_line("foreign child ", SOON);
    s.wait_for_run("light", 0, SOON);
    s.wait_for_run("light", 1, SOON);
    let master = *children(s.pid())
        .first()
        .expect("unshare's child: the manager");
    let deadline = Instant::now() + SOON;
    let workers = loop {
        let kids = children(master);
        if kids.len() == 2 && kids.iter().all(|&k| state(k).is_some_and(|c| c != 'Z')) {
            break kids;
        }
        assert!(Instant::now() < deadline, "children of PID 1: {kids:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    s.kill(workers[0], Signal::SIGKILL);
    s.wait_for_line("killed by signal SIGKILL", SOON);
    s.wait_for_line("Run service light(", SOON);
    s.kill(master, Signal::SIGTERM);
    s.wait_for_line("Shutdown finish", SOON);
    s.expect_exit(0);
}
