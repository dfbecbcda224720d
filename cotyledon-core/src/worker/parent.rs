//! Parent-death detection: EOF on a pipe whose write end only the master holds,
//! plus `PR_SET_PDEATHSIG` on Linux as a back-stop, mapped to the same event.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::unistd::Pid;

use crate::signals;
use crate::sys;

/// Watches the master.
pub(crate) struct Watch {
    /// The death pipe, until the master is known to be gone (then it reports HUP for
    /// ever and must leave the poll set).
    fd: Option<RawFd>,
    gone: bool,
    noticed_early: bool,
}

impl Watch {
    /// Arms both mechanisms; notices a master that died before they were armed.
    pub(crate) fn start(death_pipe: RawFd, master_pid: Pid) -> Self {
        #[cfg(target_os = "linux")]
        {
            let _ = sys::signal::install(&[sys::signal::parent_death_signal()]);
            let _ = sys::signal::set_parent_death_signal();
        }
        let noticed_early = nix::unistd::getppid() != master_pid;
        Watch {
            fd: Some(death_pipe),
            gone: false,
            noticed_early,
        }
    }

    /// Sleeps until the signal pipe is readable, the death pipe reports EOF, or
    /// the deadline; returns whether the master is (newly) seen gone.
    pub(crate) fn poll(&mut self, signal_pipe: &OwnedFd, deadline: Option<Instant>) -> bool {
        if std::mem::take(&mut self.noticed_early) {
            return true;
        }
        let timeout = signals::poll_timeout(deadline);
        let mut fds = vec![PollFd::new(signal_pipe.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = self.fd {
            fds.push(PollFd::new(sys::fd::borrow_forever(fd), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
        fds.get(1).and_then(PollFd::revents).is_some_and(|r| {
            r.intersects(PollFlags::POLLHUP | PollFlags::POLLIN | PollFlags::POLLERR)
        })
    }

    /// Records that the master is gone; returns `true` the first time.
    pub(crate) fn mark_gone(&mut self) -> bool {
        self.fd = None;
        !std::mem::replace(&mut self.gone, true)
    }
}
