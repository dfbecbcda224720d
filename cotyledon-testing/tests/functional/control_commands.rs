//! Commands of the control endpoint on real managers (issue 19): each takes
//! the same path as a signal or a hook's `ManagerHandle` call; refusals are
//! typed errors' texts with the status codes a client expects; SIGTTIN and
//! SIGTTOU; the builder's typed errors for bad endpoints.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use cotyledon_testing::{Scenario, Signal, fds};

use crate::control::{call, control_app, metrics_until, sample, temp_dir};
use crate::{SOON, bin};

#[test]
fn control_commands_take_the_same_paths_as_signals_and_hooks_and_refuse_bad_input() {
    let (mut s, sock, _) = control_app("commands", &[]);
    let post = |path: &str| call(&sock, "POST", path);
    // A client connected while a worker is forked: the worker gets none of
    // the master's sockets (listener, clients).
    let idle = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    let r = post("/scale/ctl/3");
    assert_eq!(
        (r.status, r.body.as_str()),
        (202, "ctl scaled to 3 workers\n")
    );
    let third = s.wait_for_run("ctl", 2, SOON);
    let sockets = |pid: i32| -> Vec<String> {
        fds(pid)
            .into_iter()
            .filter(|e| e.target.starts_with("socket:"))
            .map(|e| e.target)
            .collect()
    };
    let master = sockets(s.pid());
    assert!(master.len() >= 2, "listener and a client: {master:?}");
    let leaked: Vec<String> = sockets(third)
        .into_iter()
        .filter(|t| master.contains(t))
        .collect();
    assert!(leaked.is_empty(), "master sockets in a worker: {leaked:?}");
    drop(idle);
    let first = s.wait_for_line("Control request POST /scale/ctl/3", SOON);
    assert!(first.starts_with("INFO:cotyledon::manager:"), "{first}");
    // One worker restarted (SIGTERM, respawned), one stopped and held, then
    // started again; a rolling restart.
    assert_eq!(post("/restart/ctl/1").status, 202);
    s.wait_for_run("ctl", 1, SOON);
    assert_eq!(post("/stop/ctl/0").status, 202);
    s.wait_for_line("Child ", SOON);
    let held = || {
        call(&sock, "GET", "/status")
            .body
            .contains("{\"id\":0,\"pid\":null,\"state\":\"held\"")
    };
    let deadline = Instant::now() + SOON;
    while !held() {
        assert!(Instant::now() < deadline, "ctl(0) never held");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(post("/start/ctl/0").status, 202);
    s.wait_for_run("ctl", 0, SOON);
    assert_eq!(post("/restart/ctl").status, 202);
    s.wait_for_line("Rolling restart of ctl: 3 workers, 1 at a time", SOON);
    s.wait_for_line("Rolling restart of ctl done", SOON);
    // Refusals: typed errors' texts, the status codes a client expects.
    let refused = [
        (
            "/scale/ctl/0",
            400,
            "number of workers must be at least 1, got 0",
        ),
        (
            "/scale/ctl/5000",
            400,
            "at most 4096 workers per service and in total, got 5000",
        ),
        ("/scale/ctl/x", 400, "not a number: x"),
        ("/scale/ctl/-1", 400, "not a number: -1"),
        (
            "/scale/nope/2",
            404,
            "unknown service nope (services: ctl, side)",
        ),
        (
            "/restart/ctl/9",
            404,
            "ctl has no worker id 9 (it has 3 workers)",
        ),
        ("/restart/nope", 404, "unknown service nope"),
        ("/frobnicate", 404, "no such endpoint: /frobnicate"),
    ];
    for (path, code, text) in refused {
        let r = post(path);
        assert_eq!(r.status, code, "{path}: {r:?}");
        assert!(r.body.contains(text), "{path}: {r:?}");
    }
    let r = call(&sock, "GET", "/reload");
    assert_eq!(r.status, 405, "{r:?}");
    let r = call(&sock, "POST", "/metrics");
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(call(&sock, "GET", "/").status, 200);
    // Nothing refused changed anything.
    let m = call(&sock, "GET", "/metrics").body;
    assert_eq!(
        sample(&m, "cotyledon_workers_desired{service=\"ctl\"}"),
        3.0
    );
    let r = post("/shutdown");
    assert_eq!(
        (r.status, r.body.as_str()),
        (202, "graceful shutdown requested\n")
    );
    s.wait_for_line(
        "Caught SIGTERM signal, graceful exiting of master process",
        SOON,
    );
    s.expect_exit(0);
}

#[test]
fn commands_during_a_shutdown_are_refused_and_the_status_says_stopping() {
    let (mut s, sock, _) = control_app("stopping", &[("SCENARIO_STOP_MS", "1500")]);
    assert_eq!(call(&sock, "POST", "/shutdown").status, 202);
    s.wait_for_line("Killing services with signal SIGTERM", SOON);
    let body = call(&sock, "GET", "/status").body;
    assert!(body.contains("\"phase\":\"stopping\""), "{body}");
    assert!(
        body.contains("\"state\":\"stopping\",\"stopping_for\":\"shutdown\""),
        "{body}"
    );
    let r = call(&sock, "POST", "/scale/ctl/5");
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, "the manager is shutting down: nothing changes\n")
    );
    assert_eq!(call(&sock, "POST", "/reload").status, 409);
    assert_eq!(call(&sock, "POST", "/shutdown").status, 202);
    s.expect_exit(0);
    let lines = s.lines().join("\n");
    assert!(!lines.contains("Run service ctl(2)"), "{lines}");
}

#[test]
fn sigttin_and_sigttou_add_and_remove_one_worker_of_every_service() {
    let (mut s, sock, _) = control_app("ttin", &[]);
    s.signal(Signal::SIGTTIN);
    s.wait_for_line(
        "Caught SIGTTIN signal, one more worker for every service",
        SOON,
    );
    s.wait_for_run("ctl", 2, SOON);
    s.wait_for_run("side", 1, SOON);
    s.signal(Signal::SIGTTOU);
    s.wait_for_line(
        "Caught SIGTTOU signal, one fewer worker for every service",
        SOON,
    );
    s.skip_pending_lines();
    s.signal(Signal::SIGTTOU);
    s.wait_for_line("SIGTTOU: side keeps its one worker", SOON);
    let m = metrics_until(&sock, "scaled down", |m| {
        sample(
            m,
            "cotyledon_worker_exits_total{service=\"ctl\",reason=\"scale_down\"}",
        ) == 2.0
            && sample(
                m,
                "cotyledon_worker_exits_total{service=\"side\",reason=\"scale_down\"}",
            ) == 1.0
    });
    assert_eq!(
        sample(&m, "cotyledon_workers_desired{service=\"ctl\"}"),
        1.0
    );
    assert_eq!(
        sample(&m, "cotyledon_workers_desired{service=\"side\"}"),
        1.0
    );
    // The master was not stopped by them (their default action).
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn bad_control_endpoints_are_typed_errors_and_a_stale_socket_is_replaced() {
    let dir = temp_dir("errors");
    let _live = std::os::unix::net::UnixListener::bind(dir.join("live.sock")).expect("live");
    drop(std::os::unix::net::UnixListener::bind(dir.join("stale.sock")).expect("stale"));
    std::fs::write(dir.join("file"), b"").expect("file");
    std::fs::create_dir(dir.join("ro")).expect("ro");
    std::fs::set_permissions(dir.join("ro"), std::fs::Permissions::from_mode(0o555)).expect("ro");
    let mut s = Scenario::builder(bin(), "control_errors")
        .env("SCENARIO_DIR", &dir)
        .spawn();
    let out = s.wait_exit(SOON);
    let lines: Vec<String> = s.lines().to_vec();
    let case = |name: &str| -> String {
        let prefix = format!("case {name}: ");
        lines
            .iter()
            .find_map(|l| l.split_once(&prefix).map(|(_, o)| o.to_owned()))
            .unwrap_or_else(|| panic!("no case {name}: {lines:#?}"))
    };
    let live = dir.join("live.sock");
    assert_eq!(
        case("live_socket"),
        format!(
            "error: control socket {} is in use by a live process",
            live.display()
        )
    );
    assert_eq!(case("stale_socket"), "ok");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Removed the stale control socket"))
    );
    // ENAMETOOLONG: InvalidFilename in Rust 1.87 and later.
    let long = case("path_too_long");
    assert!(
        long.ends_with("(kind InvalidFilename)") || long.ends_with("(kind InvalidInput)"),
        "{lines:#?}"
    );
    assert!(
        case("no_such_dir").ends_with("(kind NotFound)"),
        "{lines:#?}"
    );
    assert!(
        case("regular_file").ends_with("(kind AddrInUse)"),
        "{lines:#?}"
    );
    assert!(
        case("read_only_dir").ends_with("(kind PermissionDenied)"),
        "{lines:#?}"
    );
    assert_eq!(
        case("not_loopback"),
        "error: control address 192.0.2.1:9100 is not a loopback address"
    );
    assert!(out.status.success(), "{out:?}");
    assert!(dir.join("file").exists(), "a regular file is never removed");
}
