//! Getting the subjects ready: ours built in release mode, the bare C program
//! (both floors) compiled with `cc -O2 -pthread`, and a venv with Python cotyledon
//! from PyPI.
//! A subject that cannot be prepared is reported and left out, never an error
//! (except ours, the point of the bench).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{cargo, project_root, run_cmd};

/// `$CARGO_TARGET_DIR`, or `target/` in the workspace.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

/// `target/release/examples/bench`, built.
pub(crate) fn build_ours() -> Result<PathBuf, String> {
    build_release_example("bench", &[], &[])
}

/// Builds cotyledon-core's example `name` in release, with the cargo `features`
/// it requires (an example whose `required-features` are missing is not built)
/// and `env` set for the build; returns its path.
pub(crate) fn build_release_example(
    name: &str,
    features: &[&str],
    env: &[(&str, &str)],
) -> Result<PathBuf, String> {
    let mut cmd = cargo([
        "build",
        "--release",
        "-p",
        "cotyledon-core",
        "--example",
        name,
    ]);
    if !features.is_empty() {
        cmd.arg("--features").arg(features.join(","));
    }
    cmd.envs(env.iter().copied());
    run_cmd(&mut cmd)?;
    Ok(target_dir().join("release").join("examples").join(name))
}

/// The bare C program (both floors, the signal helper and the subreaper), compiled into
/// `target/bench/bare`; `None` if `cc` fails.
pub(crate) fn build_bare() -> Option<PathBuf> {
    let out = target_dir().join("bench").join("bare");
    let src = project_root().join("xtask").join("bench").join("bare.c");
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut cmd = Command::new("cc");
    cmd.arg("-O2").arg("-pthread").arg("-o").arg(&out).arg(&src);
    match run_cmd(&mut cmd) {
        Ok(()) => Some(out),
        Err(e) => {
            eprintln!("bench: no bare or threaded column (and signals go through `kill`): {e}");
            None
        }
    }
}

/// The scenario script for Python cotyledon.
pub(crate) fn python_script() -> PathBuf {
    project_root()
        .join("xtask")
        .join("bench")
        .join("python")
        .join("scenario.py")
}

/// True if `python` can import cotyledon.
fn has_cotyledon(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import cotyledon"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The venv's python with cotyledon installed (creating `target/bench-venv` and
/// running pip the first time), or `None` with the reason printed.
pub(crate) fn python() -> Option<PathBuf> {
    let venv = target_dir().join("bench-venv");
    let python = venv.join("bin").join("python");
    if python.is_file() && has_cotyledon(&python) {
        return Some(python);
    }
    let steps = || -> Result<(), String> {
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        run_cmd(Command::new(venv.join("bin").join("pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "cotyledon",
        ]))
    };
    match steps() {
        Ok(()) if has_cotyledon(&python) => Some(python),
        Ok(()) => {
            eprintln!("bench: skipping the python column: cotyledon does not import");
            None
        }
        Err(e) => {
            eprintln!("bench: skipping the python column: {e}");
            None
        }
    }
}

/// "Python 3.11.7, cotyledon 2.2.0".
pub(crate) fn python_version(python: &Path) -> String {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, importlib.metadata as m; \
             print('Python %d.%d.%d, cotyledon %s' % (sys.version_info[:3] + (m.version('cotyledon'),)))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => "unknown version".to_owned(),
    }
}
