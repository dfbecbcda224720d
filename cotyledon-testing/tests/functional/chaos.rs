//! A 10 s chaos run (the short version of `cargo xtask chaos`): workers SIGKILLed,
//! SIGTERMed, stopped and continued, SIGHUP bursts and reconfigures, then SIGTERM;
//! every check of `cotyledon_testing::chaos` must pass.

use std::time::Duration;

use cotyledon_testing::chaos::{self, Config};

use crate::bin;

#[test]
fn ten_seconds_of_chaos_keep_every_worker_id_running_once() {
    let _alone = crate::heavy();
    // 20 workers: 3 services scaled between 2 and 7 each; bursts of 200 SIGHUPs.
    let mut config = Config::new(bin(), Duration::from_secs(10), 20);
    config.min_per_service = 2;
    config.hup_burst = 200;
    let report = chaos::run(&config);
    println!("{report}");
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "chaos run failed (replay with --seed {}):\n{}",
        report.seed,
        failures.join("\n")
    );
}
