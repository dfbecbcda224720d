//! SIGHUP: to workers (reload) and to the master (reload hooks, forwarded).

use std::time::{Duration, Instant};

use cotyledon_testing::Signal;

use crate::{SOON, assert_in_order, example_app};

#[test]
fn sighup_to_a_heavy_worker_calls_reload_and_keeps_it() {
    let mut app = example_app();
    let pid = app.heavy[0];
    // Reloads come one after another (the worker's reload thread is reused). A
    // SIGHUP that lands while reload() still runs is skipped by design, so each
    // one is sent again until its reload shows.
    for _ in 0..3 {
        let deadline = Instant::now() + SOON;
        loop {
            app.s.kill(pid, Signal::SIGHUP);
            let reloaded = app
                .s
                .wait_for(|l| l.ends_with(":heavy reload"), Duration::from_millis(200));
            if reloaded.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "no reload: {:#?}", app.s.lines());
        }
    }
    // Still the same process: reload is not a restart for heavy.
    app.s.end_with(Signal::SIGTERM, 0);
    let lines = app.s.lines();
    assert!(lines.iter().any(|l| l.ends_with(&format!(
        "Caught SIGTERM signal, graceful exiting of service heavy(0) [{pid}]"
    ))));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("Run service heavy(0)"))
            .count(),
        1
    );
}

#[test]
fn sighup_to_a_light_worker_restarts_it_with_the_same_id() {
    let mut app = example_app();
    let old = app.light;
    app.s.kill(old, Signal::SIGHUP);
    app.s
        .wait_for_line(&format!("Child {old} exited with status 0"), SOON);
    let new = app.s.wait_for_run("light", 0, SOON);
    assert_ne!(new, old);
    assert_in_order(
        &app.s.masked_lines(),
        &[
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service light(0) [XXXX]",
            "INFO:cotyledon::manager:Child XXXX exited with status 0",
            "DEBUG:cotyledon::worker:Run service light(0) [XXXX]",
        ],
    );
    app.s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn sighup_to_the_master_runs_reload_hook_and_reloads_every_worker() {
    let mut app = example_app();
    let old_light = app.light;
    app.s.signal(Signal::SIGHUP);
    app.s.wait_for_line("master reload hook", SOON);
    app.s.wait_for_line("heavy reload", SOON);
    app.s.wait_for_line("heavy reload", SOON);
    app.s
        .wait_for_line(&format!("Child {old_light} exited with status 0"), SOON);
    app.s.wait_for_run("light", 0, SOON);
    // The heavy workers were reloaded in place.
    let lines = app.s.lines().to_vec();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("Run service heavy("))
            .count(),
        2
    );
    assert_in_order(
        &app.s.masked_lines(),
        &[
            "ERROR:scenarios:master reload hook",
            "ERROR:scenarios:heavy reload",
        ],
    );
    app.s.end_with(Signal::SIGTERM, 0);
}
