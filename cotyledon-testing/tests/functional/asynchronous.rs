//! Async services (the `tokio` feature): SIGTERM fires the stop future and the
//! cancellation token at once, work in flight finishes, terminate()'s value is
//! the exit status; the graceful timeout ends a run that ignores the stop; the
//! runtime lives in the workers, never in the master; a master inside a runtime
//! is reported; SIGHUP rolls async workers through their drain.

use std::time::Instant;

use cotyledon_testing::{Scenario, Signal};

use crate::{SOON, bin, start};

/// Thread names (`comm`) of process `pid`.
fn thread_names(pid: i32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim_end().to_owned())
        .collect()
}

/// The index of the first line containing `needle`.
#[track_caller]
fn index_of(s: &Scenario, needle: &str) -> usize {
    s.lines()
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| s.fail(&format!("no line containing {needle:?}")))
}

/// When the line at `index` was read.
fn read_at(s: &Scenario, index: usize) -> Instant {
    s.line_times()[index]
}

/// Starts async_drain_app with `workers` and `env`; waits for each to be ready.
fn drain_app(workers: usize, env: &[(&str, &str)]) -> (Scenario, Vec<i32>) {
    let mut b =
        Scenario::builder(bin(), "async_drain_app").env("SCENARIO_WORKERS", workers.to_string());
    for (k, v) in env {
        b = b.env(k, v);
    }
    let mut s = b.spawn();
    let pids = (0..workers)
        .map(|i| s.wait_for_run("drain", i, SOON))
        .collect();
    for i in 0..workers {
        s.wait_for_line(&format!("drain ready id={i}"), SOON);
    }
    (s, pids)
}

#[test]
fn sigterm_fires_the_stop_future_and_token_then_jobs_in_flight_finish() {
    let (mut s, pids) = drain_app(1, &[("SCENARIO_EXIT_CODE", "42")]);
    let pid = pids[0];
    // Jobs overlap from the third on: two or three are always in flight.
    s.wait_for_line("drain job 3 start id=0", SOON);
    s.kill(pid, Signal::SIGTERM);
    s.wait_for_line(
        &format!("Caught SIGTERM signal, graceful exiting of service drain(0) [{pid}]"),
        SOON,
    );
    s.wait_for_line("drain stop future fired id=0", SOON);
    s.wait_for_line("drain token fired id=0", SOON);
    let seen = s.wait_for_line("drain stop seen id=0 in flight:", SOON);
    let in_flight: Vec<u64> = seen
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|n| n.parse().expect("job number"))
        .collect();
    assert!(
        !in_flight.is_empty(),
        "jobs overlap, some are in flight: {seen}"
    );
    for n in &in_flight {
        s.wait_for_line(&format!("drain job {n} done id=0"), SOON);
    }
    s.wait_for_line("drain run returns id=0", SOON);
    s.wait_for_line("drain terminate id=0", SOON);
    s.wait_for_line(&format!("Child {pid} exited with status 42"), SOON);

    // The worker's own lines are in its order: stop, the drain, run's return,
    // terminate, then the master sees the exit.
    let stop_seen = index_of(&s, "drain stop seen id=0");
    let returns = index_of(&s, "drain run returns id=0");
    for n in &in_flight {
        let done = index_of(&s, &format!("drain job {n} done id=0"));
        assert!(stop_seen < done && done < returns, "{:#?}", s.lines());
    }
    assert!(returns < index_of(&s, "drain terminate id=0"));
    assert!(
        index_of(&s, "drain terminate id=0")
            < index_of(&s, &format!("Child {pid} exited with status 42"))
    );
    // No job was taken after the stop.
    let last = in_flight.iter().max().copied().unwrap_or_default();
    let late = format!("drain job {} start", last + 1);
    assert!(!s.lines().iter().any(|l| l.contains(&late)), "{late}");

    // Measured, not asserted (the design's figure is 5 ms): from the worker's
    // "Caught SIGTERM" line to the service seeing the stop, as read from the pipe.
    let caught = read_at(&s, index_of(&s, "graceful exiting of service drain(0)"));
    let future = read_at(&s, index_of(&s, "drain stop future fired id=0"));
    let token = read_at(&s, index_of(&s, "drain token fired id=0"));
    eprintln!(
        "async stop latency after \"Caught SIGTERM\": future {:?}, token {:?}",
        future.saturating_duration_since(caught),
        token.saturating_duration_since(caught)
    );

    // Respawned with its id; the master's SIGTERM drains it again.
    s.wait_for_run("drain", 0, SOON);
    s.wait_for_line("drain ready id=0", SOON);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn sigterm_to_the_master_drains_every_async_worker_and_exits_zero() {
    let (mut s, pids) = drain_app(2, &[]);
    s.end_with(Signal::SIGTERM, 0);
    for (i, pid) in pids.iter().enumerate() {
        let returns = index_of(&s, &format!("drain run returns id={i}"));
        let exited = index_of(&s, &format!("Child {pid} exited with status 0"));
        assert!(returns < exited, "{:#?}", s.lines());
    }
    assert!(
        s.lines()
            .last()
            .is_some_and(|l| l.ends_with("Shutdown finish"))
    );
}

#[test]
fn the_graceful_timeout_ends_an_async_run_that_ignores_the_stop() {
    let mut s = start("async_stuck_app");
    let pid = s.wait_for_run("stuck_async", 0, SOON);
    s.wait_for_line("stuck_async run", SOON);
    s.kill(pid, Signal::SIGTERM);
    s.wait_for_line(
        &format!("Graceful shutdown timeout (1) exceeded, exiting stuck_async(0) [{pid}] now."),
        SOON,
    );
    s.wait_for_line(&format!("Child {pid} exited with status 1"), SOON);
    // terminate() comes only after run() returns, which it never did.
    assert!(
        !s.lines()
            .iter()
            .any(|l| l.contains("stuck_async terminate"))
    );
    s.wait_for_run("stuck_async", 0, SOON);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn the_runtime_lives_in_the_workers_never_in_the_master() {
    let (mut s, pids) = drain_app(2, &[("SCENARIO_RUNTIME", "multi")]);
    // A new thread carries its creator's name until it has run far enough to set
    // its own: wait (with a deadline) for the runtime's two named threads.
    for pid in &pids {
        let deadline = Instant::now() + SOON;
        loop {
            let names = thread_names(*pid);
            if names.iter().filter(|n| *n == "async-rt").count() >= 2 {
                break;
            }
            if Instant::now() >= deadline {
                s.fail(&format!("worker {pid} runs no runtime: {names:?}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    let master = thread_names(s.pid());
    assert_eq!(
        master.len(),
        1,
        "the master stays single-threaded: {master:?}"
    );
    s.end_with(Signal::SIGTERM, 0);
    assert!(
        !s.lines().iter().any(
            |l| l.contains("The master process runs inside a tokio runtime")
                || l.contains("The master process has")
        ),
        "{:#?}",
        s.lines()
    );
    for i in 0..2 {
        index_of(&s, &format!("drain run returns id={i}"));
    }
}

#[test]
fn a_master_inside_a_tokio_runtime_logs_an_error_at_its_first_fork() {
    let mut s = start("async_master_runtime_app");
    s.wait_for_line(
        "ERROR:cotyledon::manager:The master process runs inside a tokio runtime \
         (CurrentThread) when it first forks: a runtime does not survive fork().",
        SOON,
    );
    let pid = s.wait_for_run("idle_async", 0, SOON);
    // Once, at the first fork: a respawn does not repeat it.
    s.kill(pid, Signal::SIGTERM);
    s.wait_for_line(&format!("Child {pid} exited with status 0"), SOON);
    s.wait_for_run("idle_async", 0, SOON);
    s.end_with(Signal::SIGTERM, 0);
    let errors = s
        .lines()
        .iter()
        .filter(|l| l.contains("runs inside a tokio runtime"))
        .count();
    assert_eq!(errors, 1, "{:#?}", s.lines());
}

#[test]
fn a_sighup_rolls_async_workers_through_their_drain_one_at_a_time() {
    let (mut s, old) = drain_app(2, &[]);
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of drain: 2 workers, 1 at a time", SOON);
    s.wait_for_line("Rolling reload of drain done", SOON);
    // The default async reload is a graceful restart: each old worker drained
    // and exited 0, and its replacement said it is ready (ctx.ready() from async
    // code gates the next step) before the next old worker was asked. The line
    // written before ctx.ready() is the one ordered before the master's answer
    // (the one after it may come later than the next worker's lines).
    let readies = s
        .lines()
        .iter()
        .filter(|l| l.contains("drain telling ready id=0"));
    assert_eq!(readies.count(), 2, "the old worker 0 and its replacement");
    let ready_1 = s
        .lines()
        .iter()
        .rposition(|l| l.contains("drain telling ready id=0"));
    let caught_1 = index_of(
        &s,
        &format!("graceful exiting of service drain(1) [{}]", old[1]),
    );
    assert!(ready_1.is_some_and(|r| r < caught_1), "{:#?}", s.lines());
    for (i, pid) in old.iter().enumerate() {
        let returns = index_of(&s, &format!("drain run returns id={i}"));
        let exited = index_of(&s, &format!("Child {pid} exited with status 0"));
        assert!(returns < exited, "{:#?}", s.lines());
    }
    s.end_with(Signal::SIGTERM, 0);
}
