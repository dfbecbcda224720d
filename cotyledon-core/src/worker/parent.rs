//! Parent-death detection: EOF on a pipe whose write end only the master holds,
//! plus `PR_SET_PDEATHSIG` on Linux as a back-stop, mapped to the same event.
//!
//! User code may close any fd, and the number may then be reused by a file of its
//! own: the death pipe's identity is checked before its readiness means anything,
//! and a death pipe that is gone leaves the poll set (the parent-death signal and a
//! `getppid()` check remain).

use std::os::fd::RawFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::unistd::Pid;

use crate::signals::{self, SelfPipe};
use crate::sys;

/// Watches the master.
pub(crate) struct Watch {
    /// The death pipe and its identity, until the master is known to be gone (then
    /// it reports HUP for ever and must leave the poll set) or the pipe is lost.
    fd: Option<(RawFd, (u64, u64))>,
    master_pid: Pid,
    gone: bool,
    noticed_early: bool,
}

impl Watch {
    /// Arms both mechanisms; notices a master that died before they were armed.
    pub(crate) fn start(death_pipe: RawFd, master_pid: Pid) -> Self {
        #[cfg(target_os = "linux")]
        {
            let _ = sys::signal::install(&[sys::signal::parent_death_signal()], &[]);
        }
        let _ = sys::signal::set_parent_death_signal();
        let noticed_early = nix::unistd::getppid() != master_pid;
        Watch {
            fd: sys::pipe::identity(death_pipe).map(|id| (death_pipe, id)),
            master_pid,
            gone: false,
            noticed_early,
        }
    }

    /// Sleeps until the signal pipe is readable, the death pipe reports EOF, or
    /// the deadline; returns whether the master is (newly) seen gone.
    pub(crate) fn poll(&mut self, pipe: &mut SelfPipe, deadline: Option<Instant>) -> bool {
        if std::mem::take(&mut self.noticed_early) {
            return true;
        }
        let _ = pipe.repair();
        self.check_death_pipe();
        if self.fd.is_none() && !self.gone && nix::unistd::getppid() != self.master_pid {
            return true;
        }
        let timeout = signals::poll_timeout(deadline);
        // On the stack: the loop allocates nothing per turn.
        let signal_fd = || PollFd::new(pipe.poll_fd(), PollFlags::POLLIN);
        let (mut fds, n) = match self.fd {
            Some((fd, _)) => {
                let death = PollFd::new(sys::fd::borrow_forever(fd), PollFlags::POLLIN);
                ([signal_fd(), death], 2)
            }
            None => ([signal_fd(), signal_fd()], 1),
        };
        match poll(&mut fds[..n], timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
        let ready = n == 2
            && fds[1].revents().is_some_and(|r| {
                r.intersects(PollFlags::POLLHUP | PollFlags::POLLIN | PollFlags::POLLERR)
            });
        // Readiness of an fd that is no longer our pipe says nothing of the master.
        ready && self.check_death_pipe()
    }

    /// Drops the death pipe from the watch if its fd is not our pipe any more;
    /// returns whether it still is.
    fn check_death_pipe(&mut self) -> bool {
        match self.fd {
            Some((fd, id)) if sys::pipe::identity(fd) == Some(id) => true,
            Some(_) => {
                self.fd = None;
                false
            }
            None => false,
        }
    }

    /// Records that the master is gone; returns `true` the first time.
    pub(crate) fn mark_gone(&mut self) -> bool {
        self.fd = None;
        !std::mem::replace(&mut self.gone, true)
    }
}
