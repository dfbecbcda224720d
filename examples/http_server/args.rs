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
    /// The version string the responses carry (`--version-tag`), if given.
    pub(crate) version_tag: Option<String>,
    /// How long the new master of a binary upgrade (SIGUSR2) may take to get
    /// every worker ready (`None`: cotyledon's default, 60 s).
    pub(crate) upgrade_timeout: Option<Duration>,
}

/// The usage line of `program`; `single`: whether it has `--single-process`.
pub(crate) fn usage(program: &str, single: bool) -> String {
    let mut text = format!(
        "usage: {program} [--listen ADDR] [--workers N] [--boot-delay-ms MS] \
         [--reload rolling|all-at-once] [--max-lifetime-ms MS] \
         [--upgrade-timeout-ms MS] [--version-tag TAG]"
    );
    if single {
        text.push_str(&format!(
            "\n       {program} --single-process [--listen ADDR] [--workers N] [--version-tag TAG]"
        ));
    }
    text
}

/// Longest boot delay: an hour.
const MAX_BOOT_DELAY_MS: u64 = 3_600_000;
/// Longest worker lifetime: 30 days.
const MAX_LIFETIME_MS: u64 = 30 * 24 * 3_600_000;
/// Longest upgrade timeout: a day (`ServiceManagerBuilder::MAX_UPGRADE_TIMEOUT`).
const MAX_UPGRADE_TIMEOUT_MS: u64 = 86_400_000;
/// Longest version string.
pub(crate) const MAX_VERSION_LEN: usize = 64;

pub(crate) fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        workers: 4,
        boot_delay: Duration::ZERO,
        reload: ReloadMode::Rolling,
        max_lifetime: None,
        single_process: false,
        version_tag: None,
        upgrade_timeout: None,
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
            "--upgrade-timeout-ms" => {
                let ms = millis(flag, value()?, 1, MAX_UPGRADE_TIMEOUT_MS)?;
                parsed.upgrade_timeout = Some(ms);
                managed = managed.or(Some(flag));
            }
            "--version-tag" => {
                parsed.version_tag = Some(version(flag, value()?)?.to_owned());
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

/// `text` as a version string: 1 to [`MAX_VERSION_LEN`] visible ASCII
/// characters (it goes into a response body and a log line as it is).
pub(crate) fn version<'a>(what: &str, text: &'a str) -> Result<&'a str, String> {
    let visible = text.bytes().all(|b| b.is_ascii_graphic());
    if visible && (1..=MAX_VERSION_LEN).contains(&text.len()) {
        Ok(text)
    } else {
        Err(format!(
            "{what}: 1 to {MAX_VERSION_LEN} visible ASCII characters (no space), not {text:?}"
        ))
    }
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
            "--upgrade-timeout-ms",
            "3000",
            "--version-tag",
            "v2.1-rc1",
        ])
        .unwrap();
        assert_eq!(args.upgrade_timeout, Some(Duration::from_secs(3)));
        assert_eq!(args.version_tag.as_deref(), Some("v2.1-rc1"));
        assert_eq!(args.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!((args.workers, args.reload), (2, ReloadMode::AllAtOnce));
        assert_eq!(args.boot_delay, Duration::from_millis(500));
        assert_eq!(args.max_lifetime, Some(Duration::from_secs(4)));
        assert!(!args.single_process);
        let single = parse(&["--single-process", "--workers", "4"]).unwrap();
        assert!(single.single_process && single.max_lifetime.is_none());
        // A version tag is no manager option: the single process answers with it too.
        let tagged = parse(&["--single-process", "--version-tag", "b"]).unwrap();
        assert_eq!(tagged.version_tag.as_deref(), Some("b"));
        assert_eq!(parse(&[]).unwrap().upgrade_timeout, None);
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
        assert!(parse(&["--upgrade-timeout-ms", "0"]).is_err());
        assert!(parse(&["--upgrade-timeout-ms", "86400001"]).is_err());
        assert!(parse(&["--version-tag"]).is_err());
        for bad in ["", "a b", "a\nb", "é", &"x".repeat(MAX_VERSION_LEN + 1)] {
            let err = parse(&["--version-tag", bad]).unwrap_err();
            assert!(err.starts_with("--version-tag: 1 to 64 visible"), "{err}");
        }
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
        assert!(parse(&["--single-process", "--upgrade-timeout-ms", "1"]).is_err());
        assert!(usage("x", true).contains("x --single-process"));
        assert!(!usage("x", false).contains("--single-process"));
    }
}
