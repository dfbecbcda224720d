//! The command line of `http_server` and `async_http_server`, checked before
//! anything starts: a bad value is an error message (and exit 64), never a panic.

use std::net::SocketAddr;
use std::time::Duration;

use cotyledon::ServiceManager;

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
    /// Worker processes, or accept threads with `single_process`.
    pub(crate) workers: usize,
    pub(crate) boot_delay: Duration,
    pub(crate) reload: ReloadMode,
    /// Recycle each worker after about this long (`None`: never).
    pub(crate) max_lifetime: Option<Duration>,
    /// No manager: one process, `workers` accept threads.
    pub(crate) single_process: bool,
}

/// The usage line of `program`; `single`: whether it has `--single-process`.
pub(crate) fn usage(program: &str, single: bool) -> String {
    let mut text = format!(
        "usage: {program} [--listen ADDR] [--workers N] [--boot-delay-ms MS] \
         [--reload rolling|all-at-once] [--max-lifetime-ms MS]"
    );
    if single {
        text.push_str(&format!(
            "\n       {program} --single-process [--listen ADDR] [--workers N]"
        ));
    }
    text
}

/// Longest boot delay: an hour.
const MAX_BOOT_DELAY_MS: u64 = 3_600_000;
/// Longest worker lifetime: 30 days.
const MAX_LIFETIME_MS: u64 = 30 * 24 * 3_600_000;

pub(crate) fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        workers: 4,
        boot_delay: Duration::ZERO,
        reload: ReloadMode::Rolling,
        max_lifetime: None,
        single_process: false,
    };
    // The first option that only a manager can honour.
    let mut managed: Option<&str> = None;
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let mut value = || iter.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => parsed.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--workers" => {
                let text = value()?;
                parsed.workers = match text.parse() {
                    Ok(n) if (1..=ServiceManager::MAX_WORKERS).contains(&n) => n,
                    _ => {
                        return Err(format!(
                            "--workers: 1 to {}, not `{text}`",
                            ServiceManager::MAX_WORKERS
                        ));
                    }
                };
            }
            "--boot-delay-ms" => {
                parsed.boot_delay = millis(flag, value()?, 0, MAX_BOOT_DELAY_MS)?;
                managed = managed.or(Some(flag));
            }
            "--max-lifetime-ms" => {
                let text = value()?;
                // 0 means "never" to the manager: refused, rather than guessed at.
                if text.parse() == Ok(0u64) {
                    return Err(format!(
                        "--max-lifetime-ms: 0 would never recycle (leave the option out \
                         for that); 1 to {MAX_LIFETIME_MS}"
                    ));
                }
                parsed.max_lifetime = Some(millis(flag, text, 1, MAX_LIFETIME_MS)?);
                managed = managed.or(Some(flag));
            }
            "--reload" => {
                parsed.reload = match value()?.as_str() {
                    "rolling" => ReloadMode::Rolling,
                    "all-at-once" => ReloadMode::AllAtOnce,
                    other => {
                        return Err(format!("--reload: rolling or all-at-once, not `{other}`"));
                    }
                };
                managed = managed.or(Some(flag));
            }
            "--single-process" => parsed.single_process = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if let (true, Some(flag)) = (parsed.single_process, managed) {
        return Err(format!(
            "{flag} needs the manager: not with --single-process"
        ));
    }
    Ok(parsed)
}

/// `text` as milliseconds in `min..=max`.
fn millis(flag: &str, text: &str, min: u64, max: u64) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(ms) if (min..=max).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "{flag}: milliseconds from {min} to {max}, not `{text}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn reads_every_option() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:9000",
            "--workers",
            "2",
            "--boot-delay-ms",
            "500",
            "--reload",
            "all-at-once",
            "--max-lifetime-ms",
            "4000",
        ])
        .unwrap();
        assert_eq!(args.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!((args.workers, args.reload), (2, ReloadMode::AllAtOnce));
        assert_eq!(args.boot_delay, Duration::from_millis(500));
        assert_eq!(args.max_lifetime, Some(Duration::from_secs(4)));
        assert!(!args.single_process);
        let single = parse(&["--single-process", "--workers", "4"]).unwrap();
        assert!(single.single_process && single.max_lifetime.is_none());
    }

    #[test]
    fn refuses_values_out_of_bounds() {
        let err = parse(&["--max-lifetime-ms", "0"]).unwrap_err();
        assert!(err.contains("0 would never recycle"), "{err}");
        assert!(parse(&["--max-lifetime-ms", "-1"]).is_err());
        assert!(parse(&["--max-lifetime-ms", "99999999999999"]).is_err());
        assert!(parse(&["--max-lifetime-ms"]).is_err());
        // An overflow of the boot timeout (delay + 10 s) before the bound.
        assert!(parse(&["--boot-delay-ms", &u64::MAX.to_string()]).is_err());
        assert!(parse(&["--workers", "0"]).is_err());
        assert!(parse(&["--workers", "100000"]).is_err());
        assert!(parse(&["--reload", "sometimes"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }

    #[test]
    fn the_single_process_takes_no_manager_option() {
        let err = parse(&["--max-lifetime-ms", "1000", "--single-process"]).unwrap_err();
        assert!(
            err.starts_with("--max-lifetime-ms needs the manager"),
            "{err}"
        );
        assert!(parse(&["--single-process", "--reload", "rolling"]).is_err());
        assert!(parse(&["--single-process", "--boot-delay-ms", "1"]).is_err());
        assert!(usage("x", true).contains("x --single-process"));
        assert!(!usage("x", false).contains("--single-process"));
    }
}
