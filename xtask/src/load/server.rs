//! The example under test (`http_server` or `async_http_server`): started with 4
//! workers on loopback, its log lines collected, its workers read from `/proc`,
//! signals sent with `kill`.
//!
//! Both examples log `LEVEL [PID] message` on stderr. The task reads three kinds
//! of line: a worker's `http worker ID serving` (it accepts connections), its
//! `http worker ID drained: N requests served` (terminate() finished), and the
//! master's `Child PID exited with status N` / `Child PID killed by signal S`.
//! Every line also goes to a log file, for the post-mortem, after the seconds
//! since the server started.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bench::procfs::children;

/// Workers of every server the task starts.
pub(crate) const WORKERS: usize = 4;

/// How often the task looks at `/proc` and at the log while it waits.
const POLL: Duration = Duration::from_millis(5);

/// Sends `SIG` (a name: `HUP`, `KILL`...) to `pid` with kill(1).
pub(crate) fn signal(sig: &str, pid: u32) -> Result<(), String> {
    let start = Instant::now();
    let out = Command::new("kill")
        .args([format!("-{sig}"), "--".to_owned(), pid.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "kill -{sig} {pid} failed ({}, after {:?}): {}",
            out.status,
            start.elapsed(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A running master of the example.
pub(crate) struct Server {
    child: Child,
    pub(crate) pid: u32,
    lines: Arc<Mutex<Vec<String>>>,
    /// Reads the log until every process that holds its pipe has exited.
    reader: std::thread::JoinHandle<()>,
    log: PathBuf,
    /// The log file, where the task also records the signals it sends.
    file: Arc<Mutex<std::fs::File>>,
    started: Instant,
}

/// How a worker left, from the master's log.
#[derive(Debug, PartialEq)]
pub(crate) enum Exit {
    Status(i32),
    Signal(String),
}

impl Server {
    /// Starts `bin --listen 127.0.0.1:PORT --workers 4 EXTRA...` and waits until
    /// every worker serves (`boot` is how long a worker may take to be ready).
    pub(crate) fn start(
        bin: &Path,
        port: u16,
        extra: &[String],
        log: PathBuf,
        boot: Duration,
    ) -> Result<Server, String> {
        let file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let file = Arc::new(Mutex::new(file));
        let mut child = Command::new(bin)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--workers", &WORKERS.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so that Drop can take every process down.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let started = Instant::now();
        let out = file.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                record(&out, started, &line);
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let server = Server {
            pid: child.id(),
            child,
            lines,
            reader,
            log,
            file,
            started,
        };
        server.wait_settled(boot + Duration::from_secs(10))?;
        Ok(server)
    }

    /// The number of log lines so far: pass it to [`lines_since`](Self::lines_since).
    pub(crate) fn mark(&self) -> usize {
        self.lock().len()
    }

    /// The log lines after `mark`.
    pub(crate) fn lines_since(&self, mark: usize) -> Vec<String> {
        self.lock().get(mark..).unwrap_or_default().to_vec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The master's children (zombies included until they are reaped).
    pub(crate) fn workers(&self) -> Vec<u32> {
        children(self.pid)
    }

    /// The worker that has been running longest.
    pub(crate) fn oldest_worker(&self) -> Option<u32> {
        let workers = self.workers();
        workers
            .into_iter()
            .filter_map(|pid| Some((super::procfs::start_time(pid)?, pid)))
            .min()
            .map(|(_, pid)| pid)
    }

    /// Waits until the master has [`WORKERS`] children, none of them in `gone`,
    /// every one serving, and every pid of `gone` logged as exited; returns the
    /// workers.
    pub(crate) fn wait_replaced(&self, gone: &[u32], within: Duration) -> Result<Vec<u32>, String> {
        let deadline = Instant::now() + within;
        loop {
            let workers = self.workers();
            let lines = self.lines_since(0);
            let serving = serving_pids(&lines);
            let exited: HashSet<u32> = exits(&lines).into_iter().map(|(pid, _)| pid).collect();
            if workers.len() == WORKERS
                && workers
                    .iter()
                    .all(|p| serving.contains(p) && !gone.contains(p))
                && gone.iter().all(|p| exited.contains(p))
            {
                return Ok(workers);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "after {within:?}, workers {workers:?} (replacing {gone:?}) are not all \
                     serving; see {}",
                    self.log.display()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until `n` lines after `mark` match `f`.
    pub(crate) fn wait_lines(
        &self,
        mark: usize,
        n: usize,
        within: Duration,
        f: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while self.lines_since(mark).iter().filter(|l| f(l)).count() < n {
            if Instant::now() >= deadline {
                return Err(format!(
                    "timeout after {within:?}; see {}",
                    self.log.display()
                ));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Waits until every worker serves.
    pub(crate) fn wait_settled(&self, within: Duration) -> Result<Vec<u32>, String> {
        self.wait_replaced(&[], within)
    }

    /// Waits for the master's exit, then for the last lines of its log (the end
    /// of the pipe, once every worker is gone too).
    pub(crate) fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + within;
        let timeout = |what: &str| format!("{what} within {within:?}; see {}", self.log.display());
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() >= deadline {
                return Err(timeout("the master did not exit"));
            }
            std::thread::sleep(POLL);
        };
        while !self.reader.is_finished() {
            if Instant::now() >= deadline {
                return Err(timeout("a process still holds the log pipe"));
            }
            std::thread::sleep(POLL);
        }
        Ok(status)
    }

    /// Sends `sig` to `pid` (the master or one of its workers), and records it
    /// in the log: `xtask: kill -SIG PID`, with its duration when it was slow or
    /// failed, so that the log tells a late signal from a late reaction.
    pub(crate) fn signal(&self, sig: &str, pid: u32) -> Result<(), String> {
        record(
            &self.file,
            self.started,
            &format!("xtask: kill -{sig} {pid}"),
        );
        let start = Instant::now();
        let result = signal(sig, pid);
        if result.is_err() || start.elapsed() > Duration::from_millis(100) {
            let what = format!(
                "xtask: kill -{sig} {pid} took {:?}: {result:?}",
                start.elapsed()
            );
            record(&self.file, self.started, &what);
        }
        result
    }

    /// SIGTERM, then the master's exit status.
    pub(crate) fn stop(mut self) -> Result<ExitStatus, String> {
        self.signal("TERM", self.pid)?;
        self.wait_exit(Duration::from_secs(30))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Still running only when a phase failed half-way: take the master and
        // its workers (its process group) down.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.pid)])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.wait();
        }
    }
}

/// Writes `line` to the log file after the seconds since `started`.
fn record(file: &Mutex<std::fs::File>, started: Instant, line: &str) {
    let at = started.elapsed().as_secs_f64();
    let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
    let _ = writeln!(file, "{at:9.3} {line}");
}

/// `INFO [PID] message` → (PID, message).
fn split(line: &str) -> Option<(u32, &str)> {
    let rest = line.split_once(" [")?.1;
    let (pid, message) = rest.split_once("] ")?;
    Some((pid.parse().ok()?, message))
}

/// The pids that logged `http worker ID serving`.
pub(crate) fn serving_pids(lines: &[String]) -> HashSet<u32> {
    lines
        .iter()
        .filter_map(|l| split(l))
        .filter(|(_, m)| m.starts_with("http worker ") && m.ends_with(" serving"))
        .map(|(pid, _)| pid)
        .collect()
}

/// The workers' exits logged by the master: (worker pid, how).
pub(crate) fn exits(lines: &[String]) -> Vec<(u32, Exit)> {
    lines
        .iter()
        .filter_map(|l| split(l))
        .filter_map(|(_, m)| {
            let rest = m.strip_prefix("Child ")?;
            let (pid, how) = rest.split_once(' ')?;
            let pid = pid.parse().ok()?;
            if let Some(code) = how.strip_prefix("exited with status ") {
                Some((pid, Exit::Status(code.parse().ok()?)))
            } else {
                let sig = how.strip_prefix("killed by signal ")?;
                Some((pid, Exit::Signal(sig.to_owned())))
            }
        })
        .collect()
}

/// The sum of `N` over `http worker ID drained: N requests served`.
pub(crate) fn served(lines: &[String]) -> u64 {
    lines
        .iter()
        .filter_map(|l| split(l))
        .filter_map(|(_, m)| {
            let n = m
                .split_once(" drained: ")?
                .1
                .strip_suffix(" requests served")?;
            n.parse::<u64>().ok()
        })
        .sum()
}

/// How many times the master paused forking ("Forking too fast, sleeping").
pub(crate) fn fork_pauses(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.ends_with("Forking too fast, sleeping"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn reads_the_example_log() {
        let log = lines(
            "INFO [1748] http_server on http://127.0.0.1:18080 with 4 workers
INFO [1750] http worker 0 serving
INFO [1754] http worker 1 serving
INFO [1758] Caught SIGTERM signal, graceful exiting of service http(2) [1758]
INFO [1758] http worker 2 drained: 71916 requests served
INFO [1750] http worker 0 drained: 12205 requests served
INFO [1748] Child 1758 exited with status 0
INFO [1748] Child 1750 killed by signal SIGKILL
INFO [1748] Forking too fast, sleeping",
        );
        assert_eq!(serving_pids(&log), HashSet::from([1750, 1754]));
        assert_eq!(
            exits(&log),
            [
                (1758, Exit::Status(0)),
                (1750, Exit::Signal("SIGKILL".to_owned()))
            ]
        );
        assert_eq!(served(&log), 71916 + 12205);
        assert_eq!(fork_pauses(&log), 1);
    }
}
