//! `cargo xtask functional-tests [--repeat N] [TEST ARGS...]`: the functional tests
//! of cotyledon-testing, alone.
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
//! catch flaky timing. Anything else (or everything after `--`) goes to the test
//! binary, e.g. a test name filter.

use crate::{cargo, run_cmd};

/// Parses the task's arguments, then builds and runs the tests.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let (repeat, test_args) = parse_args(args)?;
    run_repeated(repeat, &test_args)
}

/// Builds the examples once, then runs the functional tests `repeat` times.
pub(crate) fn run_repeated(repeat: u32, test_args: &[String]) -> Result<(), String> {
    run_cmd(&mut cargo([
        "build",
        "-p",
        "cotyledon-core",
        "--examples",
        "--features",
        "tokio,config,logger",
    ]))?;
    for i in 1..=repeat {
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
        run_cmd(&mut cmd)
            .map_err(|err| format!("functional tests: run {i}/{repeat} failed: {err}"))?;
        println!("functional tests: run {i}/{repeat} passed");
    }
    Ok(())
}

/// Splits `--repeat N` (or `--repeat=N`) from the arguments for the test binary.
/// Options are only read before a `--`; everything after it is passed through.
fn parse_args(args: &[String]) -> Result<(u32, Vec<String>), String> {
    let mut repeat = 1;
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
        } else {
            test_args.push(arg.clone());
        }
    }
    Ok((repeat, test_args))
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

    fn parse(args: &[&str]) -> Result<(u32, Vec<String>), String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_args(&args)
    }

    #[test]
    fn defaults_to_one_run_and_passes_filters_through() {
        assert_eq!(parse(&[]).unwrap(), (1, vec![]));
        assert_eq!(
            parse(&["sigterm", "--nocapture"]).unwrap(),
            (1, vec!["sigterm".to_string(), "--nocapture".to_string()])
        );
    }

    #[test]
    fn reads_repeat_in_both_spellings() {
        assert_eq!(parse(&["--repeat", "3", "sighup"]).unwrap().0, 3);
        assert_eq!(parse(&["sighup", "--repeat=5"]).unwrap().0, 5);
    }

    #[test]
    fn passes_everything_after_double_dash() {
        let (repeat, rest) = parse(&["--", "--repeat", "2"]).unwrap();
        assert_eq!(repeat, 1);
        assert_eq!(rest, ["--repeat", "2"]);
    }

    #[test]
    fn rejects_bad_repeat_counts() {
        assert!(parse(&["--repeat"]).is_err());
        assert!(parse(&["--repeat", "0"]).is_err());
        assert!(parse(&["--repeat=x"]).is_err());
    }
}
