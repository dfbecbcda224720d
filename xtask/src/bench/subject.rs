//! The four subjects (ours, python, bare, threaded), and one running subject
//! ([`Proc`]) with its stdout lines and exit as timestamped events.
//!
//! Each subject runs in its own process group (`process_group(0)`) with stdout and
//! stderr piped. A reader thread stamps each stdout line with the [`Instant`] it
//! was read; a waiter thread blocks in `Child::wait` and stamps the exit. Both feed
//! one channel, read with deadlines (`recv_timeout`): nothing is polled. Dropping a
//! [`Proc`] SIGKILLs its process group, reaps the master and waits until no process
//! of the group is left.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::procfs;
use super::signaller::{SIGKILL, Signaller};

/// Which implementation runs the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Ours,
    Python,
    Bare,
    /// bare with one idle thread per worker: the floor of the run thread.
    Threaded,
}

/// How many subjects there are.
pub(crate) const SUBJECTS: usize = 4;

/// Every subject, in the order of the runs and the table's columns.
pub(crate) const KINDS: [Kind; SUBJECTS] = [Kind::Ours, Kind::Python, Kind::Bare, Kind::Threaded];

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Python => "python",
            Kind::Bare => "bare",
            Kind::Threaded => "threaded",
        }
    }
}

/// How to start each subject; `None` when it is unavailable.
pub(crate) struct Programs {
    pub(crate) ours: PathBuf,
    /// (the venv's python, the scenario script)
    pub(crate) python: Option<(PathBuf, PathBuf)>,
    /// `bare.c` compiled: both floors, and the signal helper.
    pub(crate) bare: Option<PathBuf>,
}

impl Programs {
    /// The command running `kind`'s scenario with `workers` workers.
    pub(crate) fn command(
        &self,
        kind: Kind,
        workers: usize,
        wait_ms: u64,
        scale: Option<&std::path::Path>,
    ) -> Option<Command> {
        let mut cmd = match kind {
            Kind::Ours => Command::new(&self.ours),
            Kind::Python => {
                let (python, script) = self.python.as_ref()?;
                let mut cmd = Command::new(python);
                cmd.arg(script);
                cmd
            }
            Kind::Bare | Kind::Threaded => {
                let mut cmd = Command::new(self.bare.as_ref()?);
                cmd.arg(if kind == Kind::Bare {
                    "serve"
                } else {
                    "threaded"
                });
                cmd
            }
        };
        cmd.arg(workers.to_string()).arg(wait_ms.to_string());
        if let Some(path) = scale {
            cmd.arg(path);
        }
        Some(cmd)
    }

    /// The command running ours' watchdog scenario (`bench watchdog TIMEOUT_MS`).
    pub(crate) fn watchdog_command(&self, timeout_ms: u64) -> Command {
        let mut cmd = Command::new(&self.ours);
        cmd.arg("watchdog").arg(timeout_ms.to_string());
        cmd
    }
}

/// What a subject prints: `run NAME ID PID` or `reload NAME ID PID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) reload: bool,
    pub(crate) id: usize,
    pub(crate) pid: u32,
}

impl Line {
    pub(crate) fn parse(text: &str) -> Option<Line> {
        let mut words = text.split_whitespace();
        let reload = match words.next()? {
            "run" => false,
            "reload" => true,
            _ => return None,
        };
        let _name = words.next()?;
        let id = words.next()?.parse().ok()?;
        let pid = words.next()?.parse().ok()?;
        Some(Line { reload, id, pid })
    }
}

enum Event {
    Line(Instant, String),
    Exit(Instant, std::io::Result<ExitStatus>),
}

/// A running subject.
pub(crate) struct Proc {
    pub(crate) kind: Kind,
    /// The master: the spawned process, leader of its own process group.
    pub(crate) pid: u32,
    /// Just before `spawn()`.
    pub(crate) started: Instant,
    events: Receiver<Event>,
    signaller: Rc<RefCell<Signaller>>,
    stderr: Arc<Mutex<String>>,
    exited: Option<(Instant, String)>,
}

impl Proc {
    pub(crate) fn spawn(
        kind: Kind,
        mut cmd: Command,
        signaller: &Rc<RefCell<Signaller>>,
    ) -> Result<Proc, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", kind.name()))?;
        let pid = child.id();
        signaller.borrow_mut().track(pid, true);
        let (tx, events) = channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let lines = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(Event::Line(Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr is piped");
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut buf) {
                let mut text = collected.lock().unwrap_or_else(|e| e.into_inner());
                if text.len() < 1 << 20 {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send(Event::Exit(Instant::now(), status));
        });
        Ok(Proc {
            kind,
            pid,
            started,
            events,
            signaller: Rc::clone(signaller),
            stderr,
            exited: None,
        })
    }

    /// The next stdout line (parsed) before `deadline`; `Ok(None)` at the
    /// deadline; an error if the master exited.
    pub(crate) fn next_line(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<(Instant, Line)>, String> {
        while let Some((at, text)) = self.next_text(deadline)? {
            if let Some(line) = Line::parse(&text) {
                return Ok(Some((at, line)));
            }
        }
        Ok(None)
    }

    /// The next stdout line as printed, as [`next_line`](Self::next_line).
    pub(crate) fn next_text(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<(Instant, String)>, String> {
        loop {
            if let Some((_, status)) = &self.exited {
                return Err(format!(
                    "{} master exited early ({status}){}",
                    self.kind.name(),
                    self.stderr_tail()
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Line(at, text)) => return Ok(Some((at, text))),
                Ok(Event::Exit(at, status)) => self.exited = Some((at, describe(status))),
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => return Err("subject vanished".into()),
            }
        }
    }

    /// Feeds lines to `f` until it returns true (then returns that line's instant)
    /// or `deadline` passes (an error saying `what` did not happen).
    pub(crate) fn until(
        &mut self,
        deadline: Instant,
        what: &str,
        mut f: impl FnMut(Line) -> bool,
    ) -> Result<Instant, String> {
        while let Some((at, line)) = self.next_line(deadline)? {
            if f(line) {
                return Ok(at);
            }
        }
        Err(format!("timeout: {what}{}", self.stderr_tail()))
    }

    /// Sends `sig` to the master; the instant just before.
    pub(crate) fn signal(&self, sig: i32) -> Result<Instant, String> {
        self.signaller.borrow_mut().kill(sig, i64::from(self.pid))
    }

    /// Sends `sig` to another process (a worker).
    pub(crate) fn signal_pid(&self, sig: i32, pid: u32) -> Result<Instant, String> {
        self.signaller.borrow_mut().kill(sig, i64::from(pid))
    }

    /// Waits for the master's exit: its instant and status.
    pub(crate) fn wait_exit(&mut self, deadline: Instant) -> Result<(Instant, String), String> {
        loop {
            if let Some(exit) = &self.exited {
                return Ok(exit.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Line(..)) => {}
                Ok(Event::Exit(at, status)) => self.exited = Some((at, describe(status))),
                Err(_) => return Err(format!("timeout: master exit{}", self.stderr_tail())),
            }
        }
    }

    /// The last error line the subject wrote on stderr (tracebacks of several
    /// processes interleave: prefer a line naming an error), if any.
    fn stderr_tail(&self) -> String {
        let text = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let mut lines = text.lines().rev().filter(|l| !l.trim().is_empty());
        let error = text
            .lines()
            .rev()
            .find(|l| l.contains("Error") || l.contains("error"));
        match error.or_else(|| lines.next()) {
            Some(line) => format!("; stderr: {}", line.trim()),
            None => String::new(),
        }
    }
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self
            .signaller
            .borrow_mut()
            .kill(SIGKILL, -i64::from(self.pid));
        let deadline = Instant::now() + Duration::from_secs(10);
        let _ = self.wait_exit(deadline);
        // The workers are orphans now, reaped by the bench's subreaper: wait until
        // none is left, so that the next measurement starts on a quiet machine.
        while !procfs::group_members(self.pid).is_empty() && Instant::now() < deadline {
            let _ = self
                .signaller
                .borrow_mut()
                .kill(SIGKILL, -i64::from(self.pid));
            std::thread::sleep(Duration::from_millis(10));
        }
        self.signaller.borrow_mut().track(self.pid, false);
    }
}
