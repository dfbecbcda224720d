//! `cotyledonctl` against a real manager: its output, its exit statuses (0
//! accepted, 1 refused, 2 usage, 3 unreachable), the socket from the
//! environment, and `top` outside a terminal (one frame per interval).

use std::path::Path;
use std::process::{Command, Output};

use crate::SOON;
use crate::control::control_app;

fn ctl(sock: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cotyledonctl"));
    cmd.env_remove("COTYLEDON_CONTROL_SOCKET");
    if let Some(sock) = sock {
        cmd.env("COTYLEDON_CONTROL_SOCKET", sock);
    }
    cmd.args(args).output().expect("cotyledonctl runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn cotyledonctl_prints_status_and_top_in_80_columns_and_exits_by_outcome() {
    let (mut s, sock, _) = control_app("cli", &[]);
    let out = ctl(Some(&sock), &["status"]);
    let status = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    eprintln!("$ cotyledonctl status\n{status}");
    assert!(
        status.starts_with(&format!("master {}  ", s.pid())),
        "{status}"
    );
    assert!(
        status.contains("\nctl: 2/2 ready\nside: 1/1 ready\n"),
        "{status}"
    );
    assert!(
        status.contains("SERVICE       ID     PID STATE"),
        "{status}"
    );
    assert!(status.lines().all(|l| l.chars().count() < 80), "{status}");
    // --socket wins over the environment.
    let out = ctl(
        Some(Path::new("/nonexistent")),
        &[
            "--socket",
            sock.to_str().expect("utf-8"),
            "status",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out.stdout).starts_with("{\"master\":{\"pid\":"),
        "{out:?}"
    );
    // top, not in a terminal: one frame per interval, as many as asked.
    let out = ctl(Some(&sock), &["top", "--interval", "0.2", "--count", "2"]);
    let top = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    eprintln!("$ cotyledonctl top --interval 0.2 --count 2\n{top}");
    assert_eq!(
        top.matches("SERVICE       ID     PID STATE").count(),
        2,
        "{top}"
    );
    assert!(top.lines().all(|l| l.chars().count() < 80), "{top}");
    assert!(
        !top.contains('\x1b'),
        "no escape sequences outside a terminal: {top:?}"
    );
    let out = ctl(Some(&sock), &["metrics"]);
    assert!(text(&out.stdout).contains("cotyledon_worker_starts_total{service=\"ctl\"} 2\n"));
    // Refused, usage, unreachable.
    let out = ctl(Some(&sock), &["scale", "ctl", "0"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        text(&out.stderr),
        "cotyledonctl: 400 number of workers must be at least 1, got 0\n"
    );
    let out = ctl(Some(&sock), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).starts_with("cotyledonctl: unknown command: frobnicate\n"));
    let out = ctl(None, &["status"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ctl(None, &["--help"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out.stdout).starts_with("usage: cotyledonctl "),
        "{out:?}"
    );
    let out = ctl(Some(Path::new("/nonexistent/control.sock")), &["status"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(text(&out.stderr).starts_with("cotyledonctl: /nonexistent/control.sock: "));
    // Accepted commands.
    let out = ctl(Some(&sock), &["scale", "ctl", "3"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(0), "ctl scaled to 3 workers\n")
    );
    s.wait_for_run("ctl", 2, SOON);
    let out = ctl(Some(&sock), &["restart", "side", "0"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    s.wait_for_line("Control request POST /restart/side/0", SOON);
    let out = ctl(Some(&sock), &["stop"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    s.expect_exit(0);
}
