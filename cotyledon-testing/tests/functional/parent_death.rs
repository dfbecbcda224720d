//! The master dies (SIGKILL): every worker notices, runs its SIGTERM path, exits.

use std::time::Duration;

use assert_cmd::assert::OutputAssertExt;
use cotyledon_testing::{Signal, is_alive};

use crate::{SOON, assert_in_order, example_app, start};

#[test]
fn sigkill_of_the_master_ends_every_worker_within_a_second() {
    let _alone = crate::heavy();
    let mut app = example_app();
    let workers = [app.heavy[0], app.heavy[1], app.light];
    app.s.signal(Signal::SIGKILL);
    app.s.wait_exit(SOON).assert().interrupted();
    // All workers gone within 1 s (the deadline of this wait); on a machine
    // loaded on purpose, within the usual deadline (a speed, not a promise).
    app.s
        .assert_no_process_left(crate::target_or_soon(Duration::from_secs(1)));
    for pid in workers {
        assert!(!is_alive(pid));
    }
    let lines = app.s.masked_lines();
    for worker in ["heavy(0)", "heavy(1)", "light(0)"] {
        assert_in_order(
            &lines,
            &[
                &format!(
                    "INFO:cotyledon::worker:Parent process has died unexpectedly, {worker} [XXXX] exiting"
                ),
                &format!(
                    "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service {worker} [XXXX]"
                ),
            ],
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| *l == "ERROR:scenarios:heavy terminate")
            .count(),
        2
    );
}

#[test]
fn buggy_worker_hits_its_timeout_after_the_master_is_killed() {
    let mut s = start("buggy_app");
    s.wait_for_run("buggy", 0, SOON);
    s.signal(Signal::SIGKILL);
    s.wait_exit(SOON).assert().interrupted();
    s.assert_no_process_left(SOON);
    assert_in_order(
        &s.masked_lines(),
        &[
            "INFO:cotyledon::worker:Parent process has died unexpectedly, buggy(0) [XXXX] exiting",
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service buggy(0) [XXXX]",
            "INFO:cotyledon::worker:Graceful shutdown timeout (1) exceeded, exiting buggy(0) [XXXX] now.",
        ],
    );
}
