//! Readiness, boot timeouts, one-worker control from hooks and rolling reloads
//! (`serving_app`: web × 3, ready only when it says so).

use std::path::PathBuf;

use cotyledon_testing::{Scenario, Signal, is_alive};

use crate::{SOON, assert_in_order, bin};

/// A path in a fresh temp directory of this test.
fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cotyledon-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("file")
}

/// Starts serving_app with `env` and waits for its `n` workers to be ready;
/// returns their pids by id.
pub(crate) fn serving(env: &[(&str, &str)], n: usize) -> (Scenario, Vec<i32>) {
    let mut b = Scenario::builder(bin(), "serving_app").env("SCENARIO_WORKERS", n.to_string());
    for (k, v) in env {
        b = b.env(k, v);
    }
    let mut s = b.spawn();
    let pids = (0..n).map(|i| s.wait_for_run("web", i, SOON)).collect();
    for i in 0..n {
        s.wait_for_line(&format!("web ready id={i}"), SOON);
    }
    (s, pids)
}

#[test]
fn a_rolling_reload_replaces_one_worker_at_a_time_each_once_the_previous_is_ready() {
    let (mut s, old) = serving(&[], 3);
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web: 3 workers, 1 at a time", SOON);
    s.wait_for_line("Rolling reload of web done", SOON);
    let mut expected = Vec::new();
    for (i, pid) in old.iter().enumerate() {
        expected.push(format!(
            "Caught SIGTERM signal, graceful exiting of service web({i}) [{pid}]"
        ));
        expected.push(format!("Child {pid} exited with status 0"));
        expected.push(format!("web ready id={i}"));
    }
    // Each step only starts once the previous replacement said it is ready: the
    // worker logs "ready" before it tells the master, which only then signals
    // the next worker, so these lines of different processes are ordered.
    let lines = s.lines().to_vec();
    let seen: Vec<&str> = lines
        .iter()
        .filter_map(|l| expected.iter().find(|e| l.ends_with(e.as_str())))
        .map(String::as_str)
        .skip_while(|e| !e.starts_with("Caught SIGTERM"))
        .collect();
    let want: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(seen, want, "{lines:#?}");
    for pid in old {
        assert!(!is_alive(pid) || cotyledon_testing::state(pid) == Some('Z'));
    }
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_rolling_in_place_reload_waits_for_each_reload_to_return() {
    let (mut s, old) = serving(&[("SCENARIO_IN_PLACE", "1"), ("SCENARIO_BATCH", "2")], 3);
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web: 3 workers, 2 at a time", SOON);
    for i in 0..3 {
        s.wait_for_line(&format!("web reload id={i}"), SOON);
    }
    s.wait_for_line("Rolling reload of web done", SOON);
    // Reloaded in place: the same processes, none exited.
    assert!(old.iter().all(|&p| is_alive(p)));
    assert!(!s.lines().iter().any(|l| l.contains(" exited with status")));
    // Worker 2 was only signalled once worker 0 or 1 was done.
    let lines = s.lines().to_vec();
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.ends_with(needle))
            .expect(needle)
    };
    assert!(pos("web reload id=2") > pos("web reload id=0").min(pos("web reload id=1")));
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_replacement_that_is_never_ready_stops_the_rollout_and_the_others_keep_serving() {
    let stall = temp("stall");
    let stall_env = stall.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(
        &[
            ("SCENARIO_STALL_FILE", &stall_env),
            ("SCENARIO_BOOT_TIMEOUT_MS", "1000"),
        ],
        3,
    );
    std::fs::write(&stall, b"").expect("stall file");
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Worker web(0) not ready after 1s, killing it", SOON);
    s.wait_for_line(
        "Rolling reload of web stopped: worker web(0) not ready after 1s",
        SOON,
    );
    // Counted as an early death: the crash back-off applies to id 0.
    s.wait_for_line("Worker web(0) keeps dying right after start", SOON);
    // Ids 1 and 2 were never touched.
    assert!(is_alive(old[1]) && is_alive(old[2]));
    assert!(
        !s.lines()
            .iter()
            .any(|l| l.contains("graceful exiting of service web(1)")
                || l.contains("graceful exiting of service web(2)"))
    );
    s.end_with(Signal::SIGTERM, 0);
}

/// Writes `command` to the control file and has the reload hook run it.
fn control(s: &mut Scenario, file: &PathBuf, command: &str) {
    std::fs::write(file, command).expect("control file");
    s.signal(Signal::SIGHUP);
}

#[test]
fn hooks_restart_stop_start_and_list_single_workers() {
    let file = temp("control");
    let env = file.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(
        &[
            ("SCENARIO_CONTROL_FILE", &env),
            ("SCENARIO_RELOAD", "all"),
            ("SCENARIO_IN_PLACE", "1"),
        ],
        3,
    );
    control(&mut s, &file, "restart 1");
    s.wait_for_line(&format!("Child {} exited with status 0", old[1]), SOON);
    let new1 = s.wait_for_run("web", 1, SOON);
    s.wait_for_line("web ready id=1", SOON);
    control(&mut s, &file, "stop 2");
    s.wait_for_line(&format!("Child {} exited with status 0", old[2]), SOON);
    control(&mut s, &file, "list");
    s.wait_for_line("running workers 0:true 1:true", SOON);
    control(&mut s, &file, "start 2");
    s.wait_for_run("web", 2, SOON);
    s.wait_for_line("web ready id=2", SOON);
    control(&mut s, &file, "list");
    s.wait_for_line("running workers 0:true 1:true 2:true", SOON);
    control(&mut s, &file, "restart 7");
    s.wait_for_line("Exception raised during reload hooks: service", SOON);
    assert!(is_alive(old[0]) && is_alive(new1));
    assert!(!s.lines().iter().any(|l| l.contains("keeps dying")));
    control(&mut s, &file, "rolling");
    s.wait_for_line("Rolling restart of web: 3 workers, 1 at a time", SOON);
    s.wait_for_line("Rolling restart of web done", SOON);
    assert!(!is_alive(old[0]) || cotyledon_testing::state(old[0]) == Some('Z'));
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_worker_can_ask_for_its_own_graceful_restart() {
    let file = temp("self-restart");
    let env = file.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(&[("SCENARIO_SELF_RESTART_FILE", &env)], 1);
    std::fs::write(&file, b"").expect("restart file");
    s.wait_for_line("web restarts itself id=0", SOON);
    s.wait_for_line(&format!("Child {} exited with status 0", old[0]), SOON);
    s.wait_for_run("web", 0, SOON);
    s.wait_for_line("web ready id=0", SOON);
    assert_in_order(
        &s.masked_lines(),
        &[
            "ERROR:scenarios::serving:web restarts itself id=0",
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service web(0) [XXXX]",
        ],
    );
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_worker_that_stops_beating_is_aborted_then_respawned() {
    let hang = temp("hang");
    let env = hang.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(
        &[
            ("SCENARIO_HANG_FILE", &env),
            ("SCENARIO_HEARTBEAT_MS", "300"),
        ],
        2,
    );
    // Beating workers are left alone: a quiet window of more than twice the
    // timeout passes with no abort.
    s.drain(std::time::Duration::from_millis(700));
    assert!(!s.lines().iter().any(|l| l.contains("sent no heartbeat")));
    std::fs::write(&hang, b"").expect("hang file");
    for i in 0..2 {
        s.wait_for_line(&format!("web hangs id={i}"), SOON);
    }
    for (i, pid) in old.iter().enumerate() {
        s.wait_for_line(
            &format!("Worker web({i}) [{pid}] sent no heartbeat for"),
            SOON,
        );
        s.wait_for_line(&format!("Child {pid} killed by signal SIGABRT"), SOON);
    }
    // Respawned (and hung again at once: the file is still there).
    s.wait_for_run("web", 0, SOON);
    s.wait_for_run("web", 1, SOON);
    std::fs::remove_file(&hang).expect("remove the hang file");
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn workers_are_recycled_one_at_a_time_past_their_staggered_lifetime() {
    let (mut s, old) = serving(&[("SCENARIO_MAX_LIFETIME_MS", "800")], 2);
    // Each id on a grid of its own: id 0 at about 0.8 s, id 1 at about 1 s.
    for (i, pid) in old.iter().enumerate() {
        s.wait_for_line(
            &format!("Recycling worker web({i}) [{pid}]: lifetime reached ("),
            SOON,
        );
    }
    // Through the rolling path: web(1) is recycled only once web(0)'s
    // replacement said it is ready (it logs that before telling the master).
    let lines = s.lines().to_vec();
    let pos = |needle: &str| lines.iter().position(|l| l.contains(needle)).expect(needle);
    let ready_again = lines
        .iter()
        .enumerate()
        .skip(pos("Recycling worker web(0)"))
        .find(|(_, l)| l.ends_with("web ready id=0"))
        .map(|(i, _)| i)
        .expect("web(0) ready again");
    assert!(ready_again < pos("Recycling worker web(1)"), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("keeps dying")));
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_worker_can_ask_to_be_recycled() {
    let file = temp("recycle");
    let env = file.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(&[("SCENARIO_RECYCLE_FILE", &env)], 1);
    std::fs::write(&file, b"").expect("recycle file");
    s.wait_for_line("web asks to be recycled id=0", SOON);
    s.wait_for_line(
        &format!("Recycling worker web(0) [{}]: asked by the worker", old[0]),
        SOON,
    );
    s.wait_for_line(&format!("Child {} exited with status 0", old[0]), SOON);
    s.wait_for_run("web", 0, SOON);
    s.end_with(Signal::SIGTERM, 0);
}

/// Issue 15 item 5: a worker above `max_rss` is recycled whatever its history,
/// even when the limit is below what a new worker takes (it was silently
/// turned off before): one WARN says so, and recycling goes on, one at a time.
#[test]
fn a_worker_above_max_rss_is_recycled_even_right_after_it_is_ready() {
    // 1 MiB: below any worker's resident size.
    let (mut s, old) = serving(&[("SCENARIO_MAX_RSS", "1048576")], 2);
    s.wait_for_line(
        "max RSS of web (1048576 bytes) is below what a new worker uses",
        SOON,
    );
    s.wait_for_line(&format!("Recycling worker web(0) [{}]: RSS", old[0]), SOON);
    s.wait_for_line(&format!("Child {} exited with status 0", old[0]), SOON);
    let new0 = s.wait_for_run("web", 0, SOON);
    // Its replacement is recycled in turn: nothing is turned off.
    s.wait_for_line(&format!("Recycling worker web(0) [{new0}]: RSS"), SOON);
    assert!(!s.lines().iter().any(|l| l.contains("turned off")));
    s.end_with(Signal::SIGTERM, 0);
}
