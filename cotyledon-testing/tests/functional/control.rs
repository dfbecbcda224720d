//! The control endpoint (issue 19) on real managers: status and metrics
//! through a crash, a watchdog abort, a recycle and a rolling reload; the
//! commands (the same paths as signals and hooks) and their refusals;
//! SIGTTIN/SIGTTOU; the builder's typed errors. Hostile clients are in
//! `control_hostile.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cotyledon::ctl::{Endpoint, Response, request};
use cotyledon_testing::{Scenario, Signal};

use crate::serving::serving;
use crate::{SOON, bin};

/// A fresh temp directory of this test.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cotyledon-ctl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// One request to the socket at `sock`.
#[track_caller]
pub(crate) fn call(sock: &Path, method: &str, path: &str) -> Response {
    request(&Endpoint::Unix(sock.to_owned()), method, path)
        .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", sock.display()))
}

/// The value of the sample `series` (`name{labels}`) in a scrape.
#[track_caller]
pub(crate) fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in\n{scrape}"))
}

/// Scrapes until `pred` holds on the metrics (the counters of events whose log
/// lines were read are already moved; the ones after may still be coming).
#[track_caller]
fn metrics_until(sock: &Path, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + SOON;
    loop {
        let scrape = call(sock, "GET", "/metrics").body;
        if pred(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "{what}: never\n{scrape}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// control_app with its control socket in a fresh directory; and the pid of
/// its worker ctl(0).
pub(crate) fn control_app(tag: &str, env: &[(&str, &str)]) -> (Scenario, PathBuf, i32) {
    let sock = temp_dir(tag).join("control.sock");
    let mut b = Scenario::builder(bin(), "control_app").env("SCENARIO_CONTROL_SOCKET", &sock);
    for (k, v) in env {
        b = b.env(k, v);
    }
    let mut s = b.spawn();
    let pid = s.wait_for_run("ctl", 0, SOON);
    s.wait_for_run("ctl", 1, SOON);
    s.wait_for_run("side", 0, SOON);
    (s, sock, pid)
}

#[test]
fn status_and_metrics_follow_a_crash_a_watchdog_abort_a_recycle_and_a_rolling_reload() {
    let dir = temp_dir("story");
    let sock = dir.join("control.sock");
    let hang = dir.join("hang");
    let recycle = dir.join("recycle");
    let path = |p: &PathBuf| p.to_str().expect("utf-8").to_owned();
    let (sock_s, hang_s, recycle_s) = (path(&sock), path(&hang), path(&recycle));
    let (mut s, old) = serving(
        &[
            ("SCENARIO_CONTROL_SOCKET", &sock_s),
            ("SCENARIO_HANG_ONCE_FILE", &hang_s),
            ("SCENARIO_RECYCLE_FILE", &recycle_s),
            ("SCENARIO_HEARTBEAT_MS", "500"),
        ],
        2,
    );
    // Only the master's user may connect.
    let mode = std::fs::metadata(&sock)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // Ready as the master sees it (a worker logs before it tells the master).
    metrics_until(&sock, "both ready", |m| {
        sample(m, "cotyledon_workers{service=\"web\",state=\"ready\"}") == 2.0
    });
    let status = call(&sock, "GET", "/status");
    assert_eq!(status.status, 200);
    let body = &status.body;
    assert!(body.contains(&format!("\"pid\":{}", s.pid())), "{body}");
    assert!(body.contains("\"phase\":\"running\""), "{body}");
    assert!(
        body.contains(&format!("\"id\":0,\"pid\":{},\"state\":\"ready\"", old[0])),
        "{body}"
    );
    assert!(body.contains("\"heartbeat_age_seconds\":0."), "{body}");
    let m = call(&sock, "GET", "/metrics").body;
    assert_eq!(
        sample(&m, "cotyledon_worker_starts_total{service=\"web\"}"),
        2.0
    );
    assert_eq!(
        sample(&m, "cotyledon_workers{service=\"web\",state=\"ready\"}"),
        2.0
    );

    // A crash.
    s.kill(old[0], Signal::SIGKILL);
    s.wait_for_line(&format!("Child {} killed by signal SIGKILL", old[0]), SOON);
    s.wait_for_line("web ready id=0", SOON);
    let m = call(&sock, "GET", "/metrics").body;
    assert_eq!(
        sample(
            &m,
            "cotyledon_worker_exits_total{service=\"web\",reason=\"crash\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&m, "cotyledon_worker_starts_total{service=\"web\"}"),
        3.0
    );
    let body = call(&sock, "GET", "/status").body;
    assert!(
        body.contains("\"restarts\":1,")
            && body.contains("\"signal\":\"SIGKILL\",\"reason\":\"crash\""),
        "{body}"
    );

    // A watchdog abort: the one worker that takes the file stops beating.
    std::fs::write(&hang, b"").expect("hang file");
    let line = s.wait_for_line("web hangs id=", SOON);
    let id: usize = line
        .rsplit('=')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("id");
    s.wait_for_line(&format!("Worker web({id}) ["), SOON);
    s.wait_for_line("killed by signal SIGABRT", SOON);
    let m = metrics_until(&sock, "abort reaped and replaced", |m| {
        sample(m, "cotyledon_workers{service=\"web\",state=\"ready\"}") == 2.0
            && sample(m, "cotyledon_worker_starts_total{service=\"web\"}") == 4.0
    });
    assert_eq!(
        sample(&m, "cotyledon_watchdog_aborts_total{service=\"web\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "cotyledon_worker_exits_total{service=\"web\",reason=\"watchdog\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "cotyledon_worker_exits_total{service=\"web\",reason=\"crash\"}"
        ),
        1.0
    );

    // A recycle the worker asks for.
    let before = sample(
        &m,
        "cotyledon_worker_exits_total{service=\"web\",reason=\"recycle\"}",
    );
    assert_eq!(before, 0.0);
    std::fs::write(&recycle, b"").expect("recycle file");
    s.wait_for_line("asked by the worker", SOON);
    let m = metrics_until(&sock, "recycled", |m| {
        sample(
            m,
            "cotyledon_worker_exits_total{service=\"web\",reason=\"recycle\"}",
        ) == 1.0
            && sample(m, "cotyledon_workers{service=\"web\",state=\"ready\"}") == 2.0
    });
    assert_eq!(
        sample(
            &m,
            "cotyledon_recycles_total{service=\"web\",cause=\"asked\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "cotyledon_recycles_total{service=\"web\",cause=\"lifetime\"}"
        ),
        0.0
    );

    // A rolling reload, asked through the endpoint.
    let r = call(&sock, "POST", "/reload");
    assert_eq!((r.status, r.body.as_str()), (202, "reload requested\n"));
    s.wait_for_line("Rolling reload of web done", SOON);
    let m = call(&sock, "GET", "/metrics").body;
    assert_eq!(sample(&m, "cotyledon_reloads_total"), 1.0);
    assert_eq!(
        sample(
            &m,
            "cotyledon_rollouts_total{service=\"web\",result=\"done\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "cotyledon_rollouts_total{service=\"web\",result=\"stopped\"}"
        ),
        0.0
    );
    assert_eq!(
        sample(
            &m,
            "cotyledon_rollout_duration_seconds_count{service=\"web\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "cotyledon_rollout_duration_seconds_bucket{service=\"web\",le=\"+Inf\"}"
        ),
        1.0
    );
    let m = metrics_until(&sock, "rollout exits", |m| {
        sample(
            m,
            "cotyledon_worker_exits_total{service=\"web\",reason=\"rollout\"}",
        ) == 2.0
    });
    // Nothing else moved: no crash, boot timeout or fork failure more.
    assert_eq!(
        sample(
            &m,
            "cotyledon_worker_exits_total{service=\"web\",reason=\"crash\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&m, "cotyledon_boot_timeouts_total{service=\"web\"}"),
        0.0
    );
    assert_eq!(
        sample(&m, "cotyledon_fork_failures_total{service=\"web\"}"),
        0.0
    );
    assert!(
        m.contains("\ncotyledon_worker_resident_memory_bytes{service=\"web\",worker_id=\"1\"} ")
    );
    let table = call(&sock, "GET", "/status.txt").body;
    eprintln!("{table}");
    assert!(table.lines().all(|l| l.chars().count() < 80), "{table}");
    s.end_with(Signal::SIGTERM, 0);
    assert!(!sock.exists(), "the socket file goes with the master");
}

#[test]
fn control_commands_take_the_same_paths_as_signals_and_hooks_and_refuse_bad_input() {
    let (mut s, sock, _) = control_app("commands", &[]);
    let post = |path: &str| call(&sock, "POST", path);
    let r = post("/scale/ctl/3");
    assert_eq!(
        (r.status, r.body.as_str()),
        (202, "ctl scaled to 3 workers\n")
    );
    s.wait_for_run("ctl", 2, SOON);
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
        ("/restart/ctl/9", 404, "has no worker id 9"),
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
    // root writes anywhere.
    if !nix::unistd::Uid::effective().is_root() {
        assert!(
            case("read_only_dir").ends_with("(kind PermissionDenied)"),
            "{lines:#?}"
        );
    }
    assert_eq!(
        case("not_loopback"),
        "error: control address 192.0.2.1:9100 is not a loopback address"
    );
    assert!(out.status.success(), "{out:?}");
    assert!(dir.join("file").exists(), "a regular file is never removed");
}
