//! The watchdog: `WATCHDOG=1` every half of `WATCHDOG_USEC` while the master's
//! loop runs, not for another pid or a malformed value; and a notify socket that
//! disappears while it pings is reported once, not at every ping, and its return
//! once.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use cotyledon_testing::{Scenario, Signal};

use super::{Bound, drain_notes, recv_ready};
use crate::{SOON, bin};

#[test]
fn a_notify_socket_removed_under_the_watchdog_is_reported_once_then_its_return() {
    let bound = Bound::new("removed", b"notify");
    bound.sock.set_read_timeout(Some(SOON)).expect("timeout");
    // A ping every 50 ms.
    let mut s = Scenario::builder(bin(), "notify_app")
        .env("NOTIFY_SOCKET", bound.path.as_os_str())
        .env("WATCHDOG_USEC", "100000")
        .spawn();
    let mut buf = [0u8; 64];
    // READY=1, among pings and STATUS= lines.
    loop {
        let n = bound
            .sock
            .recv(&mut buf)
            .expect("READY=1 within the deadline");
        if &buf[..n] == b"READY=1" {
            break;
        }
    }
    std::fs::remove_file(&bound.path).expect("unlink the notify socket");
    let shown = bound.path.display();
    let warning = format!(
        "WARN:cotyledon::manager:Could not notify systemd at {shown}: No such file or \
         directory (os error 2)"
    );
    s.wait_for_line(&warning, SOON);
    // A second of failing pings (some twenty): no second line about them. (A
    // bounded wait: the old code warned at every ping, without a quiet moment.)
    let about = |l: &str| l.contains("notify systemd") || l.contains("notify socket");
    if let Ok(again) = s.wait_for(about, Duration::from_secs(1)) {
        s.fail(&format!("a second line about the failed pings: {again}"));
    }
    // The socket is back: one line says so, with the count of failed sends.
    let back = UnixDatagram::bind(&bound.path).expect("bind the notify socket again");
    back.set_read_timeout(Some(SOON)).expect("timeout");
    let n = back.recv(&mut buf).expect("pings again");
    assert!(buf[..n].starts_with(b"WATCHDOG=1") || buf[..n].starts_with(b"STATUS="));
    let prefix =
        format!("INFO:cotyledon::manager:The systemd notify socket {shown} works again after ");
    let again = s.wait_for_line(&prefix, SOON);
    let failed: u64 = again[prefix.len()..]
        .strip_suffix(" failed sends")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{again}"));
    assert!(failed >= 2, "failures were not logged one by one: {again}");
    s.end_with(Signal::SIGTERM, 0);
    let lines: Vec<&String> = s.lines().iter().filter(|l| about(l)).collect();
    assert_eq!(
        lines,
        [&warning, &again],
        "one warning, one line for the return"
    );
}

#[test]
fn the_watchdog_is_pinged_every_half_period_only_while_the_loop_runs() {
    let bound = Bound::new("watchdog", b"notify");
    let release = bound.dir.join("release");
    let mut s = Scenario::builder(bin(), "blocking_hook_app")
        .env("NOTIFY_SOCKET", bound.path.as_os_str())
        .env("WATCHDOG_USEC", "200000")
        .env("SCENARIO_BLOCK", "reload")
        .env("SCENARIO_GRACEFUL_MS", "60000")
        .env("SCENARIO_RELEASE_FILE", release.as_os_str())
        .spawn();
    s.wait_for_run("light", 1, SOON);
    // 1.5 s of notifications: pings every 100 ms.
    let start = std::time::Instant::now();
    let mut times = Vec::new();
    bound
        .sock
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    while start.elapsed() < Duration::from_millis(1500) {
        let n = bound.sock.recv(&mut buf).expect("a ping within 1 s");
        if &buf[..n] == b"WATCHDOG=1" {
            times.push(std::time::Instant::now());
        }
    }
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    eprintln!("watchdog: {} pings, median gap {median:?}", times.len());
    // Every half period, not every period or quarter of it (200 or 50 ms). A
    // ping late on a loaded machine moves one or two gaps, not the median; a
    // tighter window would judge the scheduler, which the contract does not
    // promise anything about.
    assert!(
        (Duration::from_millis(80)..=Duration::from_millis(130)).contains(&median),
        "median gap {median:?} for WATCHDOG_USEC=200000 (gaps {gaps:?})"
    );
    // A master stuck in a hook stops pinging (systemd's watchdog then acts).
    s.signal(Signal::SIGHUP);
    s.wait_for_line("reload hook blocks", SOON);
    let _ = drain_notes(&bound.sock, Duration::from_millis(150));
    let stuck = drain_notes(&bound.sock, Duration::from_millis(600));
    assert!(stuck.is_empty(), "pings while the hook blocks: {stuck:?}");
    std::fs::write(&release, b"go").expect("release");
    bound.sock.set_read_timeout(Some(SOON)).expect("timeout");
    loop {
        let n = bound.sock.recv(&mut buf).expect("pings again");
        if &buf[..n] == b"WATCHDOG=1" {
            break;
        }
    }
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_watchdog_for_another_pid_or_malformed_is_not_used() {
    for (usec, pid, warned) in [("200000", Some("1"), false), ("soon", None, true)] {
        let bound = Bound::new("watchdog-not", b"notify");
        bound.sock.set_read_timeout(Some(SOON)).expect("timeout");
        let mut b = Scenario::builder(bin(), "notify_app")
            .env("NOTIFY_SOCKET", bound.path.as_os_str())
            .env("WATCHDOG_USEC", usec);
        if let Some(pid) = pid {
            b = b.env("WATCHDOG_PID", pid);
        }
        let mut s = b.spawn();
        recv_ready(&bound.sock);
        let later = drain_notes(&bound.sock, Duration::from_millis(400));
        assert!(
            !later.iter().any(|(_, m)| m == "WATCHDOG=1"),
            "{usec} {pid:?}: {later:?}"
        );
        if warned {
            s.wait_for_line(
                "systemd watchdog not used: WATCHDOG_USEC=\"soon\" is not a positive number",
                SOON,
            );
        }
        s.end_with(Signal::SIGTERM, 0);
    }
}
