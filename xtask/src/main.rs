//! Project automation, run as `cargo xtask TASK` (see `cargo xtask help`).
//!
//! Std only, so it builds in seconds and needs nothing beyond the toolchain. Every
//! task lives in its own module with a `run` function; this file dispatches on the
//! first argument and holds the helpers for running commands.

mod bench;
mod chaos;
mod ci;
mod functional_tests;
mod load;
mod modgraph;
mod readme_crate;
mod tidy;

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{self, Command};

const HELP: &str = "\
cargo xtask TASK [ARGS]

Tasks:
  ci [--quick]           every check, in order, stopping at the first failure:
                         fmt, clippy (default and all features), tests
                         (unit, doc, UI, tidy; async ones with --all-features),
                         docs, the README's example as an outside crate,
                         the bad_input scenario, a bench smoke run,
                         functional tests x3, the third under load
                         (--quick: functional tests once, not loaded)
  functional-tests [--repeat N] [--under-load] [TEST ARGS...]
                         build the examples, then run the functional tests
                         (both with the tokio feature)
                         (N times in a row, default 1; --under-load: with a
                         busy thread on every core); TEST ARGS go to the
                         test binary, e.g. `cargo xtask functional-tests sigterm`
  bench [--smoke] [--json] [--write] [--no-python]
                         whole-process figures of ours, Python cotyledon and
                         a bare C supervisor without and with one idle thread
                         per worker, run alternately (--write updates
                         BENCHMARKS.md; --smoke: a short run, no python)
  chaos [--seconds S] [--workers N] [ARGS...]
                         chaos/soak run of the chaos_app scenario (default
                         60 s, 50 workers): kills, stops, SIGHUP bursts,
                         rescaling; `cargo xtask chaos --help` lists ARGS
  load [--smoke] [--write] [--port P] [--example NAME] [--phase upgrade]
                         the http_server example (or NAME: async_http_server,
                         its twin on hyper-util and tokio; 4 workers) under wrk
                         on loopback: baseline, SIGKILLs, rolling reloads, the
                         all-at-once default, slow-booting workers, SIGTERM;
                         (NAME axum_service, axum_service_naive: a user's axum
                         service with and without the drain, 20 rolling reloads);
                         a table per phase, non-zero exit if a check fails
                         (installs wrk with apt-get when it is missing;
                         --smoke: under 10 s of load; --write: the figures
                         go to the example's section of BENCHMARKS.md;
                         --phase upgrade: instead, two builds of NAME and
                         10 binary upgrades (SIGUSR2) between them, then 10
                         with 2 s boots, then each failed attempt)
  modgraph [--edges] [--strict] [--literal] [--src DIR]
                         the import cycles of cotyledon-core's modules (or of
                         the crate with DIR/lib.rs) beyond a module and its
                         own ancestors and descendants: each cycle's modules
                         and one chain of file:line steps; non-zero exit if
                         there is one (--edges: every edge inside each cycle;
                         --strict: cycles through a parent/child step too;
                         --literal: re-exports not followed)
  readme-crate           build the README's example (its [dependencies] lines
                         and program) as a new crate outside the workspace,
                         run it, stop it with SIGTERM then SIGINT, and check
                         the output and exit statuses the README shows
  tidy                   check every source file: `//!` first line, at most
                         400 lines, unsafe code only under cotyledon-core/src/sys/
  help                   print this message
";

fn main() {
    if let Err(err) = try_main() {
        eprintln!("error: {err}");
        process::exit(1);
    }
}

fn try_main() -> Result<(), String> {
    let task = env::args().nth(1);
    let args: Vec<String> = env::args().skip(2).collect();
    match task.as_deref() {
        Some("chaos") => chaos::run(&args),
        Some("bench") => bench::run(&args),
        Some("ci") => ci::run(&args),
        Some("functional-tests") => functional_tests::run(&args),
        Some("load") => load::run(&args),
        Some("modgraph") => modgraph::run(&args),
        Some("readme-crate") => readme_crate::run(&args),
        Some("tidy") => {
            no_args("tidy", &args)?;
            tidy::run()
        }
        None | Some("help" | "--help" | "-h") => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!(
            "unknown task `{other}`; run `cargo xtask help` for the list"
        )),
    }
}

/// Fails if a task that takes no arguments was given some.
fn no_args(task: &str, args: &[String]) -> Result<(), String> {
    match args.first() {
        None => Ok(()),
        Some(arg) => Err(format!("`{task}` takes no arguments, got `{arg}`")),
    }
}

/// The workspace root: the parent of this crate's directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in a subdirectory of the workspace")
        .to_path_buf()
}

/// A `cargo` command (the one running us, from `$CARGO`) run from the workspace root.
pub(crate) fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let program = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(project_root());
    cmd
}

/// Prints `cmd` to stderr as `$ ...`, runs it and fails unless it exits with 0.
pub(crate) fn run_cmd(cmd: &mut Command) -> Result<(), String> {
    let shown = display_cmd(cmd);
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .map_err(|err| format!("could not start `{shown}`: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("command failed ({status}): `{shown}`"))
    }
}

/// `cmd` the way one would type it: env assignments, program name, quoted args.
fn display_cmd(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            let value = quote(&value.to_string_lossy());
            parts.push(format!("{}={value}", key.to_string_lossy()));
        }
    }
    // `$CARGO` is a full path into the toolchain; show just `cargo`.
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    parts.push(name.to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|arg| quote(&arg.to_string_lossy())));
    parts.join(" ")
}

fn quote(arg: &str) -> String {
    if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '"') {
        format!("{arg:?}")
    } else {
        arg.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_env_program_and_quoted_args() {
        let mut cmd = Command::new("/some/toolchain/bin/cargo");
        cmd.args(["doc", "--no-deps", ""])
            .env("RUSTDOCFLAGS", "-D warnings");
        assert_eq!(
            display_cmd(&cmd),
            r#"RUSTDOCFLAGS="-D warnings" cargo doc --no-deps """#
        );
    }

    #[test]
    fn project_root_is_the_workspace() {
        assert!(project_root().join("xtask").join("Cargo.toml").is_file());
    }
}
