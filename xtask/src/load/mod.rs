//! `cargo xtask load [--smoke] [--write] [--port P] [--example NAME] [--phase
//! upgrade]`: a pre-fork
//! HTTP example under real load, with `wrk`, on loopback: `http_server` (the
//! default) or its async twin `async_http_server` (hyper-util on tokio); or a user's
//! axum service through rolling reloads, with the drain (`axum_service`) or
//! without (`axum_service_naive`), in one phase of its own (`user.rs`).
//!
//! Builds the example in release mode (with the features it requires), installs wrk when it is missing (Debian
//! package `wrk`, with apt-get), then runs phases, each a
//! `wrk --latency -t2 -c32` run against a master with 4 workers on
//! `127.0.0.1:PORT` (a free port unless `--port` says): baseline; one worker
//! SIGKILLed per second; rolling reloads (one SIGHUP per second); the
//! all-at-once default under the same SIGHUPs, for contrast; rolling reloads of
//! workers that take 2 s to boot, then all-at-once ones for contrast; SIGTERM
//! under load; workers recycled every few seconds (`--max-lifetime-ms`); and the
//! manager's overhead: 4 workers against the same handler in one process with 4
//! threads (`--single-process`; `http_server` only), runs alternating (`phases.rs`
//! and `phases/` say what each checks). It prints one Markdown table row per
//! phase (requests, req/s, p50, p99 and max latency, socket errors, non-2xx) and
//! each phase's checks, and fails if a check fails. `--smoke` is a short version
//! (under 14 s of load: fewer, shorter phases, no contrast phase, the slow boot's
//! p99 and the overhead ratio shown but not judged) that the functional suite
//! runs. `--write` puts the full run's figures in the example's section of
//! BENCHMARKS.md (`section.rs`) once every check passed. The servers'
//! logs go to `target/load/`.
//!
//! `--phase upgrade` runs the binary-upgrade phases instead (`upgrade/`: two
//! builds of the HTTP example, 10 SIGUSR2s under wrk alternating between them,
//! the same with slow boots, each failed attempt), with `--write` to their own
//! section of BENCHMARKS.md. It builds the example twice (only the example is
//! recompiled); the functional suite runs its `--smoke`.

mod idle;
mod phases;
mod procfs;
mod report;
pub(crate) mod section;
pub(crate) mod server;
mod upgrade;
mod user;
mod wrk;

use std::net::TcpListener;
use std::time::Instant;

use crate::bench::output::{git_rev, utc_now};
use crate::bench::setup::{build_release_example, target_dir};
use crate::project_root;

/// The example under load: both take the same options and log the same lines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) enum Example {
    #[default]
    HttpServer,
    AsyncHttpServer,
    /// A user's axum service with the drain (`user.rs`).
    AxumService,
    /// The same without it: the "before".
    AxumServiceNaive,
}

impl Example {
    pub(crate) const ALL: [Example; 4] = [
        Example::HttpServer,
        Example::AsyncHttpServer,
        Example::AxumService,
        Example::AxumServiceNaive,
    ];

    /// Its name in cotyledon-core's `[[example]]` list, and on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Example::HttpServer => "http_server",
            Example::AsyncHttpServer => "async_http_server",
            Example::AxumService => "axum_service",
            Example::AxumServiceNaive => "axum_service_naive",
        }
    }

    /// Its `required-features`.
    fn features(self) -> &'static [&'static str] {
        match self {
            Example::HttpServer => &[],
            Example::AsyncHttpServer => &["drain"],
            Example::AxumService => &["axum", "logger"],
            Example::AxumServiceNaive => &["tokio", "logger"],
        }
    }

    /// ` --example NAME`, or nothing for the default: how the task was run.
    pub(crate) fn flag(self) -> String {
        match self {
            Example::HttpServer => String::new(),
            other => format!(" --example {}", other.name()),
        }
    }
}

/// Command-line options.
#[derive(Debug, Default, PartialEq)]
struct Options {
    smoke: bool,
    write: bool,
    port: Option<u16>,
    example: Example,
    /// `--phase upgrade`: the binary-upgrade phases only.
    upgrade: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--smoke" => opts.smoke = true,
            "--write" => opts.write = true,
            "--port" => {
                let value = iter.next().ok_or("`--port` needs a number")?;
                match value.parse() {
                    Ok(port) if port > 0 => opts.port = Some(port),
                    _ => return Err(format!("`--port` needs a port number, got `{value}`")),
                }
            }
            "--example" => {
                let value = iter.next().ok_or("`--example` needs a name")?;
                opts.example = Example::ALL
                    .into_iter()
                    .find(|e| e.name() == value)
                    .ok_or_else(|| {
                        let names: Vec<_> = Example::ALL.iter().map(|e| e.name()).collect();
                        format!("`--example`: one of {}, not `{value}`", names.join(", "))
                    })?;
            }
            "--phase" => match iter.next().map(String::as_str) {
                Some("upgrade") => opts.upgrade = true,
                other => {
                    return Err(format!(
                        "`--phase`: `upgrade` (the other phases run without it), not {other:?}"
                    ));
                }
            },
            other => {
                return Err(format!(
                    "`load` takes --smoke, --write, --port P, --example NAME and --phase \
                     upgrade, got `{other}`"
                ));
            }
        }
    }
    if opts.smoke && opts.write {
        return Err("`--write` records the full run: not with `--smoke`".to_owned());
    }
    let http = matches!(opts.example, Example::HttpServer | Example::AsyncHttpServer);
    if opts.upgrade && !http {
        return Err(format!(
            "`--phase upgrade` runs http_server or async_http_server, not {}",
            opts.example.name()
        ));
    }

    Ok(opts)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let opts = parse_args(args)?;
    let start = Instant::now();
    wrk::ensure_installed()?;
    let example = opts.example;
    let port = match opts.port {
        Some(port) => port,
        None => free_port()?,
    };
    let logs = target_dir().join("load");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let phases = if opts.upgrade {
        upgrade::phases(example, port, logs, opts.smoke)?
    } else {
        phases_of(example, port, logs, opts.smoke)?
    };

    let smoke = if opts.smoke { " --smoke" } else { "" };
    let phase = if opts.upgrade { " --phase upgrade" } else { "" };
    let machine = crate::bench::procfs::machine();
    println!(
        "\n`cargo xtask load{smoke}{}{phase}`: {} workers, `wrk --latency -t{} -c{}` on \
         loopback; {machine}; {}\n",
        example.flag(),
        server::WORKERS,
        wrk::THREADS,
        wrk::CONNECTIONS,
        utc_now()
    );
    println!("{}", report::table(&phases));
    println!("{}", report::details(&phases));
    let failed: usize = phases.iter().map(report::Phase::failed).sum();
    if failed > 0 {
        return Err(format!(
            "load: {failed} checks failed (BENCHMARKS.md not written)"
        ));
    }
    println!("load: every check passed");
    if opts.write {
        let header = section::Header {
            date: utc_now(),
            machine,
            revision: git_rev(),
            elapsed_s: start.elapsed().as_secs(),
        };
        let key = section::Key {
            example,
            upgrade: opts.upgrade,
        };
        let path = project_root().join("BENCHMARKS.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let text = section::render(key, &header, &phases);
        let doc = section::splice(key, &doc, &text);
        std::fs::write(&path, doc).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!(
            "load: wrote the {} section of {}",
            key.title(),
            path.display()
        );
    }
    Ok(())
}

/// The phases of `example` but the upgrade's.
fn phases_of(
    example: Example,
    port: u16,
    logs: std::path::PathBuf,
    smoke: bool,
) -> Result<Vec<report::Phase>, String> {
    let bin = build_release_example(example.name(), example.features(), &[])?;
    Ok(match example {
        Example::AxumService | Example::AxumServiceNaive => {
            let drained = example == Example::AxumService;
            user::phases(&bin, port, &logs, smoke, drained)?
        }
        Example::HttpServer | Example::AsyncHttpServer => {
            let mut plan = phases::Plan::new(smoke);
            if example != Example::HttpServer {
                // The comparison needs `--single-process`, http_server's only.
                plan.overhead = None;
            }
            let runner = phases::Runner {
                bin,
                port,
                logs,
                plan,
            };
            runner.run_all()?
        }
    })
}

/// A port nothing listens on now (the kernel's pick).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn reads_smoke_write_port_and_example() {
        assert_eq!(parse(&[]).unwrap(), Options::default());
        let opts = parse(&["--port", "8081", "--smoke"]).unwrap();
        let want = Options {
            smoke: true,
            write: false,
            port: Some(8081),
            example: Example::HttpServer,
            upgrade: false,
        };
        assert_eq!(opts, want);
        let example = parse(&["--example", "async_http_server", "--smoke"]).unwrap();
        assert_eq!(example.example, Example::AsyncHttpServer);
        assert_eq!(example.example.flag(), " --example async_http_server");
        let named = parse(&["--example", "http_server"]).unwrap();
        assert_eq!(
            (named.example, named.example.flag()),
            (Example::HttpServer, String::new())
        );
        assert!(parse(&["--example"]).is_err());
        assert!(parse(&["--example", "demo"]).is_err());
        assert!(parse(&["--write"]).unwrap().write);
        assert!(parse(&["--smoke", "--write"]).is_err());
        let user = parse(&["--example", "axum_service_naive"]).unwrap();
        assert_eq!(user.example, Example::AxumServiceNaive);
        assert!(
            parse(&["--example", "axum_service", "--write"])
                .unwrap()
                .write
        );
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "0"]).is_err());
        assert!(parse(&["--fast"]).is_err());
        assert!(parse(&["--phase", "upgrade"]).unwrap().upgrade);
        let tokio = parse(&["--example", "async_http_server", "--phase", "upgrade"]).unwrap();
        assert!(tokio.upgrade && tokio.example == Example::AsyncHttpServer);
        assert!(parse(&["--phase"]).is_err());
        assert!(parse(&["--phase", "baseline"]).is_err());
        let axum = parse(&["--example", "axum_service", "--phase", "upgrade"]);
        assert!(
            axum.unwrap_err()
                .contains("http_server or async_http_server")
        );
    }

    #[test]
    fn the_smoke_plan_is_short() {
        let plan = phases::Plan::new(true);
        let (pairs, run_secs) = plan.overhead.expect("the smoke compares");
        let secs = plan.baseline_secs
            + plan.rolling.0
            + plan.kills.0
            + plan.recycle.0
            + 2 * pairs as u64 * run_secs;
        let slow = plan.slow_boot.0.as_secs_f64() * (1 + server::WORKERS) as f64;
        let total = secs as f64 + slow + 2.0 + plan.sigterm_after.as_secs_f64();
        assert!(total < 14.0, "{total} s of load");
        assert!(plan.all_at_once.is_none() && !plan.judge_latency);
        assert!(!plan.judge_overhead);
    }
}
