//! The binary upgrade's I/O (the decisions are in `supervisor/upgrade.rs`):
//! starting the new master with every listener and a hand-over pipe (see
//! `crate::upgrade` for the protocol), reading what it says, telling systemd
//! that it took over; and, in a new master, telling the old one it is ready.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use log::{info, warn};

use super::Shell;
use super::edge::flush_output;
use crate::manager::control;
use crate::manager::supervisor::Input;
use crate::sys;
use crate::sys::handler::master as emergency;
use crate::upgrade::{self, Said};

const TARGET: &str = "cotyledon::manager";

/// Variables the new master gets from us, not from our environment.
const OURS: [&str; 7] = [
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    upgrade::VAR,
];

/// A new master started by this one, until it is reaped.
#[derive(Debug)]
pub(super) struct Link {
    pid: i32,
    /// The hand-over pipe's read end, until it said its word or closed.
    read: Option<OwnedFd>,
    buf: Vec<u8>,
    /// Its slot in the emergency registry (so SIGINT during a hook reaches it),
    /// until it takes over.
    slot: Option<usize>,
}

impl Link {
    /// The pipe to poll, while it is open.
    pub(super) fn read_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.read.as_ref().map(AsFd::as_fd)
    }
}

impl Shell {
    /// Starts the new master; the answer for the supervisor.
    pub(super) fn start_upgrade(&mut self) -> Input {
        match self.try_start_upgrade() {
            Ok(input) => input,
            Err(reason) => Input::UpgradeFailed(reason),
        }
    }

    fn try_start_upgrade(&mut self) -> Result<Input, String> {
        if self.pid1 {
            return Err(
                "the master is PID 1 (a container's init): the new master could not \
                        outlive it, so there is no upgrade in place; replace the container \
                        instead"
                    .to_owned(),
            );
        }
        let exe = self.m.exe.clone();
        let shown = exe.display().to_string();
        if exe.as_os_str().is_empty() {
            return Err("the path of this program is unknown; set upgrade_exe".to_owned());
        }
        match std::fs::metadata(&exe) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(format!("{shown} is not a file")),
            Err(e) => return Err(format!("{shown}: {e}")),
        }
        if let Err(e) = nix::unistd::access(&exe, nix::unistd::AccessFlags::X_OK) {
            return Err(format!("{shown} is not executable: {e}"));
        }
        let listeners = crate::listen::for_handover();
        if listeners.len() >= sys::exec::MAX_FDS {
            return Err(format!(
                "{} listeners: at most {} can be handed over",
                listeners.len(),
                sys::exec::MAX_FDS - 1
            ));
        }
        let (read, write) =
            sys::pipe::pipe().map_err(|e| format!("could not create the hand-over pipe: {e}"))?;
        let mut fds: Vec<RawFd> = listeners.iter().map(|(_, fd, _)| *fd).collect();
        // The control endpoint's listeners after them (not in LISTEN_FDS: they
        // are no listeners of the program), then the pipe, last.
        let at = |fds: &Vec<RawFd>| 3 + RawFd::try_from(fds.len()).unwrap_or(0);
        let mut control = upgrade::ControlFds::default();
        if let Some((unix, tcp)) = self.control_fds() {
            if let Some(fd) = unix {
                control.unix = Some(at(&fds));
                fds.push(fd);
            }
            if let Some(fd) = tcp {
                control.tcp = Some(at(&fds));
                fds.push(fd);
            }
        }
        let pipe_at = at(&fds);
        fds.push(write.as_raw_fd());
        let names: Vec<&str> = listeners.iter().map(|(n, _, _)| n.as_str()).collect();
        let claimed: Vec<usize> = (0..listeners.len()).filter(|&i| listeners[i].2).collect();
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| !OURS.iter().any(|o| k.as_bytes() == o.as_bytes()))
            .collect();
        env.push(("LISTEN_FDS".into(), listeners.len().to_string().into()));
        env.push(("LISTEN_FDNAMES".into(), names.join(":").into()));
        if let Some(socket) = self.notifier.socket() {
            env.push(("NOTIFY_SOCKET".into(), socket.to_owned()));
        }
        if let Some(half) = self.notifier.watchdog() {
            let usec = half.as_micros().saturating_mul(2);
            env.push(("WATCHDOG_USEC".into(), usec.to_string().into()));
        }
        env.push((
            upgrade::VAR.into(),
            upgrade::var_value(pipe_at, std::process::id(), &claimed, control),
        ));
        let env_refs: Vec<(&OsStr, &OsStr)> = env
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
            .collect();
        let argv: Vec<&OsStr> = self.m.argv.iter().map(OsString::as_os_str).collect();
        let mut plan = sys::exec::ExecPlan::new(
            exe.as_os_str(),
            &argv,
            &env_refs,
            &["LISTEN_PID"],
            fds,
            &upgrade::exec_failed_prefix(),
        )
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
        let slot = emergency::reserve();
        flush_output();
        let pid = match sys::exec::spawn(&mut plan) {
            Ok(pid) => pid.as_raw(),
            Err(e) => {
                if let Some(slot) = slot {
                    emergency::release(slot);
                }
                return Err(format!("could not fork the new master: {e}"));
            }
        };
        drop(write);
        if let Some(slot) = slot {
            emergency::fill(slot, pid);
        }
        info!(
            target: TARGET,
            "Upgrade: executing {shown} as new master [{pid}] with {} listeners",
            listeners.len()
        );
        self.link = Some(Link {
            pid,
            read: Some(read),
            buf: Vec::new(),
            slot,
        });
        Ok(Input::UpgradeStarted { pid })
    }

    /// What the new master said on its pipe since the last look (nothing
    /// without an attempt): at most one word, after which the pipe is closed.
    pub(super) fn upgrade_inputs(&mut self) -> Option<Input> {
        let link = self.link.as_mut()?;
        let read = link.read.as_ref()?;
        let open = sys::pipe::drain(read, &mut link.buf).unwrap_or(false);
        let word = match link.buf.iter().position(|&b| b == b'\n') {
            Some(end) => Some(upgrade::parse_line(&link.buf[..end])),
            None if link.buf.len() > upgrade::MAX_LINE => Some(Said::Garbage(
                String::from_utf8_lossy(&link.buf[..80]).into_owned(),
            )),
            None => None,
        };
        if word.is_some() || !open {
            link.read = None;
            link.buf = Vec::new();
        }
        let pid = link.pid;
        let shown = self.m.exe.display();
        Some(match word? {
            Said::Ready => Input::UpgradeReady,
            Said::ExecFailed(errno) => Input::UpgradeFailed(format!(
                "could not execute {shown}: {}",
                std::io::Error::from_raw_os_error(errno)
            )),
            Said::Refused(why) => {
                Input::UpgradeFailed(format!("the new master [{pid}] refused: {why}"))
            }
            Said::OtherVersion(v) => Input::UpgradeFailed(format!(
                "the new master [{pid}] speaks hand-over version {v}; this master speaks v{}",
                upgrade::VERSION
            )),
            Said::Garbage(line) => Input::UpgradeFailed(format!(
                "the new master [{pid}] wrote {line:?} on its hand-over pipe"
            )),
        })
    }

    /// The new master was reaped: forget it.
    pub(super) fn upgrade_reaped(&mut self, pid: i32) {
        if self.link.as_ref().is_some_and(|l| l.pid == pid)
            && let Some(link) = self.link.take()
            && let Some(slot) = link.slot
        {
            emergency::release(slot);
        }
    }

    /// The new master took over: systemd follows it, this master says no more
    /// (not even `STOPPING=1` from an emergency exit), and a SIGINT to this
    /// master no longer reaches it.
    pub(super) fn hand_over(&mut self, pid: i32) {
        self.notifier.send(&format!("MAINPID={pid}\nREADY=1"));
        // The control endpoint is the new master's now: this one stops
        // serving it and leaves its socket file in place.
        if let Some(control) = self.control.take() {
            control.hand_over();
        }
        self.notifier = crate::sd_notify::Notifier::silent();
        emergency::mark_stopping();
        if let Some(link) = self.link.as_mut() {
            link.read = None;
            if let Some(slot) = link.slot.take() {
                emergency::release(slot);
            }
        }
    }

    /// This master is the new one: tell the old one every worker is ready,
    /// and serve the control endpoint from now on.
    pub(super) fn tell_ready(&mut self) {
        if self.control.is_none() {
            self.control = self.m.control.take().map(control::Server::new);
        }
        let Some(handover) = self.m.handover.take() else {
            return;
        };
        let old = handover.old_pid;
        if let Err(e) = handover.tell_ready() {
            warn!(
                target: TARGET,
                "Upgrade: could not tell the old master [{old}] that this one is ready: {e}"
            );
        }
    }

    /// The fds a forked worker must close: the hand-over pipes.
    pub(super) fn upgrade_fds(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = self
            .link
            .iter()
            .filter_map(|l| l.read.as_ref().map(AsRawFd::as_raw_fd))
            .collect();
        fds.extend(self.m.handover.as_ref().map(upgrade::Handover::raw_fd));
        fds
    }
}
