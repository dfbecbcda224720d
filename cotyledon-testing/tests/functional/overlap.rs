//! Events that overlap (issue 15): a SIGHUP or a `reconfigure` during a rolling
//! reload, a SIGHUP during a slow in-place reload, a SIGTERM behind a flood of
//! SIGHUPs. Each promise is read from the real log lines (and notifications) of
//! a real manager: capacity never drops by more than the batch, no reload is
//! lost, READY=1 means every worker reloaded, SIGTERM comes first.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cotyledon_testing::{Scenario, Signal, is_alive};

use crate::SOON;

/// A rollout of several boots of 0.8 s on a loaded machine: generous.
pub(crate) const ROLLOUT: Duration = Duration::from_secs(40);

/// A fresh temp directory for this test (`tag` must be unique per test).
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cotyledon-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Starts serving_app (web × `n`) with `env`, waits for its workers to be
/// ready, then sets aside every line read so far; returns their pids by id.
pub(crate) fn serving(env: &[(&str, &str)], n: usize) -> (Scenario, Vec<i32>) {
    let (mut s, pids) = crate::serving::serving(env, n);
    // Each worker logs its boot line before its ready line: all are read.
    s.skip_pending_lines();
    (s, pids)
}

/// The id in `web(ID)` or at the end of `… id=ID`, if `line` has `marker` there.
fn id_after(line: &str, marker: &str) -> Option<usize> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The most web workers out of service at once in `lines`: a worker is out
/// from the line where it starts to leave (it caught SIGTERM, the default
/// reload's path too) or starts an in-place reload, until its replacement's
/// `web ready id=N` or its `web reloaded id=N`. The master takes a step only
/// once it knows the previous worker serves, which that worker logs before
/// telling it, and a worker logs what it caught after the master sent it: so
/// the order of these lines in the one pipe is the order of the events.
pub(crate) fn most_out(lines: &[String]) -> usize {
    let mut out = HashSet::new();
    let mut most = 0;
    for line in lines {
        if let Some(id) = id_after(line, "graceful exiting of service web(")
            .or_else(|| id_after(line, "web reload id="))
        {
            out.insert(id);
        } else if let Some(id) =
            id_after(line, "web ready id=").or_else(|| id_after(line, "web reloaded id="))
        {
            out.remove(&id);
        }
        most = most.max(out.len());
    }
    most
}

/// The pid of every `Run service web(ID) [PID]` line, in order, with its index.
fn runs(lines: &[String]) -> Vec<(usize, usize, i32)> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(at, l)| {
            let id = id_after(l, "Run service web(")?;
            let pid = l.rsplit_once('[')?.1.trim_end_matches(']').parse().ok()?;
            Some((at, id, pid))
        })
        .collect()
}

/// Asserts that the last process of each id `0..n` was forked after line
/// `since` (its `Run service` line comes later, and its pid was never seen
/// before), and that it is alive.
#[track_caller]
fn all_forked_after(s: &Scenario, since: usize, n: usize) {
    let lines = s.lines();
    let all = runs(lines);
    let before: HashSet<i32> = all.iter().filter(|r| r.0 < since).map(|r| r.2).collect();
    let last: BTreeMap<usize, (usize, i32)> = all.iter().map(|r| (r.1, (r.0, r.2))).collect();
    assert_eq!(last.len(), n, "{lines:#?}");
    for (id, (at, pid)) in last {
        assert!(
            at >= since && !before.contains(&pid) && is_alive(pid),
            "web({id}) [{pid}] is not a process forked after the last SIGHUP: {lines:#?}"
        );
    }
}

/// Issue 15 item 1: a SIGHUP while a rolling reload (batch 1) replaces worker 1
/// folds into the rollout: never more than one of three workers out of
/// service, and at the end every worker is a process forked after the second
/// SIGHUP. Before, the second rollout stopped worker 0 at once (1 of 3 served).
#[test]
fn a_sighup_during_a_rolling_reload_folds_into_it_and_capacity_holds() {
    let (mut s, _) = serving(&[("SCENARIO_BOOT_MS", "800")], 3);
    let start = s.lines().len();
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web: 3 workers, 1 at a time", SOON);
    s.wait_for_line("web ready id=0", ROLLOUT);
    // Worker 1's replacement boots (0.8 s): SIGHUP again.
    s.wait_for_line("web boot id=1", ROLLOUT);
    let second = s.lines().len();
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web done", ROLLOUT);
    let lines = s.lines().to_vec();
    assert_eq!(most_out(&lines[start..]), 1, "{lines:#?}");
    all_forked_after(&s, second, 3);
    assert!(
        lines[second..]
            .iter()
            .any(|l| l.contains("folded into the rollout under way")),
        "{lines:#?}"
    );
    s.end_with(Signal::SIGTERM, 0);
}

/// Issue 15 item 1, with a `reconfigure` (2 → 3 workers, from the reload hook)
/// while the rollout replaces worker 1: of the two workers, one at least
/// serves all along (a new id booting is not a worker out of service), and at
/// the end all three are processes forked after the second SIGHUP. Before,
/// the new rollout stopped worker 0 at once: none of the two served.
#[test]
fn a_reconfigure_during_a_rolling_reload_keeps_capacity_and_ends_fresh() {
    let dir = temp_dir("overlap-scale");
    let control = dir.join("control");
    let control_env = control.to_str().expect("utf-8").to_owned();
    let (mut s, _) = serving(
        &[
            ("SCENARIO_BOOT_MS", "800"),
            ("SCENARIO_CONTROL_FILE", &control_env),
        ],
        2,
    );
    let start = s.lines().len();
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web: 2 workers, 1 at a time", SOON);
    s.wait_for_line("web ready id=0", ROLLOUT);
    // Worker 1's replacement boots: scale to 3 and SIGHUP again.
    s.wait_for_line("web boot id=1", ROLLOUT);
    std::fs::write(&control, "scale 3").expect("control file");
    let second = s.lines().len();
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Rolling reload of web done", ROLLOUT);
    let lines = s.lines().to_vec();
    assert_eq!(most_out(&lines[start..]), 1, "{lines:#?}");
    all_forked_after(&s, second, 3);
    for id in 0..3 {
        assert!(
            lines[second..]
                .iter()
                .any(|l| l.ends_with(&format!("web ready id={id}"))),
            "web({id}) never ready after the second SIGHUP: {lines:#?}"
        );
    }
    s.end_with(Signal::SIGTERM, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A datagram socket bound in `dir`, read with a deadline.
pub(crate) fn notify_socket(dir: &std::path::Path) -> (UnixDatagram, PathBuf) {
    let path = dir.join("notify");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(SOON)).expect("timeout");
    (sock, path)
}

/// Reads datagrams into `notes` until one equal to `want` arrives after index
/// `from` of `notes` (panics at the read timeout).
pub(crate) fn recv_until(sock: &UnixDatagram, notes: &mut Vec<String>, from: usize, want: &str) {
    if notes[from.min(notes.len())..].iter().any(|m| m == want) {
        return;
    }
    let mut buf = [0u8; 512];
    loop {
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{want} not received ({e}); got {notes:#?}"));
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = msg == want;
        notes.push(msg);
        if done {
            return;
        }
    }
}

/// Issue 15 item 2: a SIGHUP during slow in-place reloads (1 s) is not lost:
/// each worker reloads once more, begun after it, and READY=1 after the last
/// RELOADING=1 comes only once every worker's second reload returned (each
/// worker sends its "reloaded" trace to the same socket before its reload()
/// returns, so the socket's order is the order of the events). Before, every
/// worker dropped the second SIGHUP and READY=1 came anyway.
#[test]
fn a_sighup_during_slow_in_place_reloads_leads_to_one_more_each_before_ready() {
    let dir = temp_dir("overlap-lost");
    let (sock, path) = notify_socket(&dir);
    let path_env = path.to_str().expect("utf-8").to_owned();
    let (mut s, old) = serving(
        &[
            ("SCENARIO_IN_PLACE", "1"),
            ("SCENARIO_RELOAD", "all"),
            ("SCENARIO_RELOAD_MS", "1000"),
            ("NOTIFY_SOCKET", &path_env),
            ("SCENARIO_TRACE_SOCKET", &path_env),
        ],
        3,
    );
    let mut notes = Vec::new();
    recv_until(&sock, &mut notes, 0, "READY=1");
    s.signal(Signal::SIGHUP);
    for id in 0..3 {
        s.wait_for_line(&format!("web reload id={id}"), SOON);
    }
    // Every worker is in its 1 s reload(): SIGHUP again.
    let second = s.lines().len();
    let second_at = Instant::now();
    s.signal(Signal::SIGHUP);
    for id in 0..3 {
        s.wait_for_line(&format!("web reload id={id}"), SOON);
        s.wait_for_line(&format!("web reloaded id={id} n=2"), SOON);
    }
    // The second RELOADING=1, then READY=1 after it.
    let reloading = |notes: &[String]| {
        notes
            .iter()
            .filter(|m| m.starts_with("RELOADING=1"))
            .count()
    };
    while reloading(&notes) < 2 {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("RELOADING=1 twice");
        notes.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let last = notes
        .iter()
        .rposition(|m| m.starts_with("RELOADING=1"))
        .expect("RELOADING=1");
    recv_until(&sock, &mut notes, last, "READY=1");
    let ready = last
        + notes[last..]
            .iter()
            .position(|m| m == "READY=1")
            .expect("READY=1");
    for id in 0..3 {
        let trace = format!("web reloaded id={id} n=2");
        assert!(
            notes[last..ready].contains(&trace),
            "READY=1 before {trace}: {notes:#?}"
        );
    }
    eprintln!(
        "second SIGHUP {:?} into the first reloads",
        second_at.elapsed()
    );
    // Reloaded in place (the same processes), twice each, the second one begun
    // after the second SIGHUP, and no more.
    assert!(old.iter().all(|&p| is_alive(p)));
    s.end_with(Signal::SIGTERM, 0);
    let lines = s.lines();
    for id in 0..3 {
        let at: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.ends_with(&format!("web reload id={id}")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 2, "web({id}) reloads: {lines:#?}");
        assert!(at[1] >= second, "{lines:#?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
