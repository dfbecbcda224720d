//! systemd notification: READY=1 once the initial workers are started, to a path
//! or an abstract socket, whatever its bytes; a full socket never blocks the
//! master; NOTIFY_SOCKET is not inherited by workers, unless the master has other
//! threads, where changing the environment would be unsound. The watchdog pings,
//! and a notify socket that goes away while they run: `watchdog.rs`.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cotyledon_testing::{Scenario, Signal};

use crate::{SOON, bin};

mod watchdog;

/// A datagram socket bound at `NAME` in a directory of its own, removed on drop.
struct Bound {
    dir: PathBuf,
    path: PathBuf,
    sock: UnixDatagram,
}

impl Bound {
    /// Binds `name` (any bytes but `/` and NUL) in a directory named after `tag`.
    fn new(tag: &str, name: &[u8]) -> Bound {
        let dir =
            std::env::temp_dir().join(format!("cotyledon-notify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(OsStr::from_bytes(name));
        let sock = UnixDatagram::bind(&path).expect("bind notify socket");
        Bound { dir, path, sock }
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads notifications until `READY=1` (within the socket's read timeout); the
/// ones before it may only be `STATUS=` lines. Returns them.
fn recv_ready(sock: &UnixDatagram) -> Vec<String> {
    let mut buf = [0u8; 256];
    let mut before = Vec::new();
    loop {
        let n = sock.recv(&mut buf).expect("READY=1 within the deadline");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg == "READY=1" {
            return before;
        }
        assert!(msg.starts_with("STATUS="), "{msg:?} before READY=1");
        before.push(msg);
    }
}

/// Starts `notify_app` with `NOTIFY_SOCKET=notify_socket`; checks that READY=1
/// arrives on `sock`, once, and that no worker sees the variable.
fn check_ready(sock: &UnixDatagram, notify_socket: &OsStr) {
    sock.set_read_timeout(Some(SOON)).expect("timeout");
    let mut s = Scenario::builder(bin(), "notify_app")
        .env("NOTIFY_SOCKET", notify_socket)
        .spawn();
    for id in 0..3 {
        s.wait_for_run("light", id, SOON);
        // The variable was removed before the first fork: no worker inherits it.
        s.wait_for_line(&format!("worker {id} NOTIFY_SOCKET=None"), SOON);
    }
    let mut buf = [0u8; 64];
    recv_ready(sock);
    // Once only: nothing else arrives.
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    assert!(sock.recv(&mut buf).is_err(), "a second notification");
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn ready_is_sent_to_a_path_socket_and_the_variable_is_unset() {
    let bound = Bound::new("path", b"notify.sock");
    check_ready(&bound.sock, bound.path.as_os_str());
}

#[test]
fn ready_is_sent_to_a_path_that_is_not_utf8_and_the_variable_is_unset() {
    let bound = Bound::new("non-utf8", b"notify-\xff.sock");
    assert!(bound.path.to_str().is_none(), "{:?}", bound.path);
    check_ready(&bound.sock, bound.path.as_os_str());
}

#[test]
fn ready_is_sent_to_an_abstract_socket() {
    let name = format!("cotyledon-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
    let sock = UnixDatagram::bind_addr(&addr).expect("bind abstract socket");
    check_ready(&sock, OsStr::new(&format!("@{name}")));
}

#[test]
fn ready_is_sent_to_an_abstract_name_that_is_not_utf8() {
    let name = [
        b"cotyledon-notify-\xff-".as_slice(),
        std::process::id().to_string().as_bytes(),
    ]
    .concat();
    let addr = SocketAddr::from_abstract_name(&name).expect("abstract name");
    let sock = UnixDatagram::bind_addr(&addr).expect("bind abstract socket");
    check_ready(&sock, OsStr::from_bytes(&[b"@".as_slice(), &name].concat()));
}

/// Sends datagrams to `path` until its receive queue is full (EAGAIN); returns
/// how many it took.
fn fill(path: &Path) -> usize {
    let sender = UnixDatagram::unbound().expect("socket");
    sender.set_nonblocking(true).expect("non-blocking");
    for sent in 0..100_000 {
        match sender.send_to(b"filler", path) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return sent,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    panic!("{} never filled up", path.display())
}

/// A notify socket whose queue is full: the master warns, carries on, and
/// `signal` still ends it with `code`.
fn full_socket_then(tag: &str, signal: Signal, code: i32) {
    let bound = Bound::new(tag, b"notify.sock");
    let filled = fill(&bound.path);
    let mut s = Scenario::builder(bin(), "notify_app")
        .env("NOTIFY_SOCKET", &bound.path)
        .spawn();
    for id in 0..3 {
        s.wait_for_run("light", id, SOON);
    }
    let warning = s.wait_for_line("READY=1 not sent", SOON);
    assert_eq!(
        warning,
        format!(
            "WARN:cotyledon::manager:The systemd notify socket {} is full, READY=1 not sent",
            bound.path.display()
        )
    );
    s.end_with(signal, code);
    // The queue holds the test's datagrams and nothing else.
    bound.sock.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0u8; 64];
    let mut queued = 0;
    while let Ok(n) = bound.sock.recv(&mut buf) {
        assert_eq!(&buf[..n], b"filler");
        queued += 1;
    }
    assert_eq!(queued, filled);
}

#[test]
fn a_full_notify_socket_is_warned_about_and_sigterm_still_ends_the_master() {
    full_socket_then("full-term", Signal::SIGTERM, 0);
}

#[test]
fn a_full_notify_socket_is_warned_about_and_sigint_still_ends_the_master() {
    full_socket_then("full-int", Signal::SIGINT, 1);
}

#[test]
fn a_master_with_other_threads_leaves_the_variable_and_says_so() {
    // threaded_master starts a thread before run(): removing the variable then
    // would race with that thread's reads of the environment.
    let bound = Bound::new("threads", b"notify.sock");
    bound.sock.set_read_timeout(Some(SOON)).expect("timeout");
    let mut s = Scenario::builder(bin(), "threaded_master")
        .env("NOTIFY_SOCKET", &bound.path)
        .spawn();
    s.wait_for_line(
        "WARN:cotyledon::manager:NOTIFY_SOCKET is left in the environment because the \
         process has 2 threads (workers will inherit it)",
        SOON,
    );
    s.wait_for_run("light", 0, SOON);
    // The master still runs and still notifies.
    recv_ready(&bound.sock);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn ready_is_sent_only_once_every_worker_is_ready_not_merely_forked() {
    let bound = Bound::new("readiness", b"notify");
    let gate = bound.dir.join("ready-gate");
    let mut s = Scenario::builder(bin(), "serving_app")
        .env("NOTIFY_SOCKET", bound.path.as_os_str())
        .env("SCENARIO_READY_FILE", gate.as_os_str())
        .spawn();
    for id in 0..3 {
        s.wait_for_run("web", id, SOON);
        s.wait_for_line(&format!("web boot id={id}"), SOON);
    }
    // Every worker is forked and in run(), none ready: no READY=1 can come, as
    // the workers wait for the gate file before they say they are ready.
    bound
        .sock
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    while let Ok(n) = bound.sock.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]);
        assert!(
            msg.starts_with("STATUS="),
            "{msg:?} before any worker was ready"
        );
        assert!(msg.contains("web 0/3 ready"), "{msg:?}");
    }
    std::fs::write(&gate, b"").expect("gate file");
    bound.sock.set_read_timeout(Some(SOON)).expect("timeout");
    recv_ready(&bound.sock);
    for id in 0..3 {
        s.wait_for_line(&format!("web ready id={id}"), SOON);
    }
    s.end_with(Signal::SIGTERM, 0);
}

/// Every notification that arrives within `quiet` of the previous one, with the
/// time it was read.
fn drain_notes(sock: &UnixDatagram, quiet: Duration) -> Vec<(std::time::Instant, String)> {
    sock.set_read_timeout(Some(quiet)).expect("timeout");
    let mut buf = [0u8; 256];
    let mut out = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        out.push((
            std::time::Instant::now(),
            String::from_utf8_lossy(&buf[..n]).into_owned(),
        ));
    }
    out
}

/// Microseconds since boot on CLOCK_MONOTONIC, near enough: /proc/uptime.
fn uptime_usec() -> u64 {
    let text = std::fs::read_to_string("/proc/uptime").expect("/proc/uptime");
    let secs: f64 = text
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("uptime");
    (secs * 1e6) as u64
}

#[test]
fn the_notify_protocol_says_ready_reloading_ready_stopping_in_order() {
    let bound = Bound::new("protocol", b"notify");
    bound.sock.set_read_timeout(Some(SOON)).expect("timeout");
    let mut s = Scenario::builder(bin(), "notify_app")
        .env("NOTIFY_SOCKET", bound.path.as_os_str())
        .spawn();
    let statuses = recv_ready(&bound.sock);
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("STATUS=Workers: light 3/3 ready")
    );
    let before = uptime_usec();
    s.signal(Signal::SIGHUP);
    // light's reload() restarts each worker; READY=1 once all three are back.
    let mut notes = vec!["READY=1".to_owned()];
    loop {
        let mut buf = [0u8; 256];
        let n = bound.sock.recv(&mut buf).expect("a notification");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if let Some(usec) = msg.strip_prefix("RELOADING=1\nMONOTONIC_USEC=") {
            let usec: u64 = usec.parse().expect("a number of microseconds");
            assert!(
                usec.abs_diff(before) < 5_000_000,
                "MONOTONIC_USEC={usec}, uptime {before}"
            );
            notes.push("RELOADING=1".to_owned());
        } else if !msg.starts_with("STATUS=") {
            let done = msg == "READY=1";
            notes.push(msg);
            if done {
                break;
            }
        }
    }
    s.signal(Signal::SIGTERM);
    let tail = drain_notes(&bound.sock, Duration::from_millis(500));
    notes.extend(
        tail.into_iter()
            .map(|(_, m)| m)
            .filter(|m| !m.starts_with("STATUS=")),
    );
    assert_eq!(notes, ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]);
    s.expect_exit(0);
}
