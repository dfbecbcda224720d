//! Hooks of every kind; a failing or panicking hook is logged, the rest of its
//! list skipped, and the master carries on. API misuse gives typed errors.

use cotyledon_testing::Signal;

use crate::{SOON, assert_in_order, start};

#[test]
fn hooks_run_in_order_and_a_failing_one_skips_the_rest_of_its_list() {
    let mut s = start("hooks_app");
    let pid = s.wait_for_run("light", 0, SOON);
    // on_new_worker ran in the child, with the service, before run().
    assert_in_order(
        &s.masked_lines(),
        &[
            "ERROR:scenarios:new worker hook: light=true id=0",
            "DEBUG:cotyledon::worker:Run service light(0) [XXXX]",
        ],
    );
    // on_reload: the first hook fails, the second is skipped.
    s.signal(Signal::SIGHUP);
    s.wait_for_line(
        "ERROR:cotyledon::manager:Exception raised during reload hooks: reload hook failed",
        SOON,
    );
    // The reload still reached the worker (default reload = restart), and
    // on_dead_worker saw it exit.
    s.wait_for_line(
        "ERROR:scenarios:dead worker hook: id=0 exited with status 0",
        SOON,
    );
    let new = s.wait_for_run("light", 0, SOON);
    assert_ne!(new, pid);
    // on_terminate: one runs, two panics, three is skipped; shutdown goes on.
    s.end_with(Signal::SIGTERM, 0);
    let lines = s.masked_lines();
    assert_in_order(
        &lines,
        &[
            "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process",
            "ERROR:scenarios:terminate hook one",
            "ERROR:cotyledon::manager:Exception raised during terminate hooks: panicked: terminate hook two panics",
            "DEBUG:cotyledon::manager:Killing services with signal SIGTERM",
            "DEBUG:cotyledon::manager:Shutdown finish",
        ],
    );
    assert!(!lines.iter().any(|l| l.contains("second reload hook")));
    assert!(!lines.iter().any(|l| l.contains("terminate hook three")));
}

#[test]
fn api_misuse_gives_typed_errors() {
    let mut s = start("bad_input");
    s.expect_exit(0);
    let lines = s.lines();
    let unknown = lines
        .iter()
        .find(|l| l.starts_with("ERROR:scenarios:reconfigure unknown: unknown service id "))
        .unwrap_or_else(|| panic!("no unknown-id error in {lines:#?}"));
    let uuid = unknown.rsplit(' ').next().unwrap_or_default();
    assert_eq!(uuid.len(), 36, "a UUID: {uuid}");
    assert_eq!(uuid.as_bytes()[14], b'4', "a v4 UUID: {uuid}");
    assert_in_order(
        lines,
        &[
            "ERROR:scenarios:add zero: number of workers must be at least 1, got 0",
            "ERROR:scenarios:reconfigure zero: number of workers must be at least 1, got 0",
            "ERROR:scenarios:second manager: Only one instance of ServiceManager per application is allowed",
            unknown,
            "ERROR:scenarios:run empty: no service was added to the manager",
        ],
    );
}
