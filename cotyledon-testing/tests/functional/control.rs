//! The control endpoint (issue 19) on real managers: status and metrics
//! through a crash, a watchdog abort, a recycle and a rolling reload; the
//! commands (the same paths as signals and hooks) are in
//! `control_commands.rs`, hostile clients in `control_hostile.rs`.

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
pub(crate) fn metrics_until(sock: &Path, what: &str, pred: impl Fn(&str) -> bool) -> String {
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
    // Every worker ready as the master sees it (a worker logs first).
    let deadline = Instant::now() + SOON;
    while !call(&sock, "GET", "/status")
        .body
        .contains("\"phase\":\"running\"")
    {
        assert!(Instant::now() < deadline, "never running");
        std::thread::sleep(Duration::from_millis(10));
    }
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
            ("SCENARIO_HEARTBEAT_MS", "1000"),
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
