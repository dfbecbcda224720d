//! Each way an upgrade attempt can fail, with real masters: the old master
//! keeps serving with every worker, nothing of the attempt is left, and a
//! later SIGUSR2 tries again; SIGTERM and SIGINT during an attempt end both.

use std::net::SocketAddr;

use cotyledon_testing::{Scenario, Signal, fds, is_alive};

use super::{ask, dead, http_addr, master_of, new_master, wait_gone, workers_of};
use crate::{SOON, bin};

/// Starts `upgrade_app` with `env`, waits for both workers, sends SIGUSR2 and
/// returns the scenario, the old workers and the listener's address.
fn attempt(env: &[(&str, &str)]) -> (Scenario, Vec<i32>, SocketAddr) {
    let mut b = Scenario::builder(bin(), "upgrade_app")
        .env("SCENARIO_WORKERS", "2")
        .env("SCENARIO_UPGRADE_TIMEOUT_MS", "2000");
    for (k, v) in env {
        b = b.env(k, v);
    }
    let mut s = b.spawn();
    let addr = http_addr(&mut s);
    let old = s.pid();
    s.wait_for_line(&format!("upgraded ready id=0 master={old}"), SOON);
    s.wait_for_line(&format!("upgraded ready id=1 master={old}"), SOON);
    let workers = workers_of(&s, old);
    // The workers made the listener non-blocking (on the open file description
    // every process holding it shares): an attempt must leave it so.
    assert_eq!(listener_modes(old), [true], "{:#?}", s.lines());
    s.signal(Signal::SIGUSR2);
    (s, workers, addr)
}

/// Whether each socket of the master is non-blocking (`O_NONBLOCK` in
/// /proc/PID/fdinfo): `upgrade_app`'s master holds one, the listener.
fn listener_modes(pid: i32) -> Vec<bool> {
    fds(pid)
        .iter()
        .filter(|e| e.target.starts_with("socket:"))
        .map(|e| {
            let info =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.fd)).unwrap_or_default();
            info.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|f| f & 0o4000 != 0)
        })
        .collect()
}

/// After a failed attempt: the ERROR, the old workers all there and
/// answering, the new master and its workers gone; a second SIGUSR2 starts a
/// new attempt; SIGTERM ends the old master with 0 and leaves nothing.
fn failed(mut s: Scenario, workers: Vec<i32>, addr: SocketAddr, why: &str, new: Option<i32>) {
    let line = s.wait_for_line("ERROR:cotyledon::manager:Upgrade failed: ", SOON);
    assert!(line.contains(why), "{line}");
    assert!(line.ends_with("; this master keeps serving"), "{line}");
    if let Some(new) = new {
        wait_gone(&s, new, SOON);
        for pid in workers_of(&s, new) {
            wait_gone(&s, pid, SOON);
        }
    }
    for pid in &workers {
        assert!(!dead(*pid), "old worker {pid} is gone: {:#?}", s.lines());
    }
    assert_eq!(
        listener_modes(s.pid()),
        [true],
        "the attempt changed the listener's mode under the old workers"
    );
    let answer = ask(addr).expect("the old generation still answers");
    assert_eq!(master_of(&answer), s.pid());
    // One attempt at a time, but a later one may start.
    s.skip_pending_lines();
    s.signal(Signal::SIGUSR2);
    s.wait_for_line(
        "Caught SIGUSR2 signal, upgrading: starting a new master",
        SOON,
    );
    s.wait_for_line("ERROR:cotyledon::manager:Upgrade failed: ", SOON);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_missing_binary_is_an_error_and_the_old_master_keeps_serving() {
    let (s, workers, addr) = attempt(&[("SCENARIO_UPGRADE_EXE", "/nonexistent/new-build")]);
    failed(
        s,
        workers,
        addr,
        "/nonexistent/new-build: No such file or directory",
        None,
    );
}

#[test]
fn a_binary_that_is_not_executable_is_an_error_and_the_old_master_keeps_serving() {
    let path = std::env::temp_dir().join(format!("cotyledon-not-exec-{}", std::process::id()));
    std::fs::write(&path, b"#!/bin/sh\nexit 0\n").expect("a file");
    let shown = path.to_str().expect("utf-8").to_owned();
    let (s, workers, addr) = attempt(&[("SCENARIO_UPGRADE_EXE", &shown)]);
    failed(
        s,
        workers,
        addr,
        &format!("{shown} is not executable"),
        None,
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_new_master_that_exits_at_once_is_an_error_and_the_old_master_keeps_serving() {
    let (mut s, workers, addr) = attempt(&[("SCENARIO_NEW_FAILS", "exit")]);
    let new = new_master(&mut s);
    failed(
        s,
        workers,
        addr,
        &format!("the new master [{new}] exited with status 3 before it was ready"),
        Some(new),
    );
}

#[test]
fn a_new_build_whose_factories_panic_times_out_and_is_cleared() {
    let (mut s, workers, addr) = attempt(&[("SCENARIO_NEW_FAILS", "panic")]);
    let new = new_master(&mut s);
    failed(
        s,
        workers,
        addr,
        &format!("the new master [{new}] was not ready within 2s"),
        Some(new),
    );
}

#[test]
fn a_new_master_never_ready_times_out_and_is_cleared() {
    let (mut s, workers, addr) = attempt(&[("SCENARIO_NEW_FAILS", "never-ready")]);
    let new = new_master(&mut s);
    s.wait_for_line("upgraded never ready id=0", SOON);
    failed(
        s,
        workers,
        addr,
        &format!("the new master [{new}] was not ready within 2s"),
        Some(new),
    );
}

#[test]
fn a_new_master_killed_mid_boot_is_an_error_and_the_old_master_keeps_serving() {
    let (mut s, workers, addr) = attempt(&[("SCENARIO_NEW_FAILS", "never-ready")]);
    let new = new_master(&mut s);
    s.wait_for_line("upgraded never ready id=", SOON);
    s.kill(new, Signal::SIGKILL);
    failed(
        s,
        workers,
        addr,
        &format!("the new master [{new}] was killed by signal SIGKILL before it was ready"),
        Some(new),
    );
}

#[test]
fn a_second_sigusr2_during_an_upgrade_is_ignored_and_sigterm_ends_both() {
    let (mut s, workers, _addr) = attempt(&[("SCENARIO_NEW_FAILS", "never-ready")]);
    let new = new_master(&mut s);
    s.wait_for_line("upgraded never ready id=", SOON);
    s.signal(Signal::SIGUSR2);
    s.wait_for_line(
        "WARN:cotyledon::manager:Caught SIGUSR2 signal during an upgrade: ignored",
        SOON,
    );
    let new_workers = workers_of(&s, new);
    assert!(!new_workers.is_empty());
    s.end_with(Signal::SIGTERM, 0);
    for pid in workers.iter().chain(&new_workers).chain([&new]) {
        assert!(!is_alive(*pid), "{pid} left");
    }
}

#[test]
fn sigint_during_an_upgrade_ends_both() {
    let (mut s, _workers, _addr) = attempt(&[("SCENARIO_NEW_FAILS", "never-ready")]);
    let _new = new_master(&mut s);
    s.wait_for_line("upgraded never ready id=", SOON);
    s.end_with(Signal::SIGINT, 1);
}

#[test]
fn a_new_master_of_another_hand_over_version_refuses_with_a_typed_error() {
    let mut s = Scenario::builder(bin(), "upgrade_app")
        .env("COTYLEDON_UPGRADE", "v9:7:1")
        .spawn();
    s.wait_for_line(
        "manager failed: cannot take over from the old master: the old master speaks \
         hand-over version v9; this binary speaks v1",
        SOON,
    );
    s.expect_exit(3);
}
