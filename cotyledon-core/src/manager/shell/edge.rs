//! The event loop's edge with the system: polling the self-pipe, flushing before a
//! fork or an exit, and the checks before the first fork (other threads; with the
//! `tokio` feature, a tokio runtime).

use std::io::Write;
use std::time::Instant;

use log::warn;
use nix::errno::Errno;

use crate::signals;

const TARGET: &str = "cotyledon::manager";

/// Polls `fds` (the self-pipe first, then the control endpoint's) until one
/// is ready or `deadline` (forever if `None`). EINTR is a wake-up.
pub(super) fn poll_fds(
    fds: &mut [nix::poll::PollFd<'_>],
    deadline: Option<Instant>,
) -> std::io::Result<()> {
    use nix::poll::poll;
    let timeout = signals::poll_timeout(deadline);
    match poll(fds, timeout) {
        Ok(_) | Err(Errno::EINTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Flushes what the process may have buffered, so a child does not print it again.
pub(super) fn flush_output() {
    log::logger().flush();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

/// Exits the master after flushing the log.
pub(super) fn exit(code: i32) -> ! {
    flush_output();
    std::process::exit(code)
}

/// Warns, once, when the master has other threads when it first forks (and, with
/// the `tokio` feature, logs an ERROR if it runs inside a tokio runtime).
pub(super) fn warn_if_threaded() {
    #[cfg(feature = "tokio")]
    if let Some(flavor) = crate::asynchronous::current_runtime() {
        log::error!(
            target: TARGET,
            "The master process runs inside a tokio runtime ({flavor:?}) when it first forks: \
             a runtime does not survive fork(). The workers get none of its threads and would \
             share its I/O driver (epoll) and timers with the master, so their tasks would \
             hang or misbehave. Build no runtime in main (no #[tokio::main]): wrap async \
             services in cotyledon::Tokio, which builds a runtime in each worker after the fork."
        );
    }
    let threads = crate::sys::threads::count().unwrap_or(1);
    if threads > 1 {
        warn!(
            target: TARGET,
            "The master process has {threads} threads: fork() copies only the calling thread, \
             so a lock held by another thread (a logger, stdout, the allocator) stays locked for \
             ever in the workers and can deadlock them. Start threads inside services, not in \
             the master."
        );
    }
}

/// Resident memory of `pid` in bytes (`/proc/PID/statm`), if readable.
pub(super) fn rss(pid: i32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    Some(pages.saturating_mul(page))
}
