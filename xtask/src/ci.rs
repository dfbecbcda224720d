//! `cargo xtask ci [--quick]`: every check the project has, in order, stopping at the
//! first failure.
//!
//! This is the README's test command and what `.ci/run` runs. The functional
//! tests run three times in a row, the third time under load (a busy thread on
//! every core: the tests must not depend on getting a CPU at once); `--quick`
//! runs them once, without the load.

use std::time::Instant;

use crate::{cargo, functional_tests, run_cmd};

/// How many times in a row the functional tests must pass (without `--quick`);
/// the last of them runs under load.
const FUNCTIONAL_REPEAT: u32 = 3;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut repeat = FUNCTIONAL_REPEAT;
    for arg in args {
        match arg.as_str() {
            "--quick" => repeat = 1,
            other => return Err(format!("`ci` takes only `--quick`, got `{other}`")),
        }
    }

    let start = Instant::now();
    let mut steps = 0;
    let mut step = |name: &str, f: &mut dyn FnMut() -> Result<(), String>| {
        eprintln!("\n==> ci: {name}");
        f().map_err(|err| format!("ci step `{name}` failed: {err}"))?;
        steps += 1;
        Ok::<(), String>(())
    };

    step("format", &mut || {
        run_cmd(&mut cargo(["fmt", "--all", "--check"]))
    })?;
    step("clippy", &mut || {
        // The default build, then every feature (tokio: the async layer).
        run_cmd(&mut cargo([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        run_cmd(&mut cargo([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("unit, doc, UI and tidy tests", &mut || {
        run_cmd(&mut cargo([
            "test",
            "--workspace",
            "--exclude",
            "cotyledon-testing",
        ]))?;
        // The async layer's unit and doc tests (feature tokio).
        for targets in ["--lib", "--doc"] {
            run_cmd(&mut cargo([
                "test",
                "-p",
                "cotyledon-core",
                "--all-features",
                targets,
            ]))?;
        }
        // The harness's own unit and doc tests (the functional tests run below).
        run_cmd(&mut cargo([
            "test",
            "-p",
            "cotyledon-testing",
            "--lib",
            "--bins",
        ]))?;
        run_cmd(&mut cargo(["test", "-p", "cotyledon-testing", "--doc"]))
    })?;
    step("docs", &mut || {
        let mut cmd = cargo(["doc", "--workspace", "--no-deps", "--all-features"]);
        cmd.env("RUSTDOCFLAGS", "-D warnings");
        run_cmd(&mut cmd)
    })?;
    step("README example as an outside crate", &mut || {
        crate::readme_crate::run(&[])
    })?;
    step("bad_input scenario", &mut || {
        run_cmd(&mut cargo([
            "run",
            "-p",
            "cotyledon-core",
            "--example",
            "scenarios",
            "--",
            "bad_input",
        ]))
    })?;
    step("bench smoke run", &mut || {
        crate::bench::run(&["--smoke".to_owned()])
    })?;
    // Under load: the last of several runs (--quick: one run, not loaded).
    let loaded = |i: u32| repeat > 1 && i == repeat;
    let shown = match repeat {
        1 => "functional tests x1".to_owned(),
        n => format!("functional tests x{n}, the last under load"),
    };
    step(&shown, &mut || {
        functional_tests::run_repeated(repeat, loaded, &[])
    })?;

    println!(
        "ci: all {steps} steps passed ({shown}) in {:.0?}",
        start.elapsed()
    );
    Ok(())
}
