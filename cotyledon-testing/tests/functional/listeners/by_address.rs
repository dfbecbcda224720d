//! Socket activation without names (`systemd-socket-activate -l ADDR` passes its
//! fds as "unknown"; a unit names them after itself): `listen()` takes the passed
//! socket bound to its spec's address instead of binding it again (which would
//! fail: the address is in use). And whatever is wrong with the variables, the
//! fds systemd passed to this process never reach a program a worker execs.

use std::net::SocketAddr;

use cotyledon_testing::{Scenario, Signal, fds};

use super::systemd::{ACTIVATOR, activator_available, free_port, trigger};
use super::{TempDir, ask_tcp, ask_unix, every_worker_answers, read_answer, serving};
use crate::{SOON, bin};

#[test]
fn unnamed_sockets_are_adopted_by_the_address_listen_asks_for() {
    if !activator_available() {
        return;
    }
    let dir = TempDir::new("by-address");
    let admin = dir.join("admin.sock");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (listen, admin_arg) = (addr.to_string(), admin.display().to_string());
    // No --fdname: both fds are "unknown". The program asks for the very
    // addresses the activator listens on.
    let mut s = Scenario::builder(bin(), "listen_app")
        .wrapped_in(&[
            ACTIVATOR,
            "-l",
            &listen,
            "-l",
            &admin_arg,
            "-E",
            &format!("SCENARIO_LISTEN=http=tcp:{listen},admin=unix:{admin_arg}"),
            "-E",
            "SCENARIO_WORKERS=2",
        ])
        .spawn();
    let first = trigger(addr);
    let manager = "INFO:cotyledon::manager:";
    s.wait_for_line(
        &format!("{manager}Adopted the socket unknown (fd 3, {addr}) passed by systemd"),
        SOON,
    );
    s.wait_for_line(
        &format!("{manager}Adopted the socket unknown (fd 4, {admin_arg}) passed by systemd"),
        SOON,
    );
    s.wait_for_line(
        &format!(
            "{manager}The fd 4 passed by systemd has the name unknown of fd 3 too: offered to \
             workers by that name only if a listen() call asks for its address"
        ),
        SOON,
    );
    for (fd, name, spec) in [
        (3, "http", format!("tcp {addr}")),
        (4, "admin", format!("unix {admin_arg}")),
    ] {
        s.wait_for_line(
            &format!(
                "{manager}Using the socket unknown (fd {fd}) passed by systemd for listener \
                 {name}: it is bound to {spec}"
            ),
            SOON,
        );
    }
    let pids = serving(
        &mut s,
        2,
        &[("http", listen.clone()), ("admin", admin_arg.clone())],
    );
    // The connection that woke the activator waited in the passed socket's queue.
    assert!(read_answer(first).starts_with("http worker "));
    every_worker_answers("http", &pids, || ask_tcp(addr));
    every_worker_answers("admin", &pids, || ask_unix(&admin));
    s.end_with(Signal::SIGTERM, 0);
    assert!(
        !s.lines()
            .iter()
            .any(|l| l.contains(" bound to ") && l.contains("Listener ")),
        "nothing was bound: {:#?}",
        s.lines()
    );
}

#[test]
fn passed_fds_never_reach_an_exec_even_when_the_names_do_not_fit() {
    if !activator_available() {
        return;
    }
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let listen = addr.to_string();
    // One fd, two names: the variables are refused, the socket is not adopted,
    // but fd 3 was passed to this very process (LISTEN_PID is its pid).
    let mut s = Scenario::builder(bin(), "listen_app")
        .wrapped_in(&[
            ACTIVATOR,
            "-l",
            &listen,
            "--fdname=http:admin",
            "-E",
            "SCENARIO_LISTEN=http=tcp:127.0.0.1:0",
            "-E",
            "SCENARIO_WORKERS=1",
            "-E",
            "SCENARIO_EXEC_LS=1",
        ])
        .spawn();
    let _first = trigger(addr);
    s.wait_for_line(
        "WARN:cotyledon::manager:LISTEN_FDNAMES has 2 names for LISTEN_FDS=1: the sockets \
         passed by systemd are ignored",
        SOON,
    );
    s.wait_for_run("echo", 0, SOON);
    s.wait_for_line("exec fds done", SOON);
    let fd3 = fds(s.pid())
        .into_iter()
        .find(|e| e.fd == 3)
        .expect("fd 3 is still open in the master");
    assert!(fd3.target.starts_with("socket:") && fd3.cloexec, "{fd3:?}");
    // The program worker 0 exec'd (ls) lists its fds: not that socket.
    let exec: Vec<&String> = s
        .lines()
        .iter()
        .filter(|l| l.contains(":exec fd: "))
        .collect();
    assert!(
        exec.iter().any(|l| l.contains(" 0 -> ")),
        "ls listed its fds: {exec:?}"
    );
    assert!(
        !exec.iter().any(|l| l.ends_with(fd3.target.as_str())),
        "{} leaked into the exec'd program: {exec:?}",
        fd3.target
    );
    s.end_with(Signal::SIGTERM, 0);
}
