//! What the two pre-fork HTTP examples share: `http_server` (a thread per
//! connection) and `async_http_server` (hyper on tokio) take the same command
//! line, log the same `LEVEL [PID] message` lines on stderr, and run the same
//! master: the listening socket bound before the first fork, `Readiness::Explicit`
//! with a boot timeout, and the reload mode of `--reload`.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use cotyledon::{BoxError, IntoService, Listen, Readiness, Reload, ServiceManager, WorkerId};
use log::{LevelFilter, Log, Metadata, Record, info};

/// What SIGHUP does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ReloadMode {
    Rolling,
    AllAtOnce,
}

/// The command line.
#[derive(Debug, PartialEq)]
pub(crate) struct Args {
    pub(crate) listen: SocketAddr,
    pub(crate) workers: usize,
    pub(crate) boot_delay: Duration,
    pub(crate) reload: ReloadMode,
}

fn usage(program: &str) -> String {
    format!(
        "usage: {program} [--listen ADDR] [--workers N] [--boot-delay-ms MS] \
         [--reload rolling|all-at-once]"
    )
}

pub(crate) fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        workers: 4,
        boot_delay: Duration::ZERO,
        reload: ReloadMode::Rolling,
    };
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let mut value = || iter.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => parsed.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--workers" => {
                parsed.workers = value()?.parse().map_err(|e| format!("--workers: {e}"))?
            }
            "--boot-delay-ms" => {
                let ms = value()?
                    .parse()
                    .map_err(|e| format!("--boot-delay-ms: {e}"))?;
                parsed.boot_delay = Duration::from_millis(ms);
            }
            "--reload" => {
                parsed.reload = match value()?.as_str() {
                    "rolling" => ReloadMode::Rolling,
                    "all-at-once" => ReloadMode::AllAtOnce,
                    other => {
                        return Err(format!("--reload: rolling or all-at-once, not `{other}`"));
                    }
                }
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(parsed)
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

/// The example's `main`: reads the command line (`--help`; exit 64 on bad usage),
/// then runs the master of `args.workers` workers, each built by `worker(id, boot
/// delay)` in its process, right after the fork.
pub(crate) fn main<F, R>(program: &str, worker: F)
where
    F: Fn(WorkerId, Duration) -> R + 'static,
    R: IntoService,
{
    // Read before the manager exists: it rewrites the argv area for the title.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", usage(program));
        return;
    }
    let args = match parse_args(&args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{program}: {e}\n{}", usage(program));
            std::process::exit(64);
        }
    };
    if let Err(e) = serve(program, args, worker) {
        eprintln!("{program}: {e}");
        std::process::exit(1);
    }
}

fn serve<F, R>(program: &str, args: Args, worker: F) -> Result<(), BoxError>
where
    F: Fn(WorkerId, Duration) -> R + 'static,
    R: IntoService,
{
    log::set_logger(&Stderr)?;
    log::set_max_level(LevelFilter::Info);
    let mut manager = ServiceManager::new()?;
    // Bound once, here, before the first fork; every worker accepts on it.
    manager.listen("http", Listen::tcp(args.listen))?;
    let boot_delay = args.boot_delay;
    let http = manager.add(move |id| worker(id, boot_delay), args.workers)?;
    manager
        .settings(http)?
        .readiness(Readiness::Explicit)
        // A worker that is not ready by then is killed and respawned.
        .boot_timeout(boot_delay + Duration::from_secs(10))
        .reload(match args.reload {
            ReloadMode::Rolling => Reload::Rolling { batch: 1 },
            ReloadMode::AllAtOnce => Reload::AllAtOnce,
        });
    info!(
        "{program} on http://{} with {} workers",
        args.listen, args.workers
    );
    match manager.run()? {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn defaults_and_every_option() {
        let default = parse(&[]).unwrap();
        assert_eq!(default.listen.to_string(), "127.0.0.1:8080");
        assert_eq!((default.workers, default.reload), (4, ReloadMode::Rolling));
        let args = parse(&[
            "--listen",
            "0.0.0.0:9000",
            "--workers",
            "2",
            "--boot-delay-ms",
            "1500",
            "--reload",
            "all-at-once",
        ])
        .unwrap();
        assert_eq!(args.listen.port(), 9000);
        assert_eq!(args.boot_delay, Duration::from_millis(1500));
        assert_eq!((args.workers, args.reload), (2, ReloadMode::AllAtOnce));
    }

    #[test]
    fn bad_usage_is_an_error() {
        for bad in [
            &["--workers"][..],
            &["--workers", "-1"],
            &["--listen", "localhost"],
            &["--reload", "sometimes"],
            &["--boot-delay-ms", "soon"],
            &["--port", "80"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(usage("x").starts_with("usage: x [--listen ADDR]"));
    }
}
