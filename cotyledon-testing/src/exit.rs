//! How the program under test ends: its exit status and output, and the check
//! that no process of its group is left; dropping a [`Scenario`] kills the group.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::procs::group_members;
use crate::scenario::Scenario;

/// Deadline of [`Scenario::expect_exit`]'s two waits.
const END_DEADLINE: Duration = Duration::from_secs(10);

/// How long [`Scenario::wait_exit`] reads output left in the pipe after the exit.
const LAST_OUTPUT: Duration = Duration::from_secs(2);

impl Scenario {
    /// Waits for the program to exit; then reads the rest of its output (until
    /// every writer has closed the pipes, or 2 s) and returns it as an [`Output`],
    /// for `assert_cmd::assert::OutputAssertExt` or your own checks: `stdout` is
    /// every line read (see [`lines`](Scenario::lines)), `stderr` what
    /// [`stderr`](Scenario::stderr) returns.
    ///
    /// # Panics
    ///
    /// When the program has not exited within `timeout` (the group is killed).
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> Output {
        let status = match self.status {
            Some(s) => s,
            None => match self.exit.recv_timeout(timeout) {
                Ok(Ok(status)) => {
                    self.status = Some(status);
                    status
                }
                Ok(Err(e)) => self.fail(&format!("waiting for the program failed: {e}")),
                Err(_) => self.fail(&format!("program still running after {timeout:?}")),
            },
        };
        let deadline = Instant::now() + LAST_OUTPUT;
        let left = || deadline.saturating_duration_since(Instant::now());
        while let Ok((at, line)) = self.lines.recv_timeout(left()) {
            self.record(at, &line);
            self.unclaimed.push_back(line);
        }
        // Stderr's collector may still be appending (disconnected when done).
        let _ = self.stderr_ended.recv_timeout(left());
        let mut stdout = self.seen.join("\n").into_bytes();
        stdout.push(b'\n');
        Output {
            status,
            stdout,
            stderr: self.stderr(),
        }
    }

    /// Waits (up to 10 s) for the program to exit, asserts its exit code, then
    /// asserts (up to 10 s) that no process of its group is left. For longer
    /// deadlines, call [`wait_exit`](Scenario::wait_exit) and
    /// [`assert_no_process_left`](Scenario::assert_no_process_left) yourself.
    ///
    /// # Panics
    ///
    /// When any of the three does not hold (a program killed by a signal has no
    /// exit code: that fails too).
    #[track_caller]
    pub fn expect_exit(&mut self, code: i32) -> Output {
        use assert_cmd::assert::OutputAssertExt;
        let output = self.wait_exit(END_DEADLINE);
        output.clone().assert().code(code);
        self.assert_no_process_left(END_DEADLINE);
        output
    }

    /// Sends `signal` to the program, then [`expect_exit`](Scenario::expect_exit):
    /// `end_with(Signal::SIGTERM, 0)` is a cotyledon manager's graceful shutdown.
    ///
    /// # Panics
    ///
    /// As [`signal`](Scenario::signal) and [`expect_exit`](Scenario::expect_exit).
    #[track_caller]
    pub fn end_with(&mut self, signal: Signal, code: i32) -> Output {
        self.signal(signal);
        self.expect_exit(code)
    }

    /// The program's exit status, once [`wait_exit`](Scenario::wait_exit) saw it.
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Waits until no process of the group is left: the program, its workers and
    /// whatever they started in the group (orphaned workers are reaped by this
    /// process, a child subreaper). Call it after the program has exited.
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

    /// Reaps what is reapable in the group and tells whether it is empty
    /// (`kill(-pgid, 0)` fails with ESRCH).
    pub fn group_is_gone(&self) -> bool {
        if self.status.is_some() {
            // Only once the program itself was reaped by its waiter thread, so
            // that waitpid(-pgid) cannot steal the program's own status.
            while let Ok(status) = waitpid(Pid::from_raw(-self.pid), Some(WaitPidFlag::WNOHANG)) {
                if status.pid().is_none() {
                    break;
                }
            }
        }
        matches!(killpg(Pid::from_raw(self.pid), None), Err(Errno::ESRCH))
    }

    /// The exit status as a code, or `128 + signal` when killed (as a shell
    /// reports it).
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
