//! What the two pre-fork HTTP examples share: `http_server` (a thread per
//! connection) and `async_http_server` (hyper on tokio) take the same command
//! line (`args.rs`; `--single-process` is `http_server`'s only), log the same
//! `LEVEL [PID] message` lines on stderr, and run the same master: the listening
//! socket bound before the first fork, `Readiness::Explicit` with a boot timeout,
//! the reload mode of `--reload`, the lifetime of `--max-lifetime-ms` and the
//! upgrade timeout of `--upgrade-timeout-ms`. Both answer `GET /` with the
//! version string of [`version`].

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use cotyledon::{BoxError, IntoService, Listen, Readiness, Reload, ServiceManager, WorkerId};
use log::{LevelFilter, Log, Metadata, Record, info};

use crate::args::{self, Args, ReloadMode, parse_args, usage};

/// The variable that names the version, read at run time, then at compile time.
const VERSION_VAR: &str = "HTTP_SERVER_VERSION";

/// The version string of the responses: `tag` (`--version-tag`), else the
/// environment's `HTTP_SERVER_VERSION` (empty counts as unset), else the one
/// built in (`HTTP_SERVER_VERSION` when the example was compiled), else the
/// package version. A binary upgrade passes the same arguments and environment
/// to the new master: only the built-in one tells two builds apart then.
pub(crate) fn version(tag: Option<String>) -> Result<String, String> {
    if let Some(tag) = tag {
        return Ok(tag);
    }
    match std::env::var(VERSION_VAR) {
        Ok(text) if !text.is_empty() => {
            return args::version(VERSION_VAR, &text).map(str::to_owned);
        }
        Ok(_) | Err(std::env::VarError::NotPresent) => {}
        Err(std::env::VarError::NotUnicode(text)) => {
            return Err(format!("{VERSION_VAR}: not UTF-8: {text:?}"));
        }
    }
    match option_env!("HTTP_SERVER_VERSION") {
        Some(built) if !built.is_empty() => {
            args::version("HTTP_SERVER_VERSION (at compile time)", built).map(str::to_owned)
        }
        _ => Ok(env!("CARGO_PKG_VERSION").to_owned()),
    }
}

/// `LEVEL [PID] message` on stderr, one write per record.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        let line = format!(
            "{} [{}] {}\n",
            record.level(),
            std::process::id(),
            record.args()
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    fn flush(&self) {}
}

/// Runs a process with no manager: `--single-process`'s (address, threads,
/// version).
pub(crate) type Single = fn(SocketAddr, usize, &str) -> Result<(), BoxError>;

/// The example's `main`: reads the command line (`--help`; exit 64 on bad usage),
/// then runs the master of `args.workers` workers, each built by `worker(id, boot
/// delay, version)` in its process, right after the fork; or, with
/// `--single-process`, `single` (an example without one refuses the option).
pub(crate) fn main<F, R>(program: &str, worker: F, single: Option<Single>)
where
    F: Fn(WorkerId, Duration, &str) -> R + 'static,
    R: IntoService,
{
    // Read before the manager exists: it rewrites the argv area for the title.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = usage(program, single.is_some());
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{usage}");
        return;
    }
    let mut args = match parse_args(&args) {
        Ok(args) if args.single_process && single.is_none() => {
            eprintln!("{program}: --single-process is http_server's only\n{usage}");
            std::process::exit(64);
        }
        Ok(args) => args,
        Err(e) => {
            eprintln!("{program}: {e}\n{usage}");
            std::process::exit(64);
        }
    };
    let version = match version(args.version_tag.take()) {
        Ok(version) => version,
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::exit(64);
        }
    };
    let served = match single {
        Some(single) if args.single_process => {
            init_logger().and_then(|()| single(args.listen, args.workers, &version))
        }
        _ => serve(program, args, version, worker),
    };
    if let Err(e) = served {
        eprintln!("{program}: {e}");
        std::process::exit(1);
    }
}

fn init_logger() -> Result<(), BoxError> {
    log::set_logger(&Stderr)?;
    log::set_max_level(LevelFilter::Info);
    Ok(())
}

fn serve<F, R>(program: &str, args: Args, version: String, worker: F) -> Result<(), BoxError>
where
    F: Fn(WorkerId, Duration, &str) -> R + 'static,
    R: IntoService,
{
    init_logger()?;
    let mut builder = ServiceManager::builder();
    if let Some(timeout) = args.upgrade_timeout {
        builder = builder.upgrade_timeout(timeout);
    }
    let mut manager = builder.build()?;
    // Bound once, here, before the first fork; every worker accepts on it.
    manager.listen("http", Listen::tcp(args.listen))?;
    let boot_delay = args.boot_delay;
    info!("{program} version {version}");
    let http = manager.add(move |id| worker(id, boot_delay, &version), args.workers)?;
    let settings = &mut manager.settings(http)?;
    settings
        .readiness(Readiness::Explicit)
        // A worker that is not ready by then is killed and respawned.
        .boot_timeout(boot_delay + Duration::from_secs(10))
        .reload(match args.reload {
            ReloadMode::Rolling => Reload::Rolling { batch: 1 },
            ReloadMode::AllAtOnce => Reload::AllAtOnce,
        });
    if let Some(lifetime) = args.max_lifetime {
        // Each worker after about `lifetime`, one at a time, the next once the
        // replacement is ready: the rolling path.
        settings.max_lifetime(lifetime);
    }
    info!(
        "{program} on http://{} with {} workers",
        args.listen, args.workers
    );
    match manager.run()? {}
}
