//! [`Scenario`]: one running manager under test.

use std::collections::{HashMap, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::procs::{become_subreaper, group_members, mask_pids, parse_bracket_pid};

/// Deadline of [`Scenario::expect_exit`]'s two waits.
const END_DEADLINE: Duration = Duration::from_secs(10);

/// How to start a scenario: program, scenario name, extra arguments and environment.
#[derive(Debug)]
pub struct ScenarioBuilder {
    bin: PathBuf,
    name: String,
    args: Vec<OsString>,
    env: HashMap<OsString, OsString>,
    own_group: bool,
    wrapper: Vec<String>,
}

impl ScenarioBuilder {
    /// Runs the scenario program through `wrapper` (e.g. `unshare --fork --pid`),
    /// which must exec or wait for it; [`Scenario::pid`] is then the wrapper's.
    pub fn wrapped_in(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Starts the scenario in the test's own process group instead of a new one,
    /// so that the manager's own `setsid()` can succeed (it fails for a group
    /// leader). Either way the manager's pid is then its group's id.
    pub fn without_process_group(mut self) -> Self {
        self.own_group = false;
        self
    }

    /// Adds an argument after the scenario name (it need not be UTF-8).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Sets an environment variable for the scenario (any bytes but NUL, so
    /// values that are not UTF-8 can be tested).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .insert(key.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    /// Starts the scenario as the leader of a new process group.
    ///
    /// # Panics
    ///
    /// If the program cannot be started.
    pub fn spawn(self) -> Scenario {
        become_subreaper();
        let mut cmd = match self.wrapper.split_first() {
            None => Command::new(&self.bin),
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&self.bin);
                cmd
            }
        };
        cmd.arg(&self.name)
            .args(&self.args)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.own_group {
            cmd.process_group(0);
        }
        let mut child: Child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", self.bin.display(), self.name));
        let pid = child.id() as i32;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (line_tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line_tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr_buf = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr_buf.clone();
        std::thread::spawn(move || {
            let mut stderr = stderr;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .extend_from_slice(&buf[..n]);
            }
        });
        let (exit_tx, exit) = channel();
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = exit_tx.send(status.map_err(|e| e.to_string()));
        });
        Scenario {
            name: self.name,
            pid,
            lines,
            seen: Vec::new(),
            seen_at: Vec::new(),
            unclaimed: VecDeque::new(),
            exit,
            status: None,
            stderr: stderr_buf,
        }
    }
}

/// A running scenario: a manager and its workers, in a process group of their own
/// (the group id is the manager's pid). Dropping it SIGKILLs the whole group.
#[derive(Debug)]
pub struct Scenario {
    name: String,
    pid: i32,
    lines: Receiver<(Instant, String)>,
    seen: Vec<String>,
    /// When the reader thread read each line of `seen`.
    seen_at: Vec<Instant>,
    unclaimed: VecDeque<String>,
    exit: Receiver<Result<ExitStatus, String>>,
    status: Option<ExitStatus>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Scenario {
    /// A builder for scenario `name` of the program `bin`.
    pub fn builder(bin: impl AsRef<Path>, name: &str) -> ScenarioBuilder {
        ScenarioBuilder {
            bin: bin.as_ref().to_owned(),
            name: name.to_owned(),
            args: Vec::new(),
            env: HashMap::new(),
            own_group: true,
            wrapper: Vec::new(),
        }
    }

    /// Starts scenario `name` of the program `bin`.
    pub fn spawn(bin: impl AsRef<Path>, name: &str) -> Scenario {
        Self::builder(bin, name).spawn()
    }

    /// The manager's pid (also the process group id).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Every line read so far, in order.
    pub fn lines(&self) -> &[String] {
        &self.seen
    }

    /// When each line of [`lines`](Scenario::lines) was read from the pipe (the
    /// reader thread notes the time as it receives the line, before any wait).
    pub fn line_times(&self) -> &[Instant] {
        &self.seen_at
    }

    /// Reads lines until one contains `needle`; returns it.
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

    fn record(&mut self, at: Instant, line: &str) {
        self.seen.push(line.to_owned());
        self.seen_at.push(at);
    }

    /// Waits for `DEBUG:cotyledon::worker:Run service NAME(ID) [PID]`; returns PID.
    #[track_caller]
    pub fn wait_for_run(&mut self, service: &str, id: usize, timeout: Duration) -> i32 {
        let prefix = format!("Run service {service}({id}) [");
        let line = self.wait_for_line(&prefix, timeout);
        parse_bracket_pid(&line).unwrap_or_else(|| self.fail(&format!("no pid in {line:?}")))
    }

    /// Reads every line that arrives within `quiet` of the previous one.
    pub fn drain(&mut self, quiet: Duration) {
        while let Ok((at, line)) = self.lines.recv_timeout(quiet) {
            self.record(at, &line);
            self.unclaimed.push_back(line);
        }
    }

    /// Sends `signal` to the manager.
    pub fn signal(&self, signal: Signal) {
        self.kill(self.pid, signal);
    }

    /// Sends `signal` to any process (a worker found with [`wait_for_run`]).
    ///
    /// [`wait_for_run`]: Scenario::wait_for_run
    pub fn kill(&self, pid: i32, signal: Signal) {
        kill(Pid::from_raw(pid), signal)
            .unwrap_or_else(|e| panic!("kill({pid}, {signal}) failed: {e}"));
    }

    /// Waits for the manager to exit; then reads the rest of its output (until
    /// every writer has closed it, or 2 s) and returns it as an [`Output`] for
    /// `assert_cmd::assert::OutputAssertExt`.
    ///
    /// # Panics
    ///
    /// When the manager has not exited within `timeout` (the group is killed).
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> Output {
        let status = match self.status {
            Some(s) => s,
            None => match self.exit.recv_timeout(timeout) {
                Ok(Ok(status)) => {
                    self.status = Some(status);
                    status
                }
                Ok(Err(e)) => self.fail(&format!("waiting for the manager failed: {e}")),
                Err(_) => self.fail(&format!("manager still running after {timeout:?}")),
            },
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        let left = || deadline.saturating_duration_since(Instant::now());
        while let Ok((at, line)) = self.lines.recv_timeout(left()) {
            self.record(at, &line);
            self.unclaimed.push_back(line);
        }
        let mut stdout = self.seen.join("\n").into_bytes();
        stdout.push(b'\n');
        Output {
            status,
            stdout,
            stderr: self.stderr.lock().expect("stderr buffer").clone(),
        }
    }

    /// Waits (up to 10 s) for the manager to exit, asserts its exit code, then
    /// asserts (up to 10 s) that no process of its group is left.
    ///
    /// # Panics
    ///
    /// When any of the three does not hold.
    #[track_caller]
    pub fn expect_exit(&mut self, code: i32) -> Output {
        use assert_cmd::assert::OutputAssertExt;
        let output = self.wait_exit(END_DEADLINE);
        output.clone().assert().code(code);
        self.assert_no_process_left(END_DEADLINE);
        output
    }

    /// Sends `signal` to the manager, then [`expect_exit`](Scenario::expect_exit).
    #[track_caller]
    pub fn end_with(&mut self, signal: Signal, code: i32) -> Output {
        self.signal(signal);
        self.expect_exit(code)
    }

    /// The manager's exit status, once [`wait_exit`](Scenario::wait_exit) saw it.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Waits until no process of the group is left (orphaned workers are reaped
    /// by this process, a child subreaper). Call after the manager has exited.
    ///
    /// # Panics
    ///
    /// When some process of the group is still there after `timeout`; lists them.
    #[track_caller]
    pub fn assert_no_process_left(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.group_is_gone() {
                return;
            }
            if Instant::now() >= deadline {
                let left = group_members(self.pid);
                self.fail(&format!("processes left in group {}: {left:?}", self.pid));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Reaps what is reapable in the group and tells whether it is empty.
    pub fn group_is_gone(&self) -> bool {
        if self.status.is_some() {
            // Only once the manager itself was reaped by its waiter thread, so that
            // waitpid(-pgid) cannot steal the manager's own status.
            while let Ok(status) = waitpid(Pid::from_raw(-self.pid), Some(WaitPidFlag::WNOHANG)) {
                if status.pid().is_none() {
                    break;
                }
            }
        }
        matches!(killpg(Pid::from_raw(self.pid), None), Err(Errno::ESRCH))
    }

    /// Kills the group and panics with everything read so far.
    #[track_caller]
    pub fn fail(&self, why: &str) -> ! {
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        let stderr = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        panic!(
            "scenario {} (pid {}): {why}\n--- stdout so far ---\n{}\n--- stderr ---\n{stderr}",
            self.name,
            self.pid,
            self.seen.join("\n")
        )
    }

    /// The lines read so far with pids masked (see [`mask_pids`]).
    pub fn masked_lines(&self) -> Vec<String> {
        self.seen.iter().map(|l| mask_pids(l)).collect()
    }

    /// The exit status as a code, or `128 + signal` when killed.
    pub fn code_of(status: ExitStatus) -> i32 {
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
        if self.status.is_none()
            && let Ok(Ok(status)) = self.exit.recv_timeout(Duration::from_secs(5))
        {
            self.status = Some(status);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.group_is_gone() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
