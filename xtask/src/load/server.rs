//! The example under test (`http_server` or `async_http_server`): started with 4
//! workers (or, with `--single-process`, 4 accept threads) on loopback, its log
//! lines collected (`server/logs.rs` reads them), its workers read from `/proc`,
//! signals sent with `kill`. Every line also goes to a log file, for the
//! post-mortem, after the seconds since the server started.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bench::procfs::children;

mod logs;

pub(crate) use logs::{
    Exit, drained_pids, exits, fork_pauses, one_at_a_time, recycles, replaced_at, served,
    serving_pids,
};

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
    /// Each line with when it was read, since `started`.
    lines: Arc<Mutex<Vec<(Duration, String)>>>,
    /// Reads the log until every process that holds its pipe has exited.
    reader: std::thread::JoinHandle<()>,
    log: PathBuf,
    /// The log file, where the task also records the signals it sends.
    file: Arc<Mutex<std::fs::File>>,
    started: Instant,
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
        let server = Server::spawn(bin, port, extra, log)?;
        server.wait_settled(boot + Duration::from_secs(10))?;
        Ok(server)
    }

    /// Starts `bin --listen 127.0.0.1:PORT --workers 4 EXTRA...`, and returns
    /// at once.
    pub(crate) fn spawn(
        bin: &Path,
        port: u16,
        extra: &[String],
        log: PathBuf,
    ) -> Result<Server, String> {
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--workers", &WORKERS.to_string()])
            .args(extra);
        Server::spawn_command(cmd, log)
    }

    /// Starts `cmd` (a master logging on stderr), and returns at once.
    pub(crate) fn spawn_command(mut cmd: Command, log: PathBuf) -> Result<Server, String> {
        let file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let file = Arc::new(Mutex::new(file));
        let bin = PathBuf::from(cmd.get_program());
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so that Drop can take every process down.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let lines: Arc<Mutex<Vec<(Duration, String)>>> = Arc::default();
        let sink = lines.clone();
        let started = Instant::now();
        let out = file.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                record(&out, started, &line);
                let at = started.elapsed();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((at, line));
            }
        });
        Ok(Server {
            pid: child.id(),
            child,
            lines,
            reader,
            log,
            file,
            started,
        })
    }

    /// The number of log lines so far: pass it to [`lines_since`](Self::lines_since).
    pub(crate) fn mark(&self) -> usize {
        self.lock().len()
    }

    /// The log lines after `mark`.
    pub(crate) fn lines_since(&self, mark: usize) -> Vec<String> {
        let lines = self.lock();
        let after = lines.get(mark..).unwrap_or_default();
        after.iter().map(|(_, line)| line.clone()).collect()
    }

    /// When each line after `mark` was read, since the server started.
    pub(crate) fn times_since(&self, mark: usize) -> Vec<Duration> {
        let lines = self.lock();
        let after = lines.get(mark..).unwrap_or_default();
        after.iter().map(|(at, _)| *at).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Duration, String)>> {
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
