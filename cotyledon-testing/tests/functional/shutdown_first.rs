//! A shutdown outranks what is pending (issue 15): a SIGTERM behind a flood of
//! SIGHUPs is served first, and every way out of the master tells systemd
//! `STOPPING=1`.

use std::time::{Duration, Instant};

use cotyledon_testing::{Scenario, Signal};

use crate::overlap::{notify_socket, recv_until, temp_dir};
use crate::{SOON, bin, heavy};

/// Whether `signal` is pending for process `pid` as a whole (`ShdPnd`).
fn pending(pid: i32, signal: Signal) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("ShdPnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal as i32 - 1)) != 0)
}

/// Issue 15 item 9: a reload hook blocks; 100,000 SIGHUPs, then one SIGTERM
/// arrive while it does (master timeout 2 s). When the hook returns, the
/// SIGTERM is served first: the reload hook never runs again (it would block
/// again, past the timeout) and the master exits 0, gracefully. Before, the
/// pending SIGHUP was served first and the timeout ended the master with 1.
#[test]
fn a_sigterm_behind_a_flood_of_sighups_is_served_first_and_exits_zero() {
    let _serial = heavy();
    let dir = temp_dir("shutdown-first-flood");
    let release = dir.join("release");
    let mut s = Scenario::builder(bin(), "blocking_hook_app")
        .env("SCENARIO_BLOCK", "reload")
        .env("SCENARIO_GRACEFUL_MS", "2000")
        .env("SCENARIO_RELEASE_FILE", &release)
        .env("SCENARIO_RELEASE_ONCE", "1")
        .spawn();
    s.wait_for_run("light", 0, SOON);
    s.wait_for_run("light", 1, SOON);
    s.signal(Signal::SIGHUP);
    s.wait_for_line("reload hook blocks", SOON);
    for _ in 0..100_000 {
        s.signal(Signal::SIGHUP);
    }
    s.signal(Signal::SIGTERM);
    // Release the hook only once the SIGTERM was delivered (its handler ran).
    let deadline = Instant::now() + SOON;
    while pending(s.pid(), Signal::SIGTERM) || pending(s.pid(), Signal::SIGHUP) {
        assert!(Instant::now() < deadline, "signals never delivered");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::fs::write(&release, b"go").expect("release file");
    s.wait_for_line("reload hook released", SOON);
    s.wait_for_line("Shutdown finish", SOON);
    s.expect_exit(0);
    let count = |needle: &str| s.lines().iter().filter(|l| l.ends_with(needle)).count();
    assert_eq!(count("reload hook blocks"), 1, "{:#?}", s.lines());
    assert_eq!(
        count("Caught SIGHUP signal, reloading services"),
        1,
        "{:#?}",
        s.lines()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every datagram left on `sock` (non-blocking), after the master exited.
fn rest(sock: &std::os::unix::net::UnixDatagram, notes: &mut Vec<String>) {
    sock.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0u8; 512];
    while let Ok(n) = sock.recv(&mut buf) {
        notes.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

/// Issue 15 item 11: SIGINT tells systemd `STOPPING=1` (once) before the
/// instantaneous exit. Before, only SIGTERM did.
#[test]
fn sigint_tells_systemd_stopping() {
    let dir = temp_dir("shutdown-first-sigint");
    let (sock, path) = notify_socket(&dir);
    let mut s = Scenario::builder(bin(), "notify_app")
        .env("NOTIFY_SOCKET", &path)
        .spawn();
    let mut notes = Vec::new();
    recv_until(&sock, &mut notes, 0, "READY=1");
    s.end_with(Signal::SIGINT, 1);
    rest(&sock, &mut notes);
    let stopping = notes.iter().filter(|m| *m == "STOPPING=1").count();
    assert_eq!(stopping, 1, "{notes:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15 item 11: the graceful timeout's instantaneous exit (workers whose
/// terminate() hangs) has told systemd `STOPPING=1`, once.
#[test]
fn the_graceful_timeout_exit_tells_systemd_stopping_once() {
    let dir = temp_dir("shutdown-first-timeout");
    let (sock, path) = notify_socket(&dir);
    let mut s = Scenario::builder(bin(), "master_timeout_app")
        .env("NOTIFY_SOCKET", &path)
        .spawn();
    let mut notes = Vec::new();
    recv_until(&sock, &mut notes, 0, "READY=1");
    s.signal(Signal::SIGTERM);
    s.wait_for_line(
        "Graceful shutdown timeout exceeded, instantaneous exiting of master process",
        SOON,
    );
    s.expect_exit(1);
    rest(&sock, &mut notes);
    let stopping = notes.iter().filter(|m| *m == "STOPPING=1").count();
    assert_eq!(stopping, 1, "{notes:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `blocking_hook_app` whose `kind` hook blocks, with a notify socket: puts
/// the master in the hook (READY=1 received first); returns the scenario, the
/// socket and the notes read.
fn in_blocked_hook(
    kind: &str,
    dir: &std::path::Path,
) -> (Scenario, std::os::unix::net::UnixDatagram, Vec<String>) {
    let (sock, path) = notify_socket(dir);
    let mut s = Scenario::builder(bin(), "blocking_hook_app")
        .env("SCENARIO_BLOCK", kind)
        .env("SCENARIO_GRACEFUL_MS", "1000")
        .env("NOTIFY_SOCKET", &path)
        .spawn();
    let mut notes = Vec::new();
    recv_until(&sock, &mut notes, 0, "READY=1");
    s.signal(Signal::SIGHUP);
    s.wait_for_line(&format!("{kind} hook blocks"), SOON);
    (s, sock, notes)
}

/// Issue 15 item 11, the emergency paths: SIGINT while a master hook blocks
/// exits at once (the signal handler does it, the loop being stuck), and
/// systemd must hear `STOPPING=1` there too.
#[test]
fn sigint_while_a_hook_blocks_tells_systemd_stopping() {
    let _serial = heavy();
    let dir = temp_dir("shutdown-first-sigint-hook");
    let (mut s, sock, mut notes) = in_blocked_hook("reload", &dir);
    s.end_with(Signal::SIGINT, 1);
    rest(&sock, &mut notes);
    assert!(notes.iter().any(|m| m == "STOPPING=1"), "{notes:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15 item 11, the emergency paths: a SIGTERM while a reload hook blocks
/// arms the graceful timeout, whose instantaneous exit (by the signal handler)
/// must tell systemd `STOPPING=1`.
#[test]
fn the_graceful_timeout_while_a_hook_blocks_tells_systemd_stopping() {
    let _serial = heavy();
    let dir = temp_dir("shutdown-first-timeout-hook");
    let (mut s, sock, mut notes) = in_blocked_hook("reload", &dir);
    s.signal(Signal::SIGTERM);
    s.wait_for_line(
        "Graceful shutdown timeout exceeded, instantaneous exiting of master process",
        SOON,
    );
    s.expect_exit(1);
    rest(&sock, &mut notes);
    assert!(notes.iter().any(|m| m == "STOPPING=1"), "{notes:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
