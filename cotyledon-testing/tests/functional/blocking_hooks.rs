//! A master hook that never returns cannot hang the master: SIGINT still exits at
//! once, the graceful-shutdown timeout still ends a shutdown, and a signal that
//! comes while a hook runs is served when it returns, whatever the self-pipe holds.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cotyledon_testing::{Scenario, Signal};

use crate::{SOON, assert_in_order, bin, heavy, target_lines};

/// `blocking_hook_app` with `SCENARIO_BLOCK=kind`, its two workers running.
fn blocking(kind: &str, graceful_ms: u64, release: Option<&PathBuf>) -> (Scenario, [i32; 2]) {
    let mut b = Scenario::builder(bin(), "blocking_hook_app")
        .env("SCENARIO_BLOCK", kind)
        .env("SCENARIO_GRACEFUL_MS", graceful_ms.to_string());
    if let Some(path) = release {
        b = b.env(
            "SCENARIO_RELEASE_FILE",
            path.to_str().expect("utf-8 temp path"),
        );
    }
    let mut s = b.spawn();
    let workers = [
        s.wait_for_run("light", 0, SOON),
        s.wait_for_run("light", 1, SOON),
    ];
    (s, workers)
}

/// Puts the master in its blocking `kind` hook.
fn enter_hook(s: &mut Scenario, kind: &str, workers: [i32; 2]) {
    match kind {
        "reload" => s.signal(Signal::SIGHUP),
        "terminate" => s.signal(Signal::SIGTERM),
        _ => s.kill(workers[0], Signal::SIGKILL),
    }
    s.wait_for_line(&format!("{kind} hook blocks"), SOON);
}

/// SIGINT while `kind`'s hook blocks: exit 1, every worker SIGINTed, nothing left.
fn sigint_while_blocked(kind: &str) {
    let _serial = heavy();
    let (mut s, workers) = blocking(kind, 60_000, None);
    enter_hook(&mut s, kind, workers);
    let sent = Instant::now();
    s.signal(Signal::SIGINT);
    let out = s.wait_exit(SOON);
    eprintln!(
        "{kind} hook blocked: SIGINT to exit in {:?}",
        sent.elapsed()
    );
    assert_eq!(Scenario::code_of(out.status), 1, "{:#?}", s.lines());
    s.assert_no_process_left(SOON);
    let manager = target_lines(&s, "cotyledon::manager");
    assert!(
        manager
            .iter()
            .any(|l| l.ends_with("Caught SIGINT signal, instantaneous exiting")),
        "{manager:#?}"
    );
    assert!(
        !s.lines()
            .iter()
            .any(|l| l.contains(&format!("{kind} hook released")))
    );
    // Each worker still alive at the SIGINT was told so (the dead_worker case
    // killed light(0), whose replacement is not forked while the hook blocks).
    let told = s
        .lines()
        .iter()
        .filter(|l| l.contains("Caught SIGINT signal, instantaneous exiting of service light"))
        .count();
    assert_eq!(
        told,
        if kind == "dead_worker" { 1 } else { 2 },
        "{:#?}",
        s.lines()
    );
}

#[test]
fn sigint_while_a_reload_hook_blocks_exits_1_at_once() {
    sigint_while_blocked("reload");
}

#[test]
fn sigint_while_a_terminate_hook_blocks_exits_1_at_once() {
    sigint_while_blocked("terminate");
}

#[test]
fn sigint_while_a_dead_worker_hook_blocks_exits_1_at_once() {
    sigint_while_blocked("dead_worker");
}

/// After SIGTERM (sent to put it in the hook, or while it is in the hook), the
/// 1 s graceful timeout ends the master although the hook never returns.
fn graceful_timeout_while_blocked(kind: &str) {
    let (mut s, workers) = blocking(kind, 1000, None);
    enter_hook(&mut s, kind, workers);
    if kind != "terminate" {
        s.signal(Signal::SIGTERM);
    }
    s.wait_for_line(
        "Graceful shutdown timeout exceeded, instantaneous exiting of master process",
        SOON,
    );
    s.expect_exit(1);
    let told = s
        .lines()
        .iter()
        .filter(|l| l.contains("Caught SIGINT signal, instantaneous exiting of service light"))
        .count();
    assert_eq!(told, 2, "both workers get SIGINT: {:#?}", s.lines());
}

#[test]
fn the_graceful_timeout_ends_a_master_whose_terminate_hook_never_returns() {
    graceful_timeout_while_blocked("terminate");
}

#[test]
fn a_sigterm_during_a_blocked_reload_hook_still_ends_the_master_at_the_timeout() {
    graceful_timeout_while_blocked("reload");
}

/// A temp file path that does not exist yet.
fn release_path(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("cotyledon-release-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn a_sigterm_during_a_hook_is_served_as_soon_as_the_hook_returns() {
    let release = release_path("served");
    let (mut s, workers) = blocking("reload", 60_000, Some(&release));
    enter_hook(&mut s, "reload", workers);
    s.signal(Signal::SIGTERM);
    std::fs::write(&release, b"go").expect("create the release file");
    s.wait_for_line("Shutdown finish", SOON);
    s.expect_exit(0);
    let _ = std::fs::remove_file(&release);
    assert_in_order(
        &target_lines(&s, "scenarios::hardening"),
        &[
            "ERROR:scenarios::hardening:reload hook blocks",
            "ERROR:scenarios::hardening:reload hook released",
        ],
    );
    assert_in_order(
        &target_lines(&s, "cotyledon::manager"),
        &[
            "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process",
            "DEBUG:cotyledon::manager:Killing services with signal SIGTERM",
            "DEBUG:cotyledon::manager:Shutdown finish",
        ],
    );
}

/// Whether SIGHUP is pending for the process as a whole (`ShdPnd`).
fn sighup_pending(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("ShdPnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & 1 != 0)
}

#[test]
fn a_sigterm_among_a_flood_of_sighups_that_fills_the_pipe_is_served() {
    let _serial = heavy();
    let release = release_path("flood");
    let (mut s, workers) = blocking("reload", 60_000, Some(&release));
    enter_hook(&mut s, "reload", workers);
    // 70,000 SIGHUPs, each delivered (its pending bit seen cleared) while the hook
    // blocks: each wrote a byte, more than a pipe holds (64 KiB by default).
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..70_000 {
        s.signal(Signal::SIGHUP);
        while sighup_pending(s.pid()) {
            assert!(Instant::now() < deadline, "SIGHUP never delivered");
        }
    }
    s.signal(Signal::SIGTERM);
    std::fs::write(&release, b"go").expect("create the release file");
    s.wait_for_line(
        "Caught SIGTERM signal, graceful exiting of master process",
        SOON,
    );
    s.expect_exit(0);
    let _ = std::fs::remove_file(&release);
    // The flood was one burst: the reload hook ran again once at most.
    let reloads = s
        .lines()
        .iter()
        .filter(|l| l.ends_with("Caught SIGHUP signal, reloading services"))
        .count();
    assert!((1..=3).contains(&reloads), "{reloads} reloads");
}
