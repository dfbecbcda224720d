//! A worker always exits when it must, whatever its own code did: a stdout pipe
//! that is full, an `exec`, every fd closed (and the numbers reused), a plain
//! `fork()` of its own. And a dropped manager gives back the dispositions it found.

use std::time::{Duration, Instant};

use assert_cmd::assert::OutputAssertExt;
use cotyledon_testing::{Scenario, Signal, comm, is_alive, state};

use crate::{SOON, start};

/// Waits until `pid` is gone (or a zombie nobody will reap any more).
#[track_caller]
fn wait_gone(s: &Scenario, pid: i32, what: &str) {
    let deadline = Instant::now() + SOON;
    while is_alive(pid) && state(pid) != Some('Z') {
        if Instant::now() >= deadline {
            s.fail(&format!("{what}: pid {pid} still alive"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// mute_app with its worker's stdout full: the worker's log calls block.
fn muted() -> (Scenario, i32) {
    let mut s = start("mute_app");
    let pid = s.wait_for_run("mute", 0, SOON);
    s.wait_for_line("mute stdout goes to a full pipe now", SOON);
    // Until its run thread blocks writing to the full pipe (holding the stdout
    // lock), the worker's other log lines still go through.
    let deadline = Instant::now() + SOON;
    while !blocked_in_pipe_write(pid) {
        assert!(Instant::now() < deadline, "mute never blocked on its pipe");
        std::thread::sleep(Duration::from_millis(5));
    }
    (s, pid)
}

/// Whether a thread of `pid` sleeps in the kernel's pipe write (`wchan`).
fn blocked_in_pipe_write(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|t| {
        std::fs::read_to_string(t.path().join("wchan")).is_ok_and(|w| w.contains("pipe_write"))
    })
}

#[test]
fn sigint_ends_a_worker_whose_stdout_is_full() {
    let (mut s, pid) = muted();
    s.kill(pid, Signal::SIGINT);
    s.wait_for_line(&format!("Child {pid} exited with status 1"), SOON);
    s.wait_for_run("mute", 0, SOON);
    s.end_with(Signal::SIGINT, 1);
}

#[test]
fn the_graceful_timeout_ends_a_worker_whose_stdout_is_full() {
    let (mut s, pid) = muted();
    // Its main thread blocks logging "Caught SIGTERM": the kill switch, armed by
    // the handler at the 1 s timeout plus 1 s, ends it with status 1.
    s.kill(pid, Signal::SIGTERM);
    s.wait_for_line(&format!("Child {pid} exited with status 1"), SOON);
    s.wait_for_run("mute", 0, SOON);
    s.end_with(Signal::SIGINT, 1);
}

#[test]
fn a_worker_whose_stdout_is_full_does_not_outlive_a_killed_master() {
    let (mut s, pid) = muted();
    s.signal(Signal::SIGKILL);
    s.wait_exit(SOON).assert().interrupted();
    wait_gone(&s, pid, "worker after the master's SIGKILL");
    s.assert_no_process_left(SOON);
}

#[test]
fn a_worker_that_execs_dies_with_a_killed_master() {
    let mut s = start("exec_app");
    let pid = s.wait_for_run("execer", 0, SOON);
    s.wait_for_line("execer execs sleep", SOON);
    let deadline = Instant::now() + SOON;
    while comm(pid).as_deref() != Some("sleep") {
        assert!(Instant::now() < deadline, "worker {pid} never became sleep");
        std::thread::sleep(Duration::from_millis(5));
    }
    s.signal(Signal::SIGKILL);
    s.wait_exit(SOON).assert().interrupted();
    wait_gone(&s, pid, "exec'd worker after the master's SIGKILL");
    s.assert_no_process_left(SOON);
}

/// Clock ticks of CPU (user + system) used by `pid` so far.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime), counted from field 3 after the ')'.
    let get = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    get(14).unwrap_or(0) + get(15).unwrap_or(0)
}

/// Resident set of `pid` in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_worker_that_closes_every_fd_still_serves_signals_and_parent_death() {
    let mut s = start("closer_app");
    let pid = s.wait_for_run("closer", 0, SOON);
    s.wait_for_line("opened /dev/zero 8 times", SOON);
    let (ticks, rss, since) = (cpu_ticks(pid), rss_kib(pid), Instant::now());
    // Signals still reach it: three SIGHUP round trips, then a quiet moment. A
    // SIGHUP that lands while reload() still runs is skipped by design, so each
    // one is sent again until its reload shows.
    for _ in 0..3 {
        let deadline = Instant::now() + SOON;
        while s
            .wait_for(|l| l.ends_with("closer reload"), Duration::from_millis(200))
            .is_err()
        {
            assert!(Instant::now() < deadline, "no reload: {:#?}", s.lines());
            s.kill(pid, Signal::SIGHUP);
        }
    }
    s.drain(Duration::from_millis(300));
    let (used, grown, elapsed) = (
        cpu_ticks(pid) - ticks,
        rss_kib(pid).saturating_sub(rss),
        since.elapsed(),
    );
    // A worker spinning on a closed fd burns every tick (100 a second); one
    // reading /dev/zero grows by hundreds of MiB a second.
    assert!(used <= 10, "{used} ticks of CPU in {elapsed:?}");
    assert!(grown < 16 * 1024, "RSS grew by {grown} KiB in {elapsed:?}");
    s.kill(pid, Signal::SIGTERM);
    s.wait_for_line(
        "Caught SIGTERM signal, graceful exiting of service closer(0)",
        SOON,
    );
    s.wait_for_line("closer terminate", SOON);
    s.wait_for_line(&format!("Child {pid} exited with status 0"), SOON);
    // Its replacement closes its fds too; the master's death reaches it anyway.
    let pid = s.wait_for_run("closer", 0, SOON);
    s.wait_for_line("opened /dev/zero 8 times", SOON);
    s.signal(Signal::SIGKILL);
    s.wait_exit(SOON).assert().interrupted();
    s.wait_for_line("Parent process has died unexpectedly, closer(0)", SOON);
    wait_gone(&s, pid, "closer after the master's SIGKILL");
    s.assert_no_process_left(SOON);
}

#[test]
fn signals_to_a_workers_own_plain_fork_do_not_reach_the_worker() {
    let mut s = start("forker_app");
    let worker = s.wait_for_run("forker", 0, SOON);
    let line = s.wait_for_line("forker grandchild ", SOON);
    let grandchild: i32 = line
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("grandchild pid");
    s.kill(grandchild, Signal::SIGHUP);
    s.kill(grandchild, Signal::SIGTERM);
    wait_gone(&s, grandchild, "grandchild after SIGTERM");
    // The worker still runs and serves its own signals in order: its reload comes
    // after anything the grandchild's signals could have caused.
    s.kill(worker, Signal::SIGHUP);
    s.wait_for_line("forker reload", SOON);
    assert!(is_alive(worker));
    let leaked = s
        .lines()
        .iter()
        .filter(|l| l.contains("Caught SIGTERM") || l.contains("light reload"))
        .count();
    assert_eq!(leaked, 0, "{:#?}", s.lines());
    assert_eq!(
        s.lines()
            .iter()
            .filter(|l| l.contains("forker reload"))
            .count(),
        1
    );
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_dropped_manager_restores_the_dispositions_it_found() {
    // nohup starts it with SIGHUP ignored; had the manager left SIG_DFL behind,
    // the SIGHUP it raises after the drop would kill it before its last line.
    let mut s = Scenario::builder(crate::bin(), "dispositions")
        .wrapped_in(&["nohup"])
        .spawn();
    s.wait_for_line("SIGHUP ignored after the manager was dropped", SOON);
    s.expect_exit(0);
}
