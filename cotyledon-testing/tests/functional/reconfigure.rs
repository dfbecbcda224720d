//! reconfigure() while running, from a hook: scaling up starts the missing ids,
//! scaling down stops the highest ids gracefully and does not respawn them.

use std::time::Duration;

use cotyledon_testing::{Scenario, Signal, is_alive};

use crate::{SOON, bin};

#[test]
fn reconfigure_scales_up_then_down_while_running() {
    let dir = std::env::temp_dir().join(format!("cotyledon-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("workers");
    let mut s = Scenario::builder(bin(), "reconfigure_app")
        .env("SCENARIO_SCALE_FILE", file.to_str().expect("utf-8 path"))
        .spawn();
    let w0 = s.wait_for_run("steady", 0, SOON);
    let w1 = s.wait_for_run("steady", 1, SOON);

    std::fs::write(&file, "4").expect("write target");
    s.signal(Signal::SIGHUP);
    s.wait_for_line("reconfigured steady to 4", SOON);
    let w2 = s.wait_for_run("steady", 2, SOON);
    let w3 = s.wait_for_run("steady", 3, SOON);

    std::fs::write(&file, "1").expect("write target");
    s.signal(Signal::SIGHUP);
    s.wait_for_line("reconfigured steady to 1", SOON);
    for (id, pid) in [(1, w1), (2, w2), (3, w3)] {
        s.wait_for_line(
            &format!("Caught SIGTERM signal, graceful exiting of service steady({id}) [{pid}]"),
            SOON,
        );
    }
    for pid in [w1, w2, w3] {
        s.wait_for_line(&format!("Child {pid} exited with status 0"), SOON);
    }
    // Nothing is respawned after the scale-down, and worker 0 kept running.
    s.drain(Duration::from_millis(200));
    assert!(is_alive(w0));
    let runs = s
        .lines()
        .iter()
        .filter(|l| l.contains("Run service steady("))
        .count();
    assert_eq!(runs, 4, "{:#?}", s.lines());

    s.end_with(Signal::SIGTERM, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_reconfigure_in_a_hook_is_logged_and_the_master_survives() {
    let dir = std::env::temp_dir().join(format!("cotyledon-scale-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("workers");
    std::fs::write(&file, "0").expect("write target");
    let mut s = Scenario::builder(bin(), "reconfigure_app")
        .env("SCENARIO_SCALE_FILE", file.to_str().expect("utf-8 path"))
        .spawn();
    s.wait_for_run("steady", 0, SOON);
    s.wait_for_run("steady", 1, SOON);
    s.signal(Signal::SIGHUP);
    s.wait_for_line(
        "ERROR:cotyledon::manager:Exception raised during reload hooks: number of workers must be at least 1, got 0",
        SOON,
    );
    s.end_with(Signal::SIGTERM, 0);
    let _ = std::fs::remove_dir_all(&dir);
}
