//! systemd socket activation: the real activator (`systemd-socket-activate`, from
//! Debian's `systemd` package, which `.ci/run` installs) passes named sockets that
//! the master adopts; sockets meant for another pid, and fds that are not sockets
//! or counts that make no sense, are not adopted and the master carries on.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use cotyledon_testing::{Scenario, Signal, fds};

use super::{TempDir, ask_tcp, ask_unix, bound_addr, every_worker_answers, read_answer, serving};
use crate::{SOON, bin};

pub(crate) const ACTIVATOR: &str = "systemd-socket-activate";

/// Whether the activator can run here. Missing: a loud skip, or a failure when
/// `COTYLEDON_REQUIRE_SOCKET_ACTIVATE` is set (`.ci/run` sets it).
pub(crate) fn activator_available() -> bool {
    if Command::new(ACTIVATOR)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    assert!(
        std::env::var_os("COTYLEDON_REQUIRE_SOCKET_ACTIVATE").is_none(),
        "{ACTIVATOR} is required (COTYLEDON_REQUIRE_SOCKET_ACTIVATE is set) but cannot run: \
         install Debian's systemd package"
    );
    eprintln!(
        "\n!!! SKIPPED: {ACTIVATOR} is not installed (Debian package `systemd`); the socket \
         activation tests did not run !!!\n"
    );
    false
}

/// A free port on 127.0.0.1 outside Linux's ephemeral range (32768-60999), so
/// that no `bind(port 0)` of a concurrent test can take it before the activator
/// binds it; each call of this process tries other ports.
pub(crate) fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 1000) as u16 * 10;
    for _ in 0..1000 {
        let port = 20_000 + (base - 20_000 + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}

/// Connects to the activator's socket (retrying until it listens, within the
/// deadline): the first connection is what makes it exec the manager.
pub(crate) fn trigger(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + SOON;
    loop {
        match TcpStream::connect(addr) {
            Ok(stream) => {
                stream.set_read_timeout(Some(SOON)).expect("timeout");
                return stream;
            }
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "{ACTIVATOR} never listened on {addr}: {e}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn the_master_adopts_the_sockets_systemd_passes_by_name() {
    if !activator_available() {
        return;
    }
    let dir = TempDir::new("activate");
    let admin = dir.join("admin.sock");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (listen, admin_arg) = (addr.to_string(), admin.display().to_string());
    let mut s = Scenario::builder(bin(), "listen_app")
        .wrapped_in(&[
            ACTIVATOR,
            "-l",
            &listen,
            "-l",
            &admin_arg,
            "--fdname=http:admin",
            // The activator passes only the environment it is told to.
            "-E",
            "SCENARIO_LISTEN=http=tcp:127.0.0.1:0",
            "-E",
            "SCENARIO_SERVE=tcp:http,unix:admin",
            "-E",
            "SCENARIO_WORKERS=2",
        ])
        .spawn();
    let first = trigger(addr);
    let manager = "INFO:cotyledon::manager:";
    s.wait_for_line(
        &format!("{manager}Adopted the socket http (fd 3, {addr}) passed by systemd"),
        SOON,
    );
    s.wait_for_line(
        &format!("{manager}Adopted the socket admin (fd 4, {admin_arg}) passed by systemd"),
        SOON,
    );
    // listen("http", …) takes systemd's socket instead of binding port 0;
    // "admin", which no listen() call names, is offered all the same.
    s.wait_for_line(
        &format!(
            "{manager}Using the socket http passed by systemd ({addr}) instead of tcp 127.0.0.1:0"
        ),
        SOON,
    );
    let pids = serving(
        &mut s,
        2,
        &[("http", listen.clone()), ("admin", admin_arg.clone())],
    );
    // The environment the workers run with (not /proc/PID/environ, which is the
    // one of the exec) has none of the variables.
    for id in 0..2 {
        s.wait_for_line(
            &format!("echo({id}) sees LISTEN_PID=None LISTEN_FDS=None LISTEN_FDNAMES=None"),
            SOON,
        );
    }
    // The connection that woke the activator is answered by a worker.
    assert!(read_answer(first).starts_with("http worker "));
    every_worker_answers("http", &pids, || ask_tcp(addr));
    every_worker_answers("admin", &pids, || ask_unix(&admin));
    // Adopted fds were made close-on-exec.
    let adopted: Vec<_> = fds(s.pid())
        .into_iter()
        .filter(|e| e.fd == 3 || e.fd == 4)
        .collect();
    assert_eq!(adopted.len(), 2, "{adopted:?}");
    assert!(
        adopted
            .iter()
            .all(|e| e.target.starts_with("socket:") && e.cloexec),
        "{adopted:?}"
    );
    s.end_with(Signal::SIGTERM, 0);
    assert!(
        !s.lines()
            .iter()
            .any(|l| l.contains("Listener http bound to"))
    );
}

#[test]
fn sockets_passed_to_another_pid_are_not_adopted() {
    if !activator_available() {
        return;
    }
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let listen = addr.to_string();
    // A real listening socket as fd 3, named http, but LISTEN_PID says another
    // process: the shell changes it before it execs the manager.
    let mut s = Scenario::builder(bin(), "listen_app")
        .wrapped_in(&[
            ACTIVATOR,
            "-l",
            &listen,
            "--fdname=http",
            "-E",
            "SCENARIO_LISTEN=http=tcp:127.0.0.1:0",
            "-E",
            "SCENARIO_WORKERS=2",
            "sh",
            "-c",
            "LISTEN_PID=1 exec \"$0\" \"$@\"",
        ])
        .spawn();
    let _first = trigger(addr);
    s.wait_for_line(
        &format!(
            "INFO:cotyledon::manager:LISTEN_PID=1 is not this process ({}): the sockets passed \
             by systemd are ignored",
            s.pid()
        ),
        SOON,
    );
    let bound = bound_addr(&mut s, "http");
    assert_ne!(bound, addr, "bound a socket of its own");
    let pids = serving(&mut s, 2, &[("http", bound.to_string())]);
    every_worker_answers("http", &pids, || ask_tcp(bound));
    // fd 3 was left as it was: not made close-on-exec.
    let fd3 = fds(s.pid())
        .into_iter()
        .find(|e| e.fd == 3)
        .expect("fd 3 is still open");
    assert!(fd3.target.starts_with("socket:") && !fd3.cloexec, "{fd3:?}");
    s.end_with(Signal::SIGTERM, 0);
    assert!(!s.lines().iter().any(|l| l.contains("Adopted the socket")));
}

#[test]
fn a_non_socket_or_a_malformed_count_is_refused_and_the_master_keeps_running() {
    // Run through sh, which opens fd 3 on a regular file (the scenario program)
    // and sets the variables for its own pid, the manager's after exec.
    let cases = [
        (
            "1",
            "http",
            "WARN:cotyledon::manager:The fd 3 (http) passed by systemd is not a socket: not \
             offered to workers",
        ),
        (
            "99999",
            "http",
            "WARN:cotyledon::manager:LISTEN_FDS=99999 is more than 1024: the sockets passed by \
             systemd are ignored",
        ),
        (
            "two",
            "http",
            "WARN:cotyledon::manager:LISTEN_FDS=two is not a number of fds: the sockets passed \
             by systemd are ignored",
        ),
        (
            "1",
            "http:admin",
            "WARN:cotyledon::manager:LISTEN_FDNAMES has 2 names for LISTEN_FDS=1: the sockets \
             passed by systemd are ignored",
        ),
    ];
    for (count, names, warning) in cases {
        let script = format!(
            "exec 3<\"$0\"; export LISTEN_PID=$$ LISTEN_FDS={count} LISTEN_FDNAMES={names}; \
             exec \"$0\" \"$@\""
        );
        let mut s = Scenario::builder(bin(), "listen_app")
            .wrapped_in(&["sh", "-c", &script])
            .env("SCENARIO_LISTEN", "http=tcp:127.0.0.1:0")
            .env("SCENARIO_WORKERS", "2")
            .spawn();
        s.wait_for_line(warning, SOON);
        // Not adopted: "http" is bound by the manager, and served.
        let bound = bound_addr(&mut s, "http");
        let pids = serving(&mut s, 2, &[("http", bound.to_string())]);
        every_worker_answers("http", &pids, || ask_tcp(bound));
        s.end_with(Signal::SIGTERM, 0);
        assert!(!s.lines().iter().any(|l| l.contains("Adopted the socket")));
    }
}

#[test]
fn a_passed_socket_of_the_other_kind_stops_the_master_before_it_forks() {
    if !activator_available() {
        return;
    }
    let dir = TempDir::new("kind");
    let path = dir.join("http.sock");
    let shown = path.display().to_string();
    // systemd passes a Unix socket named http; the program asks for TCP.
    let mut s = Scenario::builder(bin(), "listen_app")
        .wrapped_in(&[
            ACTIVATOR,
            "-l",
            &shown,
            "--fdname=http",
            "-E",
            "SCENARIO_LISTEN=http=tcp:127.0.0.1:0",
        ])
        .spawn();
    let deadline = Instant::now() + SOON;
    let _first = loop {
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(stream) => break stream,
            Err(e) => {
                assert!(Instant::now() < deadline, "{ACTIVATOR} never listened: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    s.wait_for_line(
        "ERROR:scenarios:manager failed: listener http is not a TCP listener",
        SOON,
    );
    s.expect_exit(3);
    assert!(!s.lines().iter().any(|l| l.contains("Run service")));
}
