//! `cargo xtask chaos [--seconds S] [--workers N] [CHAOS ARGS...]`: a chaos/soak
//! run of the manager (default 60 s, 50 workers over 3 services).
//!
//! Builds the `scenarios` program (a binary of cotyledon-testing) and the `chaos`
//! driver (the unpublished `chaos` crate), then runs
//! `chaos --scenarios target/debug/scenarios` with the arguments given here
//! (`--seconds`, `--workers`, `--min`, `--burst`, `--seed`, `--quiet`;
//! `cargo xtask chaos --help` lists them). The driver prints the figures (among
//! them the id-recovery latency p50/p99/max and the signals sent to the master
//! against those it logged) and exits non-zero if a check failed; so does this
//! task. The logic is in the `chaos` crate (`chaos/`), not here: it needs the
//! harness, and xtask stays std only.

use std::env;
use std::path::PathBuf;
use std::process::Command;

use crate::{cargo, project_root, run_cmd};

/// Builds the binaries, then runs the chaos driver with `args`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    run_cmd(&mut cargo([
        "build",
        "-p",
        "cotyledon-testing",
        "--bin",
        "scenarios",
        "-p",
        "chaos",
        "--bin",
        "chaos",
    ]))?;
    let bin_dir = target_dir().join("debug");
    let mut cmd = Command::new(bin_dir.join("chaos"));
    cmd.arg("--scenarios")
        .arg(bin_dir.join("scenarios"))
        .args(args)
        .current_dir(project_root());
    run_cmd(&mut cmd).map_err(|err| format!("chaos: {err}"))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the workspace root,
/// where cargo runs) or `target/` under the workspace root.
fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => project_root().join(dir),
        _ => project_root().join("target"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_dir_is_under_the_workspace_unless_absolute() {
        let dir = target_dir();
        assert!(dir.is_absolute());
        if env::var_os("CARGO_TARGET_DIR").is_none() {
            assert_eq!(dir, project_root().join("target"));
        }
    }
}
