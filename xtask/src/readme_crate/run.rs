//! One run of the README's program: started in a process group of its own, its
//! stdout and stderr read line by line, signalled, and checked against the lines
//! the README shows. Every wait has a deadline; on any failure the whole group is
//! killed and the lines collected so far are part of the error.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

/// How long the workers may take to print the running lines (they print once a
/// second; CI machines are loaded), and the program to exit after a signal (the
/// example's graceful timeout is 10 s).
const DEADLINE: Duration = Duration::from_secs(30);

/// What the reader and waiter threads report.
enum Event {
    Line(String),
    Exit(ExitStatus),
}

/// Runs `binary`, waits for `running`, sends `signal` to the master, then waits for
/// `after`, for the exit status `code` and for an empty process group.
pub(super) fn check(
    binary: &Path,
    signal: &str,
    running: &[String],
    after: &[String],
    code: i32,
) -> Result<(), String> {
    eprintln!("\nreadme-crate: run {}, then {signal}", binary.display());
    let mut run = Run::start(binary)?;
    let outcome = run.check(signal, running, after, code);
    if outcome.is_err() {
        // Whatever is left of the group goes.
        let _ = kill("KILL", &format!("-{}", run.pid));
    }
    outcome.map_err(|err| {
        format!(
            "{err}\nthe program printed:\n{}",
            run.seen
                .iter()
                .map(|line| format!("  | {line}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

struct Run {
    pid: u32,
    events: Receiver<Event>,
    /// Every line printed so far, as printed.
    seen: Vec<String>,
    status: Option<ExitStatus>,
}

impl Run {
    fn start(binary: &Path) -> Result<Self, String> {
        let mut child = Command::new(binary)
            .process_group(0)
            .env_remove("COTYLEDON_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("could not start {}: {err}", binary.display()))?;
        let (tx, events) = channel();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        forward_lines(stdout, tx.clone());
        forward_lines(stderr, tx.clone());
        let pid = child.id();
        wait_in_thread(child, tx);
        Ok(Run {
            pid,
            events,
            seen: Vec::new(),
            status: None,
        })
    }

    fn check(
        &mut self,
        signal: &str,
        running: &[String],
        after: &[String],
        code: i32,
    ) -> Result<(), String> {
        self.wait_for_lines(running, "while it runs")?;
        kill(signal.trim_start_matches("SIG"), &self.pid.to_string())?;
        let start = self.seen.len();
        self.wait_for_lines(after, &format!("after {signal}"))?;
        let deadline = Instant::now() + DEADLINE;
        while self.status.is_none() {
            self.next_event(deadline, "to exit")?;
        }
        let status = self.status.ok_or("no exit status")?;
        if status.code() != Some(code) {
            return Err(format!(
                "after {signal} the program ended with {status}, the README says exit status {code}"
            ));
        }
        // Every process of the group is gone: `kill -0 -PGID` finds none.
        if kill("0", &format!("-{}", self.pid)).is_ok() {
            return Err(format!(
                "processes of the group {} are left after the master exited",
                self.pid
            ));
        }
        eprintln!(
            "readme-crate: after {signal}: {} lines, exit status {code}, no process left",
            self.seen.len() - start
        );
        Ok(())
    }

    /// Waits until every line of `expected` was printed (pids masked).
    fn wait_for_lines(&mut self, expected: &[String], when: &str) -> Result<(), String> {
        let deadline = Instant::now() + DEADLINE;
        let mut missing: Vec<&String> = expected.iter().collect();
        let mut checked = 0;
        loop {
            for line in &self.seen[checked..] {
                let line = mask_pids(line);
                missing.retain(|wanted| **wanted != line);
            }
            checked = self.seen.len();
            if missing.is_empty() {
                return Ok(());
            }
            // Even once the master has exited, lines may still be in the pipes:
            // read until every process has closed them.
            self.next_event(
                deadline,
                &format!("for the README's lines {when}: {missing:?}"),
            )?;
        }
    }

    fn next_event(&mut self, deadline: Instant, what: &str) -> Result<(), String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(Event::Line(line)) => {
                eprintln!("  | {line}");
                self.seen.push(line);
                Ok(())
            }
            Ok(Event::Exit(status)) => {
                self.status = Some(status);
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(format!("waited {DEADLINE:?} {what}")),
            Err(RecvTimeoutError::Disconnected) => Err(format!(
                "every process has exited and closed its output, still waiting {what}"
            )),
        }
    }
}

/// Sends each line of `pipe` to `tx`, from a thread of its own.
fn forward_lines(pipe: impl Read + Send + 'static, tx: Sender<Event>) {
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(Event::Line(line)).is_err() {
                break;
            }
        }
    });
}

/// Reaps `child` from a thread of its own and sends its status.
fn wait_in_thread(mut child: Child, tx: Sender<Event>) {
    thread::spawn(move || {
        if let Ok(status) = child.wait() {
            let _ = tx.send(Event::Exit(status));
        }
    });
}

/// `kill -SIGNAL TARGET` (a pid, or `-PGID` for a group); fails if nothing was
/// signalled.
fn kill(signal: &str, target: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .stderr(Stdio::null())
        .status()
        .map_err(|err| format!("could not run kill: {err}"))?;
    if status.success() {
        Ok(())
    } else if let Some(sig) = status.signal() {
        Err(format!("kill was killed by signal {sig}"))
    } else {
        Err(format!("kill -{signal} {target} found no process"))
    }
}

/// `line` with the pids cotyledon prints replaced by `PID`: the `[1234]` of a
/// worker's title and the `Child 1234 ` of the master's messages.
pub(super) fn mask_pids(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(['[', 'C']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let (open, close) = if rest.starts_with('[') {
            ("[", "]")
        } else if rest.starts_with("Child ") {
            ("Child ", " ")
        } else {
            out.push('C');
            rest = &rest[1..];
            continue;
        };
        let digits = rest[open.len()..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - open.len());
        if digits > 0 && rest[open.len() + digits..].starts_with(close) {
            out.push_str(open);
            out.push_str("PID");
            rest = &rest[open.len() + digits..];
        } else {
            out.push_str(open);
            rest = &rest[open.len()..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_masked_where_cotyledon_prints_them() {
        assert_eq!(
            mask_pids(
                "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service consumer(0) [48213]"
            ),
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service consumer(0) [PID]"
        );
        assert_eq!(
            mask_pids("INFO:cotyledon::manager:Child 48213 exited with status 0"),
            "INFO:cotyledon::manager:Child PID exited with status 0"
        );
        // Other numbers, brackets and capitals stay.
        assert_eq!(
            mask_pids("Caught [x] Child x 12 [12"),
            "Caught [x] Child x 12 [12"
        );
        assert_eq!(mask_pids("worker 1 polls"), "worker 1 polls");
    }
}
