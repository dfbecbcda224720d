//! Listeners owned by the manager: bound before the first fork and shared by every
//! worker (TCP over IPv4 and IPv6, Unix-domain), typed errors for what cannot be
//! bound, close-on-exec, and systemd socket activation with the real activator
//! (`systemd-socket-activate`), by name or by address, including what must not be
//! adopted.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Instant;

use cotyledon_testing::{Scenario, Signal, fds};
use nix::errno::Errno;

use crate::{SOON, assert_in_order, bin};

mod by_address;
pub(crate) mod systemd;

/// A fresh directory for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("cotyledon-listen-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads one answer (to EOF) from a connection, with the test's deadline.
fn read_answer(mut stream: impl Read) -> String {
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .unwrap_or_else(|e| panic!("no answer: {e} (read so far: {answer:?})"));
    answer.trim_end().to_owned()
}

fn ask_tcp(addr: SocketAddr) -> String {
    let stream = TcpStream::connect_timeout(&addr, SOON)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(SOON)).expect("timeout");
    read_answer(stream)
}

fn ask_unix(path: &Path) -> String {
    let stream =
        UnixStream::connect(path).unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
    stream.set_read_timeout(Some(SOON)).expect("timeout");
    read_answer(stream)
}

/// Waits for "Listener NAME bound to ADDR" from the master; returns ADDR.
fn bound_addr(s: &mut Scenario, name: &str) -> SocketAddr {
    let prefix = format!("INFO:cotyledon::manager:Listener {name} bound to ");
    let line = s.wait_for_line(&prefix, SOON);
    let addr = line[prefix.len()..].parse().expect("an address");
    assert!(
        matches!(addr, SocketAddr::V4(_) | SocketAddr::V6(_)),
        "{line}"
    );
    addr
}

/// Waits for `n` echo workers to run and to serve `name` on `shown`; returns
/// their pids by id.
fn serving(s: &mut Scenario, n: usize, names: &[(&str, String)]) -> BTreeMap<usize, i32> {
    let pids: BTreeMap<usize, i32> = (0..n)
        .map(|id| (id, s.wait_for_run("echo", id, SOON)))
        .collect();
    for id in 0..n {
        for (name, shown) in names {
            s.wait_for_line(&format!("echo({id}) serves {name} on {shown}"), SOON);
        }
    }
    pids
}

/// Asks until every worker of `pids` has answered on listener `name` (each
/// answer must name a worker with its right pid); fails at the deadline.
#[track_caller]
fn every_worker_answers(name: &str, pids: &BTreeMap<usize, i32>, ask: impl Fn() -> String) {
    let deadline = Instant::now() + SOON;
    let mut answers = Vec::new();
    let mut seen = BTreeSet::new();
    while seen.len() < pids.len() {
        assert!(
            Instant::now() < deadline,
            "not every worker answered on {name}: {answers:?} (workers {pids:?})"
        );
        let answer = ask();
        let words: Vec<&str> = answer.split(' ').collect();
        let [listener, "worker", id, "pid", pid] = words[..] else {
            panic!("unexpected answer {answer:?}");
        };
        let id: usize = id.parse().expect("an id");
        assert_eq!(listener, name, "{answer}");
        assert_eq!(
            pids.get(&id).map(i32::to_string).as_deref(),
            Some(pid),
            "{answer} {pids:?}"
        );
        seen.insert(id);
        answers.push(answer);
    }
}

#[test]
fn a_tcp_listener_bound_by_the_master_is_shared_by_every_worker() {
    let mut s = Scenario::builder(bin(), "listen_app")
        .env("SCENARIO_LISTEN", "http=tcp:127.0.0.1:0")
        .spawn();
    let addr = bound_addr(&mut s, "http");
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    // Each worker got the master's socket (same address), not one of its own.
    let pids = serving(&mut s, 3, &[("http", addr.to_string())]);
    every_worker_answers("http", &pids, || ask_tcp(addr));
    s.end_with(Signal::SIGTERM, 0);
    assert_in_order(
        &s.masked_lines(),
        &[
            &format!(
                "INFO:cotyledon::manager:Listener http bound to 127.0.0.1:{}",
                addr.port()
            ),
            "DEBUG:cotyledon::worker:Run service echo(0) [XXXX]",
            "DEBUG:cotyledon::manager:Shutdown finish",
        ],
    );
    // Gone with the master: the port can be bound again.
    TcpListener::bind(addr).expect("the port is free after the shutdown");
}

#[test]
fn ipv6_and_unix_listeners_serve_side_by_side() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("\n!!! SKIPPED: this host has no IPv6 loopback ([::1] cannot be bound) !!!\n");
        return;
    }
    let dir = TempDir::new("v6-unix");
    let path = dir.join("local.sock");
    let mut s = Scenario::builder(bin(), "listen_app")
        .env(
            "SCENARIO_LISTEN",
            format!("v6=tcp:[::1]:0,local=unix:{}", path.display()),
        )
        .env("SCENARIO_WORKERS", "2")
        .spawn();
    let addr = bound_addr(&mut s, "v6");
    assert!(addr.is_ipv6() && addr.port() != 0, "{addr}");
    s.wait_for_line(&format!("Listener local bound to {}", path.display()), SOON);
    let pids = serving(
        &mut s,
        2,
        &[
            ("v6", addr.to_string()),
            ("local", path.display().to_string()),
        ],
    );
    every_worker_answers("v6", &pids, || ask_tcp(addr));
    every_worker_answers("local", &pids, || ask_unix(&path));
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn listeners_that_cannot_be_bound_are_typed_errors_with_the_system_error() {
    let dir = TempDir::new("errors");
    let busy = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let _live = UnixListener::bind(dir.join("live.sock")).expect("live socket");
    drop(UnixListener::bind(dir.join("stale.sock")).expect("stale socket"));
    std::fs::write(dir.join("file"), "data").expect("regular file");
    let ro = dir.join("ro");
    std::fs::create_dir(&ro).expect("ro dir");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let mut s = Scenario::builder(bin(), "listen_errors")
        .env("SCENARIO_DIR", &dir.0)
        .env(
            "SCENARIO_BUSY_PORT",
            busy.local_addr().expect("addr").port().to_string(),
        )
        .spawn();
    let out = s.expect_exit(0);
    let errno = |e: Errno| e as i32;
    let lines = s.lines().to_vec();
    // The outcome, with the address of a failed listener ("… on tcp ADDR: …",
    // which varies from run to run) taken out once checked to be there.
    let case = |name: &str| -> String {
        let prefix = format!("ERROR:scenarios::listeners:case {name}: ");
        let line = lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no case {name}: {out:?}"));
        match line.split_once(" on ") {
            Some((head, rest)) if head.starts_with("could not open listener ") => {
                let (address, tail) = rest.split_once(": ").expect("a cause");
                assert!(
                    address.starts_with("tcp ") || address.starts_with("unix /"),
                    "{line}"
                );
                format!("{head}: {tail}")
            }
            _ => line.to_owned(),
        }
    };
    let failed = |listener: &str, kind: &str, e: Errno| {
        format!(
            "could not open listener {listener}: {kind}, errno {}",
            errno(e)
        )
    };
    // Address in use: a port another process listens on, a live Unix socket, a
    // regular file at the path.
    assert_eq!(
        case("busy_port"),
        failed("busy", "AddrInUse", Errno::EADDRINUSE)
    );
    assert_eq!(
        case("live_socket"),
        failed("live", "AddrInUse", Errno::EADDRINUSE)
    );
    assert_eq!(
        case("regular_file"),
        failed("file", "AddrInUse", Errno::EADDRINUSE)
    );
    assert_eq!(std::fs::read(dir.join("file")).expect("kept"), b"data");
    // Bad addresses: an IP that is not this machine's (TEST-NET-1), a path whose
    // directory is missing, a path longer than sun_path.
    assert_eq!(
        case("not_this_machine"),
        failed("far", "AddrNotAvailable", Errno::EADDRNOTAVAIL)
    );
    assert_eq!(
        case("no_such_dir"),
        failed("nodir", "NotFound", Errno::ENOENT)
    );
    let long = case("path_too_long");
    assert!(
        long.starts_with("could not open listener long: ")
            && long.ends_with(&format!("errno {}", errno(Errno::ENAMETOOLONG))),
        "{long}"
    );
    // A socket file nothing listens on is replaced, and says so.
    assert_eq!(case("stale_socket"), "ok");
    s.wait_for_line(
        &format!(
            "INFO:cotyledon::manager:Removed the stale socket {} (nothing accepted on it)",
            dir.join("stale.sock").display()
        ),
        SOON,
    );
    assert_eq!(case("first"), "ok");
    assert_eq!(case("duplicate"), "duplicate listener name dup");
    assert_eq!(case("huge_backlog"), "ok");
    // Without root (the scenario drops it to nobody): a directory it may not
    // write to, a port below net.ipv4.ip_unprivileged_port_start.
    let uid = s.wait_for_line("running as uid ", SOON);
    if nix::unistd::Uid::effective().is_root() {
        assert!(uid.ends_with("running as uid 65534"), "{uid}");
    }
    assert_eq!(
        case("read_only_dir"),
        failed("ro", "PermissionDenied", Errno::EACCES)
    );
    let unprivileged: u32 =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1024);
    let expected = if unprivileged > 1 {
        failed("low", "PermissionDenied", Errno::EACCES)
    } else {
        "ok".to_owned()
    };
    assert_eq!(case("privileged_port"), expected);
}

#[test]
fn a_worker_asking_for_an_unknown_or_wrong_kind_listener_gets_a_typed_error() {
    for (serve, error) in [
        ("tcp:nope", "unknown listener nope"),
        (
            "tcp:http,unix:http",
            "listener http is not a Unix-domain listener",
        ),
    ] {
        let mut s = Scenario::builder(bin(), "listen_app")
            .env("SCENARIO_LISTEN", "http=tcp:127.0.0.1:0")
            .env("SCENARIO_SERVE", serve)
            .env("SCENARIO_WORKERS", "1")
            .spawn();
        let pid = s.wait_for_run("echo", 0, SOON);
        s.wait_for_line(
            &format!("ERROR:cotyledon::worker:run() failed: {error} (service echo(0) [{pid}])"),
            SOON,
        );
        s.wait_for_line(&format!("Child {pid} exited with status 2"), SOON);
        // The master carries on: the worker is respawned.
        s.wait_for_run("echo", 0, SOON);
        s.end_with(Signal::SIGTERM, 0);
    }
}

/// The `socket:[INODE]` targets among the fds of `pid`, with their cloexec flags.
fn sockets(pid: i32) -> Vec<(String, bool)> {
    fds(pid)
        .into_iter()
        .filter(|e| e.target.starts_with("socket:"))
        .map(|e| (e.target, e.cloexec))
        .collect()
}

#[test]
fn listeners_are_close_on_exec_in_the_master_and_the_workers() {
    let dir = TempDir::new("cloexec");
    let mut s = Scenario::builder(bin(), "listen_app")
        .env(
            "SCENARIO_LISTEN",
            format!(
                "http=tcp:127.0.0.1:0,local=unix:{}",
                dir.join("l.sock").display()
            ),
        )
        .env("SCENARIO_WORKERS", "1")
        .env("SCENARIO_EXEC_LS", "1")
        .spawn();
    let worker = s.wait_for_run("echo", 0, SOON);
    s.wait_for_line("exec fds done", SOON);
    let master = sockets(s.pid());
    assert_eq!(master.len(), 2, "the master's two listeners: {master:?}");
    assert!(master.iter().all(|(_, cloexec)| *cloexec), "{master:?}");
    // The worker holds them (inherited, and the dups it asked for), all cloexec.
    let mine = sockets(worker);
    for (target, _) in &master {
        assert!(
            mine.iter().filter(|(t, _)| t == target).count() >= 2,
            "{mine:?}"
        );
    }
    assert!(mine.iter().all(|(_, cloexec)| *cloexec), "{mine:?}");
    // The program it execs has none of them.
    let exec: Vec<&String> = s
        .lines()
        .iter()
        .filter(|l| l.contains(":exec fd: "))
        .collect();
    assert!(
        exec.iter().any(|l| l.contains(" 0 -> ")),
        "ls listed its fds: {exec:?}"
    );
    for (target, _) in &master {
        assert!(
            !exec.iter().any(|l| l.ends_with(target.as_str())),
            "{target} leaked: {exec:?}"
        );
    }
    s.end_with(Signal::SIGTERM, 0);
}
