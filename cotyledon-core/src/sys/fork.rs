//! `fork` for workers, with the discipline DESIGN.md §7 asks for: every signal is
//! blocked across the fork; the child resets what belongs to the master (SIGCHLD's
//! handler, the master's internal fds), points the signal handler at a pipe of its
//! own and only then restores the mask, so an early signal is neither lost nor
//! delivered to the master's pipe.

use std::convert::Infallible;
use std::io;
use std::os::fd::{OwnedFd, RawFd};

use nix::unistd::{ForkResult, Pid};

use super::signal;

/// Writes `msg` to fd 2 and exits with `code`, without allocating or locking.
pub(crate) fn die(msg: &str, code: i32) -> ! {
    let _ = nix::unistd::write(std::io::stderr(), msg.as_bytes());
    exit_now(code)
}

/// `_exit(2)`: ends the process at once, running no destructors and none of the
/// atexit handlers a worker inherited from the master.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an int, touches no memory of ours and never returns.
    unsafe { libc::_exit(code) }
}

/// Forks a worker. In the child, the master's emergency hook and pending signals
/// are dropped, SIGCHLD, SIGALRM, SIGTTIN and SIGTTOU get their default dispositions back, `close`
/// (the master's own fds, not clones) are closed, a new self-pipe is created and the
/// signal handler targets it, the mask is restored and `entry` is called with that
/// pipe (read end, write end); `entry` never returns. In the parent, the mask is restored
/// and the child's pid returned.
///
/// The caller flushes buffered output first. It should be the only thread of the
/// process: a lock held by another thread at fork time stays held for ever in the
/// child (the manager warns once when it sees other threads).
///
/// # Errors
///
/// Blocking the signals or the fork itself failed (EAGAIN, ENOMEM).
pub(crate) fn fork_worker(
    close: &[RawFd],
    entry: impl FnOnce((OwnedFd, OwnedFd)) -> Infallible,
) -> io::Result<Pid> {
    // The child runs only `in_child` and then `entry`, which builds the worker
    // from data prepared before the fork.
    fork_blocked(|saved| in_child(close, saved, entry))
}

/// Forks with every signal blocked; the parent gets its mask back and the
/// child's pid, the child runs `child` with the mask to restore once its own
/// setup is done. `child` never returns (it execs or exits).
///
/// The caller keeps the contract of [`fork_worker`]: the master is
/// single-threaded (so no lock can be held by a thread that does not exist in
/// the child), and `child` does only what is safe there.
///
/// # Errors
///
/// Blocking the signals or the fork itself failed.
#[allow(unreachable_code)] // `child` is inlined with callers that never return
pub(crate) fn fork_blocked(
    child: impl FnOnce(&signal::SavedMask) -> Infallible,
) -> io::Result<Pid> {
    let saved = signal::block_all()?;
    // SAFETY: the master is single-threaded by design (a warning is logged
    // otherwise), so no lock can be held by a thread that does not exist in the
    // child; all signals are blocked, so no handler runs between the fork and
    // the child's own setup; the child runs only `child`, whose callers
    // (`fork_worker`, `exec::spawn`) keep to what is safe after a fork.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            signal::restore_mask(&saved);
            Err(e.into())
        }
        Ok(ForkResult::Parent { child }) => {
            signal::restore_mask(&saved);
            Ok(child)
        }
        Ok(ForkResult::Child) => match child(&saved) {},
    }
}

/// The child's side of [`fork_worker`].
#[allow(unreachable_code)] // `entry` returns an uninhabited type
fn in_child(
    close: &[RawFd],
    saved: &signal::SavedMask,
    entry: impl FnOnce((OwnedFd, OwnedFd)) -> Infallible,
) -> ! {
    signal::clear_hook();
    signal::clear_pending();
    // SIGTTIN and SIGTTOU are the master's (one worker more or fewer).
    let master_only = [libc::SIGCHLD, libc::SIGALRM, libc::SIGTTIN, libc::SIGTTOU];
    if signal::reset_default(&master_only).is_err() {
        die("cotyledon: worker could not reset SIGCHLD\n", 2);
    }
    for &fd in close {
        let _ = nix::unistd::close(fd);
    }
    let pipe = match super::pipe::pipe() {
        Ok(p) => p,
        Err(_) => die("cotyledon: worker could not create its signal pipe\n", 2),
    };
    signal::set_target(&pipe.1);
    signal::restore_mask(saved);
    let _never = entry(pipe);
    exit_now(2)
}
