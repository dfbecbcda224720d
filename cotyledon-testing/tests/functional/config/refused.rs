//! A configuration reload is all or nothing (issue 15 item 8): a file that does
//! not parse, or that parses but is refused by `watch_config`'s closure
//! (`workers = 0`), restarts no worker, changes no count or timeout, leaves the
//! previous value to every new fork, logs an ERROR with the reason and tells
//! systemd (`STATUS=Reload failed: …`, then `READY=1`). A later good file
//! reloads as usual.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use cotyledon_testing::{Scenario, Signal};

use super::{File, HELLO, expect_unchanged};
use crate::{SOON, bin};

#[test]
fn an_unparsable_file_restarts_no_worker_and_a_later_good_one_reloads() {
    let file = File::new("broken");
    let (mut s, pids) = file.start_hello();
    file.write("workers = [\n");
    s.signal(Signal::SIGHUP);
    let line = s.wait_for_line("Could not reload the configuration from", SOON);
    assert!(line.starts_with("ERROR:cotyledon::manager:"), "{line}");
    assert!(
        line.contains("keeping the previous one: TOML parse error"),
        "{line}"
    );
    expect_unchanged(&mut s, pids, "hello");
    // A good file afterwards: reloaded, and the restarted workers see it.
    file.write(&HELLO.replace("hello", "bonjour"));
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Configuration reloaded from", SOON);
    s.wait_for_line("config applied workers=2 graceful_ms=60000", SOON);
    s.wait_for_line("conf 0 greeting=bonjour", SOON);
    s.wait_for_line("conf 1 greeting=bonjour", SOON);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_file_the_closure_refuses_changes_nothing() {
    let file = File::new("invalid");
    // A 500 ms master timeout, and workers whose terminate() hangs.
    let start = format!("{}stuck_terminate = true\n", HELLO.replace("60000", "500"));
    file.write(&start);
    let mut s = file.start();
    let pids = [
        s.wait_for_run("conf", 0, SOON),
        s.wait_for_run("conf", 1, SOON),
    ];
    s.wait_for_line("conf 0 greeting=hello", SOON);
    s.wait_for_line("conf 1 greeting=hello", SOON);
    // Parses, but `workers = 0` is refused by reconfigure, after the closure set
    // a 10-minute timeout; the greeting changes too.
    let refused = start
        .replace("workers = 2", "workers = 0")
        .replace("= 500", "= 600000")
        .replace("hello", "bonjour");
    file.write(&refused);
    s.signal(Signal::SIGHUP);
    let line = s.wait_for_line("Could not reload the configuration from", SOON);
    assert!(
        line.ends_with("keeping the previous one: number of workers must be at least 1, got 0"),
        "{line}"
    );
    // A new fork still sees the previous greeting; conf(0) was not restarted.
    expect_unchanged(&mut s, pids, "hello");
    // The timeout is still 500 ms, not the refused 10 minutes.
    s.signal(Signal::SIGTERM);
    s.wait_for_line("conf 0 terminate hangs", SOON);
    s.wait_for_line(
        "Graceful shutdown timeout exceeded, instantaneous exiting of master process",
        Duration::from_secs(5),
    );
    s.expect_exit(1);
}

/// Reads notifications until `READY=1`; returns the ones before it.
fn until_ready(sock: &UnixDatagram) -> Vec<String> {
    let mut buf = [0u8; 1024];
    let mut before = Vec::new();
    loop {
        let n = sock.recv(&mut buf).expect("READY=1 within the deadline");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg == "READY=1" {
            return before;
        }
        before.push(msg);
    }
}

#[test]
fn a_refused_reload_tells_systemd_why_and_ends_the_reload() {
    let file = File::new("notify");
    file.write(HELLO);
    let sock_path = file.0.with_file_name("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(SOON)).expect("timeout");
    let mut s = Scenario::builder(bin(), "config_app")
        .env("SCENARIO_CONFIG", &file.0)
        .env("NOTIFY_SOCKET", &sock_path)
        .spawn();
    let pids = [
        s.wait_for_run("conf", 0, SOON),
        s.wait_for_run("conf", 1, SOON),
    ];
    until_ready(&sock);
    file.write("workers = [\n");
    s.signal(Signal::SIGHUP);
    let during = until_ready(&sock);
    assert!(
        during
            .first()
            .is_some_and(|m| m.starts_with("RELOADING=1\n")),
        "{during:?}"
    );
    let status = during.iter().find(|m| m.starts_with("STATUS="));
    assert!(
        status.is_some_and(
            |m| m.starts_with("STATUS=Reload failed: TOML parse error at line 1")
                && m.ends_with("; Workers: conf 2/2 ready")
        ),
        "{during:?}"
    );
    s.wait_for_line("Could not reload the configuration from", SOON);
    expect_unchanged(&mut s, pids, "hello");
    s.end_with(Signal::SIGTERM, 0);
}
