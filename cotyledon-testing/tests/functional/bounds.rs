//! Input bounds: API misuse and counts above `MAX_WORKERS` give typed errors, a
//! hook asking for 10^9 workers is refused without the memory for them,
//! `Duration::MAX` in every setting and a derive timeout of `u64::MAX` seconds do
//! not panic, and an argument that is not UTF-8 reaches the title.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use cotyledon_testing::{Scenario, Signal, cmdline};

use crate::{SOON, assert_in_order, bin, start};

#[test]
fn api_misuse_and_counts_above_the_ceiling_give_typed_errors() {
    let mut s = start("bad_input");
    s.expect_exit(0);
    let lines = s.lines();
    let unknown = lines
        .iter()
        .find(|l| l.starts_with("ERROR:scenarios::bounds:reconfigure unknown: unknown service id "))
        .unwrap_or_else(|| panic!("no unknown-id error in {lines:#?}"));
    let uuid = unknown.rsplit(' ').next().unwrap_or_default();
    assert_eq!(uuid.len(), 36, "a UUID: {uuid}");
    assert_eq!(uuid.as_bytes()[14], b'4', "a v4 UUID: {uuid}");
    let max = usize::MAX;
    assert_in_order(
        lines,
        &[
            "ERROR:scenarios::bounds:add zero: number of workers must be at least 1, got 0",
            &format!(
                "ERROR:scenarios::bounds:add usize::MAX: at most 4096 workers per service and in total, got {max}"
            ),
            "ERROR:scenarios::bounds:add 4097: at most 4096 workers per service and in total, got 4097",
            "ERROR:scenarios::bounds:reconfigure zero: number of workers must be at least 1, got 0",
            "ERROR:scenarios::bounds:reconfigure 4097: at most 4096 workers per service and in total, got 4097",
            "ERROR:scenarios::bounds:add over the total: at most 4096 workers per service and in total, got 4097",
            "ERROR:scenarios::bounds:second manager: Only one instance of ServiceManager per application is allowed",
            unknown,
            "ERROR:scenarios::bounds:run empty: no service was added to the manager",
            "ERROR:scenarios::bounds:upgrade timeout zero: the upgrade timeout must be between 1ms and 86400s, got 0ns",
            &format!(
                "ERROR:scenarios::bounds:upgrade timeout Duration::MAX: the upgrade timeout must be between 1ms and 86400s, got {:?}",
                Duration::MAX
            ),
        ],
    );
    assert!(
        !lines.iter().any(|l| l.ends_with(": accepted")),
        "{lines:#?}"
    );
}

#[test]
fn a_hook_asking_for_a_billion_workers_is_refused_under_1_gib_of_address_space() {
    let mut s = start("huge_reconfigure_app");
    s.wait_for_line("RLIMIT_AS set to 1 GiB", SOON);
    let first = s.wait_for_run("steady", 0, SOON);
    s.wait_for_run("steady", 1, SOON);
    s.signal(Signal::SIGHUP);
    s.wait_for_line(
        "ERROR:cotyledon::manager:Exception raised during reload hooks: \
         at most 4096 workers per service and in total, got 1000000000",
        SOON,
    );
    // The master still supervises: a killed worker comes back.
    s.kill(first, Signal::SIGKILL);
    assert_ne!(s.wait_for_run("steady", 0, SOON), first);
    s.end_with(Signal::SIGTERM, 0);
    assert!(!s.lines().iter().any(|l| l.contains("reconfigured steady")));
    assert!(
        !s.lines()
            .iter()
            .any(|l| l.contains("Run service steady(2)"))
    );
}

#[test]
fn duration_max_as_wait_interval_starts_one_worker_and_stops_cleanly() {
    let mut s = start("max_wait_interval_app");
    s.wait_for_run("light", 0, SOON);
    s.end_with(Signal::SIGTERM, 0);
    // The second fork would come after Duration::MAX: never.
    assert!(!s.lines().iter().any(|l| l.contains("Run service light(1)")));
}

#[test]
fn duration_max_as_crash_backoff_holds_the_crashing_id_and_stops_cleanly() {
    let mut s = start("max_crash_backoff_app");
    s.wait_for_line(
        &format!(
            "Worker crasher(0) keeps dying right after start, respawning it in {:?}",
            Duration::MAX
        ),
        SOON,
    );
    s.wait_for_run("light", 0, SOON);
    s.end_with(Signal::SIGTERM, 0);
    let runs = s
        .lines()
        .iter()
        .filter(|l| l.contains("Run service crasher(0)"));
    assert_eq!(runs.count(), 1, "crasher(0) was not respawned");
}

#[test]
fn duration_max_as_graceful_shutdown_timeout_still_stops_cleanly() {
    let mut s = start("max_graceful_timeout_app");
    let workers = [
        s.wait_for_run("light", 0, SOON),
        s.wait_for_run("light", 1, SOON),
    ];
    s.end_with(Signal::SIGTERM, 0);
    for pid in workers {
        let line = format!("Child {pid} exited with status 0");
        assert!(s.lines().iter().any(|l| l.ends_with(&line)), "{line}");
    }
}

#[test]
fn a_derive_timeout_of_u64_max_seconds_keeps_the_exit_code_of_terminate() {
    let mut s = start("max_timeout_derive_app");
    let pid = s.wait_for_run("eternal", 0, SOON);
    s.kill(pid, Signal::SIGTERM);
    s.wait_for_line("eternal terminate", SOON);
    s.wait_for_line(&format!("Child {pid} exited with status 42"), SOON);
    s.wait_for_run("eternal", 0, SOON);
    s.end_with(Signal::SIGTERM, 0);
}

/// Arguments after the scenario name: one that is not UTF-8, then enough bytes
/// for the title (longer than argv by its "PROG: master process [" prefix) to
/// still show the first one.
pub(crate) fn odd_args() -> [OsString; 2] {
    [
        OsStr::from_bytes(b"\xff\xfe").to_owned(),
        OsString::from("--pad-so-the-title-shows-the-argument-before"),
    ]
}

/// Starts `args_app` with [`odd_args`]; returns it with its whole argv.
pub(crate) fn start_args_app() -> (Scenario, Vec<OsString>) {
    let [odd, pad] = odd_args();
    let s = Scenario::builder(bin(), "args_app")
        .arg(&odd)
        .arg(&pad)
        .spawn();
    let argv = vec![bin().into_os_string(), "args_app".into(), odd, pad];
    (s, argv)
}

#[test]
fn an_argument_that_is_not_utf8_reaches_the_master_title() {
    let (mut s, _) = start_args_app();
    s.wait_for_run("argsy", 0, SOON);
    s.wait_for_run("argsy", 1, SOON);
    let title = cmdline(s.pid()).expect("master cmdline");
    assert!(
        title.starts_with("scenarios: master process [")
            && title.contains(" args_app \u{fffd}\u{fffd} --pad"),
        "{title:?}"
    );
    let out = s.end_with(Signal::SIGTERM, 0);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
