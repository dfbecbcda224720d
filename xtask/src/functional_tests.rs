//! `cargo xtask functional-tests [--repeat N] [--under-load] [TEST ARGS...]`: the
//! functional tests of cotyledon-testing, alone.
//!
//! Builds the examples first, then runs the test targets `functional`,
//! `readme_service` (the README's service, tested with the public harness API
//! only) and `harness` (the harness itself, on `sh` programs) with two test
//! threads (each test starts a real manager with its workers). The tests find
//! their programs through `CARGO_BIN_EXE_scenarios` and
//! `CARGO_BIN_EXE_readme_service`, so no environment is set here.
//! Both steps enable the `tokio` and `config` features (the async and configuration
//! examples, scenarios and tests); the build also `logger`, for the README's example.
//! `--repeat N` runs the tests N times in a row, stopping at the first failure, to
//! catch flaky timing. `--under-load` runs them while one busy thread per core
//! (`available_parallelism`) spins in this process, stopped and joined when the
//! tests end, whatever their result; the tests see `COTYLEDON_UNDER_LOAD=1`, only
//! measure the speeds the contract does not promise, and leave out the HTTP load
//! smoke (a load test itself). Anything else (or
//! everything after `--`) goes to the test binary, e.g. a test name filter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::{cargo, run_cmd};

/// Parses the task's arguments, then builds and runs the tests.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (repeat, under_load, test_args) = parse_args(args)?;
    run_repeated(repeat, |_| under_load, &test_args)
}

/// Keeps every core busy until dropped: one spinning thread per core.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start() -> Load {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..cores)
            .map(|i| {
                let stop = stop.clone();
                std::thread::Builder::new()
                    .name(format!("busy-{i}"))
                    .spawn(move || {
                        let mut x: u64 = i as u64;
                        while !stop.load(Ordering::Relaxed) {
                            for _ in 0..10_000 {
                                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                            }
                            std::hint::black_box(x);
                        }
                    })
                    .expect("a busy thread starts")
            })
            .collect();
        eprintln!("functional tests: {cores} busy threads load the machine");
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Builds the examples once, then runs the functional tests `repeat` times, run
/// `i` (from 1) under load if `loaded(i)`.
pub(crate) fn run_repeated(
    repeat: u32,
    loaded: impl Fn(u32) -> bool,
    test_args: &[String],
) -> Result<(), String> {
    run_cmd(&mut cargo([
        "build",
        "-p",
        "cotyledon-core",
        "--examples",
        "--features",
        "tokio,config,logger",
    ]))?;
    for i in 1..=repeat {
        let under_load = loaded(i);
        let mut cmd = cargo([
            "test",
            "-p",
            "cotyledon-testing",
            "--features",
            "tokio,config",
            "--test",
            "functional",
            "--test",
            "readme_service",
            "--test",
            "harness",
            "--",
            "--test-threads=2",
        ]);
        cmd.args(test_args);
        let how = if under_load { " under load" } else { "" };
        let result = if under_load {
            cmd.env("COTYLEDON_UNDER_LOAD", "1");
            let _load = Load::start();
            run_cmd(&mut cmd)
        } else {
            run_cmd(&mut cmd)
        };
        result.map_err(|err| format!("functional tests: run {i}/{repeat}{how} failed: {err}"))?;
        println!("functional tests: run {i}/{repeat}{how} passed");
    }
    Ok(())
}

/// Splits `--repeat N` (or `--repeat=N`) and `--under-load` from the arguments
/// for the test binary. Options are only read before a `--`; everything after it
/// is passed through.
fn parse_args(args: &[String]) -> Result<(u32, bool, Vec<String>), String> {
    let mut repeat = 1;
    let mut under_load = false;
    let mut test_args = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            test_args.extend(iter.cloned());
            break;
        } else if arg == "--repeat" {
            let value = iter.next().ok_or("`--repeat` needs a number")?;
            repeat = parse_repeat(value)?;
        } else if let Some(value) = arg.strip_prefix("--repeat=") {
            repeat = parse_repeat(value)?;
        } else if arg == "--under-load" {
            under_load = true;
        } else {
            test_args.push(arg.clone());
        }
    }
    Ok((repeat, under_load, test_args))
}

fn parse_repeat(value: &str) -> Result<u32, String> {
    match value.parse() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`--repeat` needs a whole number of at least 1, got `{value}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(u32, bool, Vec<String>), String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_args(&args)
    }

    #[test]
    fn defaults_to_one_run_and_passes_filters_through() {
        assert_eq!(parse(&[]).unwrap(), (1, false, vec![]));
        assert_eq!(
            parse(&["sigterm", "--nocapture"]).unwrap(),
            (
                1,
                false,
                vec!["sigterm".to_string(), "--nocapture".to_string()]
            )
        );
    }

    #[test]
    fn reads_repeat_in_both_spellings() {
        assert_eq!(parse(&["--repeat", "3", "sighup"]).unwrap().0, 3);
        assert_eq!(parse(&["sighup", "--repeat=5"]).unwrap().0, 5);
    }

    #[test]
    fn passes_everything_after_double_dash() {
        let (repeat, under_load, rest) = parse(&["--", "--repeat", "2", "--under-load"]).unwrap();
        assert_eq!((repeat, under_load), (1, false));
        assert_eq!(rest, ["--repeat", "2", "--under-load"]);
    }

    #[test]
    fn reads_under_load_with_a_filter() {
        assert_eq!(
            parse(&["--under-load", "handoff", "--repeat=2"]).unwrap(),
            (2, true, vec!["handoff".to_string()])
        );
    }

    #[test]
    fn the_load_keeps_one_thread_per_core_and_ends_when_dropped() {
        let load = Load::start();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(load.threads.len(), cores);
        let stop = load.stop.clone();
        drop(load);
        assert!(stop.load(Ordering::Relaxed), "told to stop, and joined");
    }

    #[test]
    fn rejects_bad_repeat_counts() {
        assert!(parse(&["--repeat"]).is_err());
        assert!(parse(&["--repeat", "0"]).is_err());
        assert!(parse(&["--repeat=x"]).is_err());
    }
}
