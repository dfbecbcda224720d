//! Hooks of every kind; a failing or panicking hook is logged, the rest of its
//! list skipped, and the master carries on. (API misuse: see `bounds.rs`.)

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
