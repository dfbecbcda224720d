//! wrk, the HTTP load generator of `cargo xtask load`: installing it when it is
//! missing, running it, and reading its report.
//!
//! wrk keeps one request in flight per connection (no pipelining without a
//! script), reconnects when a response says `Connection: close`, and prints its
//! report when its duration is over or when it gets SIGINT. A request that takes
//! longer than its timeout (2 s) counts as a `timeout` socket error and is left
//! out of the latency figures. "Non-2xx or 3xx responses" counts statuses above
//! 399.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::run_cmd;

/// wrk's threads and connections, as in every phase.
pub(crate) const THREADS: u32 = 2;
pub(crate) const CONNECTIONS: u32 = 32;

/// wrk's socket error counters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SocketErrors {
    pub(crate) connect: u64,
    pub(crate) read: u64,
    pub(crate) write: u64,
    pub(crate) timeout: u64,
}

impl SocketErrors {
    pub(crate) fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout
    }
}

/// The figures of one wrk run.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Report {
    /// Responses received in full.
    pub(crate) requests: u64,
    pub(crate) seconds: f64,
    pub(crate) per_second: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    pub(crate) errors: SocketErrors,
    /// Responses with a status above 399.
    pub(crate) non_2xx: u64,
}

/// Reads wrk's report (run with `--latency`).
pub(crate) fn parse(text: &str) -> Result<Report, String> {
    let mut report = Report::default();
    let (mut seen_requests, mut seen_rate, mut seen_p50, mut seen_p99, mut seen_max) =
        (false, false, false, false, false);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", avg, _stdev, max, ..] if *avg != "Distribution" => {
                report.max = time(max)?;
                seen_max = true;
            }
            ["50%", t] => {
                report.p50 = time(t)?;
                seen_p50 = true;
            }
            ["99%", t] => {
                report.p99 = time(t)?;
                seen_p99 = true;
            }
            [n, "requests", "in", secs, ..] => {
                report.requests = number(n)?;
                report.seconds = time(secs.trim_end_matches(','))?.as_secs_f64();
                seen_requests = true;
            }
            ["Requests/sec:", rate] => {
                report.per_second = rate.parse().map_err(|_| bad(line))?;
                seen_rate = true;
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => report.non_2xx = number(n)?,
            ["Socket", "errors:", rest @ ..] => report.errors = socket_errors(rest)?,
            _ => {}
        }
    }
    if seen_requests && seen_rate && seen_p50 && seen_p99 && seen_max {
        Ok(report)
    } else {
        Err(format!("not a wrk --latency report:\n{text}"))
    }
}

/// `connect A, read B, write C, timeout D`, as words.
fn socket_errors(words: &[&str]) -> Result<SocketErrors, String> {
    let mut errors = SocketErrors::default();
    for pair in words.chunks(2) {
        let [name, n] = pair else {
            return Err(bad(&words.join(" ")));
        };
        let n = number(n.trim_end_matches(','))?;
        match *name {
            "connect" => errors.connect = n,
            "read" => errors.read = n,
            "write" => errors.write = n,
            "timeout" => errors.timeout = n,
            _ => return Err(bad(&words.join(" "))),
        }
    }
    Ok(errors)
}

fn number(word: &str) -> Result<u64, String> {
    word.parse().map_err(|_| bad(word))
}

/// A wrk duration: `212.00us`, `5.12ms`, `1.91s`, `2.00m`, `1.00h`.
fn time(word: &str) -> Result<Duration, String> {
    // Nanoseconds per unit; `us` and `ms` before `s`.
    let units = [
        ("us", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("h", 3600e9),
    ];
    for (unit, nanos) in units {
        if let Some(value) = word.strip_suffix(unit) {
            let value: f64 = value.parse().map_err(|_| bad(word))?;
            if !(0.0..1e6).contains(&value) {
                return Err(bad(word));
            }
            // Rounded to whole nanoseconds: `5.12ms` is 5_120_000 ns exactly.
            return Ok(Duration::from_nanos((value * nanos).round() as u64));
        }
    }
    Err(bad(word))
}

fn bad(what: &str) -> String {
    format!("cannot read wrk's `{what}`")
}

/// Makes sure `wrk` is on the PATH: installs the Debian package when it is not.
pub(crate) fn ensure_installed() -> Result<(), String> {
    if on_path("wrk").is_some() {
        return Ok(());
    }
    eprintln!("load: wrk is missing, installing it with apt-get");
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_cmd(&mut cmd)
    };
    apt(&["update"])
        .and_then(|()| apt(&["install", "-y", "wrk"]))
        .map_err(|e| {
            format!(
                "wrk is not installed and installing it failed ({e}); install wrk \
                 (Debian and Ubuntu: `apt-get install wrk`) and run again"
            )
        })?;
    match on_path("wrk") {
        Some(_) => Ok(()),
        None => Err("apt-get installed wrk, but it is not on the PATH".to_owned()),
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A wrk run in progress.
pub(crate) struct Run {
    /// Taken by `finish`.
    child: Option<Child>,
    pub(crate) command: String,
}

impl Run {
    /// Starts `wrk --latency -t2 -c32 -dSECS url`.
    pub(crate) fn start(url: &str, seconds: u64) -> Result<Run, String> {
        Run::start_with(url, seconds, (THREADS, CONNECTIONS), &[])
    }

    /// Starts `wrk --latency -tT -cC -dSECS EXTRA... url`.
    pub(crate) fn start_with(
        url: &str,
        seconds: u64,
        (threads, connections): (u32, u32),
        extra: &[&str],
    ) -> Result<Run, String> {
        let mut args = vec![
            "--latency".to_owned(),
            format!("-t{threads}"),
            format!("-c{connections}"),
            format!("-d{seconds}s"),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push(url.to_owned());
        let shown: Vec<String> = args
            .iter()
            .map(|a| match a.contains(' ') {
                true => format!("'{a}'"),
                false => a.clone(),
            })
            .collect();
        let command = format!("wrk {}", shown.join(" "));
        let child = Command::new("wrk")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `{command}`: {e}"))?;
        Ok(Run {
            child: Some(child),
            command,
        })
    }

    /// Stops wrk early: it prints its report for the time it ran.
    pub(crate) fn interrupt(&self) -> Result<(), String> {
        let child = self.child.as_ref().ok_or("wrk has finished")?;
        crate::load::server::signal("INT", child.id())
    }

    /// Waits for wrk's report.
    pub(crate) fn finish(mut self) -> Result<(Report, String), String> {
        let command = self.command.clone();
        let child = self.child.take().ok_or("wrk has finished")?;
        let out = child
            .wait_with_output()
            .map_err(|e| format!("`{command}`: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!(
                "`{command}` failed ({}): {}",
                out.status,
                err.trim()
            ));
        }
        let report = parse(&text)?;
        Ok((report, text))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Only still running when a phase failed half-way.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(x: u64) -> Duration {
        Duration::from_micros(x)
    }

    #[test]
    fn reads_a_clean_run() {
        let r = parse(include_str!("testdata/baseline.txt")).unwrap();
        assert_eq!(r.requests, 211009);
        assert!((r.seconds - 3.02).abs() < 1e-9);
        assert_eq!(r.per_second, 69795.56);
        assert_eq!((r.p50, r.p99, r.max), (us(212), us(5120), us(24_000)));
        assert_eq!((r.errors, r.non_2xx), (SocketErrors::default(), 0));
    }

    #[test]
    fn reads_socket_errors_of_a_run_stopped_with_sigint() {
        let r = parse(include_str!("testdata/sigterm.txt")).unwrap();
        assert_eq!(r.requests, 72195);
        assert!((r.seconds - 1.31).abs() < 1e-9);
        let errors = SocketErrors {
            connect: 0,
            read: 32,
            write: 26879,
            timeout: 0,
        };
        assert_eq!((r.errors, r.errors.total()), (errors, 26911));
        assert_eq!(r.max, us(5410));
    }

    #[test]
    fn reads_non_2xx_and_timeouts() {
        let r = parse(include_str!("testdata/not_found.txt")).unwrap();
        assert_eq!((r.requests, r.non_2xx), (88760, 88760));
        assert_eq!(r.p99, us(2000));
        let r = parse(include_str!("testdata/timeouts.txt")).unwrap();
        assert_eq!((r.errors.timeout, r.errors.total()), (32, 32));
    }

    #[test]
    fn reads_every_unit_and_refuses_other_text() {
        assert_eq!(time("1.91s").unwrap(), us(1_910_000));
        assert_eq!(time("2.00m").unwrap(), Duration::from_secs(120));
        assert_eq!(time("1.00h").unwrap(), Duration::from_secs(3600));
        assert_eq!(time("12.00us").unwrap(), Duration::from_micros(12));
        assert!(time("3 ms").is_err());
        assert!(time("-1.00ms").is_err());
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
        let no_latency = include_str!("testdata/baseline.txt").replace("99%", "98%");
        assert!(parse(&no_latency).is_err());
    }
}
