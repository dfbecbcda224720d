//! [`Scenario`]: one running program under test (a cotyledon manager and its
//! workers, or any command), its output read as lines, waits with deadlines,
//! signals, exit status, and the check that none of its processes is left.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::builder::{ScenarioBuilder, label_of};
use crate::output::{Line, collect_bytes, send_lines};
use crate::procs::{mask_pids, pid_after};

/// A running program under test: a cotyledon manager and its workers (or any
/// command), by default in a process group of its own whose id is the program's
/// pid. Its output is read as lines, which the `wait_for*` methods wait for with
/// deadlines.
///
/// Dropping it SIGKILLs the whole group, so a test that fails (panics) leaves
/// nothing behind. Every method that waits takes a deadline and, when it passes,
/// kills the group and panics with the command and every line read so far.
#[derive(Debug)]
pub struct Scenario {
    pub(crate) label: String,
    pub(crate) pid: i32,
    pub(crate) lines: Receiver<Line>,
    pub(crate) seen: Vec<String>,
    /// When the reader thread read each line of `seen`.
    pub(crate) seen_at: Vec<Instant>,
    pub(crate) unclaimed: VecDeque<String>,
    pub(crate) exit: Receiver<Result<ExitStatus, String>>,
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stderr: Arc<Mutex<Vec<u8>>>,
    /// Disconnected once stderr has ended (at once when it is read as lines).
    pub(crate) stderr_ended: Receiver<()>,
}

impl Scenario {
    /// A builder that starts `cmd` (its program, arguments, environment and
    /// working directory) under the harness. Its stdin, stdout and stderr are
    /// replaced (stdin `/dev/null`, the others piped to the harness), and it gets
    /// a process group of its own (see [`ScenarioBuilder`] for the options).
    ///
    /// ```no_run
    /// use std::process::Command;
    /// use cotyledon_testing::Scenario;
    ///
    /// let mut cmd = Command::new("target/debug/consumer"); // env!("CARGO_BIN_EXE_consumer")
    /// cmd.args(["--workers", "2"]).env("QUEUE", "test");
    /// let app = Scenario::command(cmd).spawn();
    /// ```
    pub fn command(cmd: Command) -> ScenarioBuilder {
        let label = label_of(&cmd);
        ScenarioBuilder::new(cmd, label)
    }

    /// A builder that starts `program` with no arguments (add them with
    /// [`ScenarioBuilder::arg`]); the same as
    /// [`Scenario::command`]`(Command::new(program))`.
    pub fn program(program: impl AsRef<OsStr>) -> ScenarioBuilder {
        Self::command(Command::new(program))
    }

    /// A builder for the scenario `name` of a program that takes the scenario's
    /// name as its first argument, as cotyledon's own `examples/scenarios.rs`
    /// does: [`Scenario::program`]`(bin).arg(name)`, named `name` in failure
    /// messages.
    pub fn builder(bin: impl AsRef<Path>, name: &str) -> ScenarioBuilder {
        let mut cmd = Command::new(bin.as_ref());
        cmd.arg(name);
        ScenarioBuilder::new(cmd, name.to_owned())
    }

    /// Starts the scenario `name` of the program `bin`:
    /// [`Scenario::builder`]`(bin, name).spawn()`.
    pub fn spawn(bin: impl AsRef<Path>, name: &str) -> Scenario {
        Self::builder(bin, name).spawn()
    }

    /// Takes over a started child: a thread reads each of its pipes and another
    /// waits for its exit.
    pub(crate) fn start(mut child: Child, label: String, merge_stderr: bool) -> Scenario {
        let pid = child.id() as i32;
        let (line_tx, lines) = channel();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(pipe) = child.stdout.take() {
            send_lines(pipe, line_tx.clone());
        }
        let stderr_ended = match child.stderr.take() {
            Some(pipe) if !merge_stderr => collect_bytes(pipe, stderr.clone()),
            pipe => {
                if let Some(pipe) = pipe {
                    send_lines(pipe, line_tx);
                }
                channel().1
            }
        };
        let (exit_tx, exit) = channel();
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = exit_tx.send(status.map_err(|e| e.to_string()));
        });
        Scenario {
            label,
            pid,
            lines,
            seen: Vec::new(),
            seen_at: Vec::new(),
            unclaimed: VecDeque::new(),
            exit,
            status: None,
            stderr,
            stderr_ended,
        }
    }

    /// The program's pid: a cotyledon manager's, or the wrapper's (see
    /// [`ScenarioBuilder::wrapped_in`]). Also its process group's id, unless it
    /// was started [`without_process_group`](ScenarioBuilder::without_process_group)
    /// and did not make a group of its own.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Every line read so far, in order, matched by a wait or not.
    pub fn lines(&self) -> &[String] {
        &self.seen
    }

    /// When each line of [`lines`](Scenario::lines) was read from the pipe (the
    /// reader thread notes the time as it receives the line, before any wait).
    pub fn line_times(&self) -> &[Instant] {
        &self.seen_at
    }

    /// The lines read so far with pids masked (see [`mask_pids`]), to compare
    /// with expected lines.
    pub fn masked_lines(&self) -> Vec<String> {
        self.seen.iter().map(|l| mask_pids(l)).collect()
    }

    /// What the program wrote to stderr so far (empty with
    /// [`merge_stderr`](ScenarioBuilder::merge_stderr), whose lines go to
    /// [`lines`](Scenario::lines)).
    pub fn stderr(&self) -> Vec<u8> {
        self.stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits for a line that contains `needle` (see [`wait_for`](Scenario::wait_for)
    /// for which lines count); returns it.
    ///
    /// # Panics
    ///
    /// When `timeout` passes or the output ends first: the group is killed and the
    /// panic message holds every line read.
    #[track_caller]
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_for(|l| l.contains(needle), timeout)
            .unwrap_or_else(|why| self.fail(&format!("no line containing {needle:?} ({why})")))
    }

    /// Finds the first line for which `pred` holds among the lines no earlier
    /// wait has matched, reading more until `timeout`; returns it, or why it did
    /// not come. Each line satisfies one wait at most, so waiting twice for
    /// "heavy run" waits for two such lines, in whatever order workers print them.
    ///
    /// # Errors
    ///
    /// `"timed out after …"` or `"output closed"` (every writer of the pipe has
    /// closed it: the program and its workers are gone). The group is left
    /// running: this is the wait that may fail without ending the test.
    pub fn wait_for(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, String> {
        if let Some(i) = self.unclaimed.iter().position(|l| pred(l)) {
            return Ok(self.unclaimed.remove(i).unwrap_or_default());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.record(at, &line);
                    if pred(&line) {
                        return Ok(line);
                    }
                    self.unclaimed.push_back(line);
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("timed out after {timeout:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => return Err("output closed".to_owned()),
            }
        }
    }

    /// Records a line read from the channel.
    pub(crate) fn record(&mut self, at: Instant, line: &str) {
        self.seen.push(line.to_owned());
        self.seen_at.push(at);
    }

    /// Waits for the line a cotyledon worker logs (at DEBUG, target
    /// `cotyledon::worker`) as it starts its service, `Run service NAME(ID) [PID]`,
    /// in whatever format the program's logger writes it; returns PID. The
    /// program's logger must let DEBUG records of `cotyledon::worker` through;
    /// [`wait_for_workers`](Scenario::wait_for_workers) needs no log line.
    ///
    /// # Panics
    ///
    /// As [`wait_for_line`](Scenario::wait_for_line).
    #[track_caller]
    pub fn wait_for_run(&mut self, service: &str, id: usize, timeout: Duration) -> i32 {
        let prefix = format!("Run service {service}({id}) [");
        let line = self.wait_for_line(&prefix, timeout);
        pid_after(&line, &prefix).unwrap_or_else(|| self.fail(&format!("no pid in {line:?}")))
    }

    /// Reads every line that arrives within `quiet` of the previous one (they
    /// stay available to later waits).
    pub fn drain(&mut self, quiet: Duration) {
        while let Ok((at, line)) = self.lines.recv_timeout(quiet) {
            self.record(at, &line);
            self.unclaimed.push_back(line);
        }
    }

    /// Sets aside the lines read so far that no wait has matched: later waits
    /// match only lines read after them (they stay in [`lines`](Scenario::lines)).
    /// A wait for a line reads no further than the line it matches, so right
    /// after `wait_for_line(marker)` these are exactly the lines up to the
    /// marker (waits on /proc and [`drain`](Scenario::drain) read on). To
    /// skip every line of a worker, mark with a line that comes after them in
    /// the same pipe, such as the manager's `Child PID exited…` line for it (a
    /// worker writes its lines before it dies, the manager reports its death
    /// after). With [`merge_stderr`](ScenarioBuilder::merge_stderr), lines of the
    /// other pipe may be read late, and so not set aside.
    pub fn skip_pending_lines(&mut self) {
        self.unclaimed.clear();
    }

    /// Kills the group with SIGKILL and panics with `why`, the command, and
    /// everything read so far (stdout lines and stderr).
    #[track_caller]
    pub fn fail(&self, why: &str) -> ! {
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        let stderr = self.stderr();
        let stderr = String::from_utf8_lossy(&stderr);
        panic!(
            "scenario {} (pid {}): {why}\n--- stdout so far ---\n{}\n--- stderr ---\n{stderr}",
            self.label,
            self.pid,
            self.seen.join("\n")
        )
    }
}
