//! Sending signals to the subjects: through the `bare signal` helper, a pipe
//! write away (the same hop for every subject), or by running `kill` when the
//! helper could not be built.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const SIGHUP: i32 = 1;
pub(crate) const SIGKILL: i32 = 9;
pub(crate) const SIGTERM: i32 = 15;

/// Sends signals: through the `bare signal` helper (a pipe write away), or by
/// running `kill` when the helper could not be built.
pub(crate) enum Signaller {
    Helper {
        child: Child,
        input: ChildStdin,
        output: BufReader<ChildStdout>,
    },
    KillCommand,
}

impl Signaller {
    pub(crate) fn start(bare: Option<&PathBuf>) -> Signaller {
        let Some(bare) = bare else {
            return Signaller::KillCommand;
        };
        let child = Command::new(bare)
            .arg("signal")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        match child {
            Ok(mut child) => match (child.stdin.take(), child.stdout.take()) {
                (Some(input), Some(output)) => Signaller::Helper {
                    child,
                    input,
                    output: BufReader::new(output),
                },
                _ => Signaller::KillCommand,
            },
            Err(_) => Signaller::KillCommand,
        }
    }

    /// Sends one request; `Ok` with what follows the `0` of the answer.
    fn request(&mut self, line: &str) -> Result<String, String> {
        match self {
            Signaller::Helper { input, output, .. } => {
                writeln!(input, "{line}").map_err(|e| format!("signal helper: {e}"))?;
                input.flush().map_err(|e| format!("signal helper: {e}"))?;
                let mut reply = String::new();
                output
                    .read_line(&mut reply)
                    .map_err(|e| format!("signal helper: {e}"))?;
                let mut words = reply.split_whitespace();
                match words.next() {
                    Some("0") => Ok(words.collect::<Vec<_>>().join(" ")),
                    errno => Err(format!(
                        "`{line}` failed with errno {}",
                        errno.unwrap_or("(none)")
                    )),
                }
            }
            Signaller::KillCommand => {
                let mut parts = line.split_whitespace().skip(1);
                let verb = line.split_whitespace().next();
                if matches!(verb, Some("watch" | "killwait" | "deadat")) {
                    return Err("needs the `bare signal` helper".to_owned());
                }
                let (Some("kill"), Some(sig), Some(pid)) = (verb, parts.next(), parts.next())
                else {
                    return Ok(String::new()); // track/untrack: nothing to do without the helper
                };
                let status = Command::new("kill")
                    .args([format!("-{sig}"), "--".into(), pid.into()])
                    .stderr(Stdio::null())
                    .status()
                    .map_err(|e| format!("kill: {e}"))?;
                if status.success() {
                    Ok(String::new())
                } else {
                    Err(format!("kill -{sig} {pid} failed"))
                }
            }
        }
    }

    /// Sends `sig` to `pid` (a negative pid: a process group); returns the instant
    /// just before the request left.
    pub(crate) fn kill(&mut self, sig: i32, pid: i64) -> Result<Instant, String> {
        let at = Instant::now();
        self.request(&format!("kill {sig} {pid}"))?;
        Ok(at)
    }

    /// Watches `pid` (a pidfd in the helper) for [`kill_and_wait`](Self::kill_and_wait).
    pub(crate) fn watch(&mut self, pid: u32) -> Result<(), String> {
        self.request(&format!("watch {pid}")).map(drop)
    }

    /// Sends `sig` to `pid`, then waits (at most `timeout`) until every watched
    /// process has exited; the time from just before `kill(2)` to the last exit,
    /// as the helper measured it (no pipe hop in it).
    pub(crate) fn kill_and_wait(
        &mut self,
        sig: i32,
        pid: u32,
        timeout: Duration,
    ) -> Result<Duration, String> {
        let ms = timeout.as_millis();
        let reply = self.request(&format!("killwait {sig} {pid} {ms}"))?;
        let ns: u64 = reply
            .parse()
            .map_err(|_| format!("signal helper: bad answer {reply:?}"))?;
        Ok(Duration::from_nanos(ns))
    }

    /// Waits (at most `timeout`) until every watched process has exited; the
    /// `CLOCK_MONOTONIC` time (ns) just after the helper saw the last exit, on
    /// the clock the subjects can print themselves, and whether the helper
    /// waited at real-time priority (else its wake-up may come late on a busy
    /// machine).
    pub(crate) fn dead_at(&mut self, timeout: Duration) -> Result<(u64, bool), String> {
        let reply = self.request(&format!("deadat {}", timeout.as_millis()))?;
        let mut words = reply.split_whitespace();
        match (words.next().map(str::parse), words.next()) {
            (Some(Ok(ns)), Some(rt)) => Ok((ns, rt == "1")),
            _ => Err(format!("signal helper: bad answer {reply:?}")),
        }
    }

    /// While tracked, a process group is SIGKILLed by the helper if we die.
    pub(crate) fn track(&mut self, pgid: u32, on: bool) {
        let verb = if on { "track" } else { "untrack" };
        let _ = self.request(&format!("{verb} {pgid}"));
    }
}

impl Drop for Signaller {
    fn drop(&mut self) {
        if let Signaller::Helper { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
