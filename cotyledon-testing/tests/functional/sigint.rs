//! SIGINT: instantaneous exit of the master and of workers.

use cotyledon_testing::Signal;

use crate::{SOON, buggy_worker_in_terminate, example_app};

#[test]
fn sigint_to_the_master_exits_one_and_leaves_nothing() {
    let mut app = example_app();
    app.s.end_with(Signal::SIGINT, 1);
    let lines = app.s.masked_lines();
    assert!(lines.contains(
        &"INFO:cotyledon::manager:Caught SIGINT signal, instantaneous exiting".to_owned()
    ));
    for worker in ["heavy(0)", "heavy(1)", "light(0)"] {
        let line = format!(
            "INFO:cotyledon::worker:Caught SIGINT signal, instantaneous exiting of service {worker} [XXXX]"
        );
        assert!(lines.contains(&line), "missing {line:?} in {lines:#?}");
    }
    // Instantaneous: no terminate() and no terminate hook.
    assert!(!lines.iter().any(|l| l.contains("terminate")), "{lines:#?}");
}

#[test]
fn sigint_ends_a_worker_stuck_in_terminate() {
    let (mut s, pid) = buggy_worker_in_terminate();
    s.kill(pid, Signal::SIGINT);
    s.wait_for_line(&format!("Child {pid} exited with status 1"), SOON);
    assert!(s.lines().iter().any(|l| l.ends_with(&format!(
        "Caught SIGINT signal, instantaneous exiting of service buggy(0) [{pid}]"
    ))));
    s.end_with(Signal::SIGINT, 1);
}
