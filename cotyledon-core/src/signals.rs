//! The self-pipe and the typed events read from it: the loops match
//! [`Event::Terminate`], never `SIGTERM`.
//!
//! Which signals came is read from the per-signal pending flags that the handler
//! sets; the pipe's bytes only wake the reader and give the order of arrival. So a
//! signal is never lost to a full pipe, and each kind is served once per burst.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::sys;

/// What woke an event loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// SIGTERM (or an in-process request for a graceful exit).
    Terminate,
    /// SIGINT.
    Interrupt,
    /// SIGHUP.
    Hangup,
    /// SIGCHLD.
    Child,
    /// SIGALRM: the master's graceful-shutdown deadline.
    Alarm,
    /// The parent-death signal (workers only).
    ParentDied,
    /// A worker's shared slot changed: it is ready, or finished a reload (master).
    Notice,
    /// A thread of ours woke the loop (a finished run/terminate/reload).
    Wake,
    /// SIGUSR2: a binary upgrade (master; ignored by workers).
    Upgrade,
    /// SIGTTIN: one worker more per service (master).
    MoreWorkers,
    /// SIGTTOU: one worker fewer per service (master).
    FewerWorkers,
}

/// The byte threads write to wake the loop.
pub(crate) const WAKE: u8 = 0;

/// Every byte that maps to an event, in the order leftover flags are served.
fn kinds() -> [libc::c_int; 11] {
    [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGALRM,
        parent_death(),
        libc::SIGHUP,
        libc::SIGUSR2,
        libc::SIGCHLD,
        sys::signal::notice_signal(),
        libc::c_int::from(WAKE),
        libc::SIGTTIN,
        libc::SIGTTOU,
    ]
}

#[cfg(target_os = "linux")]
fn parent_death() -> libc::c_int {
    sys::signal::parent_death_signal()
}

#[cfg(not(target_os = "linux"))]
fn parent_death() -> libc::c_int {
    -1
}

/// Maps one pipe byte to an event; unknown bytes are ignored.
pub(crate) fn decode(byte: u8) -> Option<Event> {
    let signum = libc::c_int::from(byte);
    match signum {
        libc::SIGTERM => Some(Event::Terminate),
        libc::SIGINT => Some(Event::Interrupt),
        libc::SIGHUP => Some(Event::Hangup),
        libc::SIGCHLD => Some(Event::Child),
        libc::SIGALRM => Some(Event::Alarm),
        libc::SIGTTIN => Some(Event::MoreWorkers),
        libc::SIGTTOU => Some(Event::FewerWorkers),
        0 => Some(Event::Wake),
        s if s == parent_death() => Some(Event::ParentDied),
        s if s == sys::signal::notice_signal() => Some(Event::Notice),
        libc::SIGUSR2 => Some(Event::Upgrade),
        _ => None,
    }
}

/// A process's self-pipe: the handler's target, re-created if user code closes it.
#[derive(Debug)]
pub(crate) struct SelfPipe {
    read: OwnedFd,
    write: OwnedFd,
    identity: (u64, u64),
}

impl SelfPipe {
    /// Creates a pipe and makes this process's handler write to it.
    pub(crate) fn new() -> io::Result<Self> {
        let (read, write) = sys::pipe::pipe()?;
        sys::signal::set_target(&write);
        Ok(SelfPipe::targeted(read, write))
    }

    /// Wraps a pipe that the handler already targets (a forked worker's).
    pub(crate) fn targeted(read: OwnedFd, write: OwnedFd) -> Self {
        SelfPipe {
            read,
            write,
            identity: sys::signal::target_identity(),
        }
    }

    /// The raw fds of both ends (for a forked child to close).
    pub(crate) fn raw_fds(&self) -> [RawFd; 2] {
        [self.read.as_raw_fd(), self.write.as_raw_fd()]
    }

    /// The read end, to poll.
    pub(crate) fn poll_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Checks that both ends are still ours (user code may close any fd, and the
    /// number may then belong to something else); if not, makes a new pipe and
    /// gives up the old fds without closing numbers that are no longer ours.
    /// Returns whether the pipe was re-created.
    pub(crate) fn repair(&mut self) -> io::Result<bool> {
        let ours = |fd: &OwnedFd| sys::pipe::identity(fd.as_raw_fd()) == Some(self.identity);
        let (read_ok, write_ok) = (ours(&self.read), ours(&self.write));
        if read_ok && write_ok {
            return Ok(false);
        }
        let fresh = SelfPipe::new()?;
        let old = std::mem::replace(self, fresh);
        for (fd, ok) in [(old.read, read_ok), (old.write, write_ok)] {
            if ok {
                drop(fd);
            } else {
                sys::pipe::abandon(fd);
            }
        }
        Ok(true)
    }

    /// Drains the pipe and returns the pending events: first in the order their
    /// bytes arrived, then any whose byte was dropped (a full pipe), each kind once.
    pub(crate) fn events(&mut self) -> io::Result<Vec<Event>> {
        // Never read from an fd that is no longer our pipe (it may be a file of the
        // user's now, /dev/zero say).
        self.repair()?;
        let mut bytes = Vec::new();
        let open = match sys::pipe::drain(&self.read, &mut bytes) {
            Ok(open) => open,
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => false,
            Err(e) => return Err(e),
        };
        if !open {
            self.repair()?;
        }
        let mut events = Vec::new();
        for byte in bytes {
            if let Some(event) = decode(byte)
                && sys::signal::take_pending(usize::from(byte))
            {
                events.push(event);
            }
        }
        for signum in kinds() {
            if let Ok(index) = usize::try_from(signum)
                && sys::signal::take_pending(index)
                && let Some(event) = u8::try_from(signum).ok().and_then(decode)
            {
                events.push(event);
            }
        }
        Ok(events)
    }
}

/// Whether a signal is recorded but not served yet: the loop must not sleep.
pub(crate) fn any_pending() -> bool {
    kinds()
        .into_iter()
        .filter_map(|s| usize::try_from(s).ok())
        .any(sys::signal::is_pending)
}

/// The poll(2) timeout that sleeps until `deadline` (forever if `None`), rounded
/// up to the millisecond so a loop never wakes just before its deadline and spins;
/// zero while a signal is pending.
pub(crate) fn poll_timeout(deadline: Option<std::time::Instant>) -> nix::poll::PollTimeout {
    use nix::poll::PollTimeout;
    if any_pending() {
        return PollTimeout::ZERO;
    }
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let left = d.saturating_duration_since(std::time::Instant::now());
            let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_signal_numbers() {
        assert_eq!(decode(libc::SIGTERM as u8), Some(Event::Terminate));
        assert_eq!(decode(libc::SIGINT as u8), Some(Event::Interrupt));
        assert_eq!(decode(libc::SIGHUP as u8), Some(Event::Hangup));
        assert_eq!(decode(libc::SIGCHLD as u8), Some(Event::Child));
        assert_eq!(decode(libc::SIGALRM as u8), Some(Event::Alarm));
        assert_eq!(decode(WAKE), Some(Event::Wake));
        assert_eq!(decode(libc::SIGUSR1 as u8), None);
        #[cfg(target_os = "linux")]
        assert_eq!(decode(libc::SIGUSR2 as u8), Some(Event::Upgrade));
    }
}
