//! Supervision around reloads (issue 15): a reload leaves the watchdog and
//! recycling working, every rollout step is bounded by the boot timeout, and
//! the watchdog judges workers, not the master's own stalls.

use std::time::Duration;

use cotyledon_testing::{Signal, is_alive};

use crate::SOON;
use crate::overlap::{notify_socket, recv_until, serving, temp_dir};

/// Issue 15 item 3: after an in-place rolling reload, a worker that stops
/// beating is still aborted and respawned. Before, a reload step left the
/// worker marked for good, and the watchdog never judged it again.
#[test]
fn after_an_in_place_reload_a_hung_worker_is_still_aborted_and_respawned() {
    let dir = temp_dir("after-reload-hang");
    let hang = dir.join("hang");
    let hang_env = hang.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(
        &[
            ("SCENARIO_IN_PLACE", "1"),
            ("SCENARIO_HANG_FILE", &hang_env),
            ("SCENARIO_HEARTBEAT_MS", "1000"),
        ],
        2,
    );
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web done", SOON);
    std::fs::write(&hang, b"").expect("hang file");
    for (i, pid) in old.iter().enumerate() {
        s.wait_for_line(&format!("web hangs id={i}"), SOON);
        s.wait_for_line(
            &format!("Worker web({i}) [{pid}] sent no heartbeat for"),
            SOON,
        );
        s.wait_for_line(&format!("Child {pid} killed by signal SIGABRT"), SOON);
    }
    std::fs::remove_file(&hang).expect("remove the hang file");
    for i in 0..2 {
        s.wait_for_run("web", i, SOON);
    }
    s.end_with(Signal::SIGTERM, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15 item 3: after an in-place rolling reload, recycling by lifetime
/// goes on for the very workers that reloaded. Before, it stopped for good.
#[test]
fn after_an_in_place_reload_recycling_by_lifetime_goes_on() {
    let (mut s, old) = serving(
        &[
            ("SCENARIO_IN_PLACE", "1"),
            ("SCENARIO_MAX_LIFETIME_MS", "2000"),
        ],
        2,
    );
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web done", SOON);
    let done = s.lines().len();
    for (i, pid) in old.iter().enumerate() {
        let line = s.wait_for_line(&format!("Recycling worker web({i}) [{pid}]"), SOON);
        let lines = s.lines();
        let at = lines.iter().rposition(|l| *l == line).expect("seen");
        assert!(
            at >= done,
            "recycled before the reload was done: {lines:#?}"
        );
    }
    s.end_with(Signal::SIGTERM, 0);
}

/// An in-place reload() that never returns, boot timeout 500 ms, `env` more:
/// the step ends at the boot timeout with an ERROR, the rollout stops, that
/// worker is restarted, the others keep serving (the same processes), and a
/// later SIGHUP starts a fresh rollout.
fn stuck_reload(env: &[(&str, &str)]) {
    let mut all = vec![
        ("SCENARIO_IN_PLACE", "1"),
        ("SCENARIO_RELOAD_MS", "3600000"),
        ("SCENARIO_BOOT_TIMEOUT_MS", "500"),
    ];
    all.extend_from_slice(env);
    let (mut s, old) = serving(&all, 3);
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web: 3 workers, 1 at a time", SOON);
    s.wait_for_line("web reload id=0", SOON);
    s.wait_for_line(
        "ERROR:cotyledon::manager:Rolling reload of web stopped: worker web(0) reload() did \
         not return within 500ms",
        SOON,
    );
    s.wait_for_line(
        &format!(
            "Caught SIGTERM signal, graceful exiting of service web(0) [{}]",
            old[0]
        ),
        SOON,
    );
    s.wait_for_line(&format!("Child {} exited with status", old[0]), SOON);
    let new0 = s.wait_for_run("web", 0, SOON);
    s.wait_for_line("web ready id=0", SOON);
    assert_ne!(new0, old[0]);
    // The others were never touched.
    assert!(is_alive(old[1]) && is_alive(old[2]));
    assert!(!s.lines().iter().any(|l| l.contains("web reload id=1")
        || l.contains("web reload id=2")
        || l.contains("graceful exiting of service web(1)")
        || l.contains("graceful exiting of service web(2)")));
    // A later SIGHUP starts a fresh rollout.
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web: 3 workers, 1 at a time", SOON);
    s.end_with(Signal::SIGTERM, 0);
}

/// Issue 15 item 4: an in-place reload() that never returns ends its step at
/// the boot timeout (see [`stuck_reload`]), in a master that has another
/// timer (a heartbeat timeout) to wake it. Before, the rollout waited for ever.
#[test]
fn a_reload_that_never_returns_stops_the_rollout_at_the_boot_timeout() {
    stuck_reload(&[("SCENARIO_HEARTBEAT_MS", "5000")]);
}

/// As [`a_reload_that_never_returns_stops_the_rollout_at_the_boot_timeout`],
/// in a master with no other timer: the step's bound must wake it by itself.
#[test]
fn a_reload_that_never_returns_stops_the_rollout_even_with_no_other_timer() {
    stuck_reload(&[]);
}

/// Issue 15 item 4: a replacement whose factory fails every time ends the
/// step at the boot timeout: ERROR, the rollout stops, the other workers keep
/// serving, and recycling of the others goes on. Before, the rollout waited
/// for ever and no worker of the service was recycled meanwhile.
#[test]
fn a_replacement_whose_factory_always_fails_stops_the_rollout_and_recycling_goes_on() {
    let dir = temp_dir("after-reload-factory");
    let fail = dir.join("fail");
    let fail_env = fail.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(
        &[
            ("SCENARIO_FACTORY_FAIL_FILE", &fail_env),
            ("SCENARIO_BOOT_TIMEOUT_MS", "500"),
            ("SCENARIO_MAX_LIFETIME_MS", "4000"),
        ],
        3,
    );
    std::fs::write(&fail, b"").expect("fail file");
    s.signal(Signal::SIGHUP);
    s.wait_for_line(&format!("Child {} exited with status 0", old[0]), SOON);
    s.wait_for_line("web factory fails id=0", SOON);
    let stopped = s.wait_for_line(
        "ERROR:cotyledon::manager:Rolling reload of web stopped: worker web(0) not ready after \
         500ms",
        SOON,
    );
    std::fs::remove_file(&fail).expect("remove the fail file");
    // Up to the stop, the others were never touched.
    let lines = s.lines().to_vec();
    let at = lines.iter().position(|l| *l == stopped).expect("seen");
    assert!(
        !lines[..at]
            .iter()
            .any(|l| l.contains("graceful exiting of service web(1)")
                || l.contains("graceful exiting of service web(2)")),
        "{lines:#?}"
    );
    // Recycling of the others goes on (their lifetime comes after the stop).
    for (i, pid) in old.iter().enumerate().skip(1) {
        s.wait_for_line(&format!("Recycling worker web({i}) [{pid}]"), SOON);
    }
    s.end_with(Signal::SIGTERM, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15 item 6: the whole process group stopped for 4 s (SIGSTOP), then
/// continued: the master says it did not run, gives the workers a fresh
/// period, and aborts none of them (they beat every 150 ms, timeout 2 s); a
/// worker that really hangs afterwards is still aborted. Before, all three
/// healthy workers got SIGABRT right after SIGCONT.
#[test]
fn a_master_stopped_with_its_workers_aborts_none_of_them_after() {
    let _serial = crate::heavy();
    let dir = temp_dir("after-reload-stop");
    let hang = dir.join("hang");
    let hang_env = hang.to_str().expect("utf-8").to_owned();
    let (sock, path) = notify_socket(&dir);
    let path_env = path.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(
        &[
            ("SCENARIO_BEAT_MS", "150"),
            ("SCENARIO_HEARTBEAT_MS", "2000"),
            ("SCENARIO_HANG_FILE", &hang_env),
            ("NOTIFY_SOCKET", &path_env),
        ],
        3,
    );
    // READY=1: the master itself has seen every worker ready (and so judges
    // their heartbeats: it has a deadline to be late for).
    recv_until(&sock, &mut Vec::new(), 0, "READY=1");
    s.signal_group(Signal::SIGSTOP);
    // The stall under test: the whole group does not run for 4 s.
    std::thread::sleep(Duration::from_secs(4));
    s.signal_group(Signal::SIGCONT);
    // A fresh period is 2 s: 3 s with no line past it, no worker was judged.
    s.drain(Duration::from_secs(3));
    let lines = s.lines().to_vec();
    assert!(
        !lines.iter().any(|l| l.contains("sent no heartbeat")),
        "{lines:#?}"
    );
    assert!(old.iter().all(|&p| is_alive(p)));
    s.wait_for_line("The master did not run for", SOON);
    // A worker that really hangs is still aborted.
    std::fs::write(&hang, b"").expect("hang file");
    s.wait_for_line(
        &format!("Worker web(0) [{}] sent no heartbeat for", old[0]),
        SOON,
    );
    std::fs::remove_file(&hang).expect("remove the hang file");
    s.end_with(Signal::SIGTERM, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
