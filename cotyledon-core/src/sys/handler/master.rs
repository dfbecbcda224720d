//! The master's emergency exits, taken by the signal handler itself when the event
//! loop cannot take them. Everything here runs, or may run, in signal context
//! (it is the hook of `sys::signal`'s handler, installed with the `unsafe`
//! [`set_hook`](super::signal::set_hook) whose contract it keeps): the one
//! module of handler-side code outside the handler itself.
//! a master hook (`on_terminate`, `on_reload`,
//! `on_dead_worker`) runs on the loop's only thread and may block for ever.
//!
//! - SIGINT while a hook runs: SIGINT to every worker at once, then the
//!   instantaneous exit (reap, SIGKILL what is left after 1 s, exit 1).
//! - The graceful-shutdown deadline: armed as a kernel timer (`ITIMER_REAL`) when
//!   SIGTERM *arrives* (or when `shutdown()` is served), so it runs even while a hook
//!   blocks. If SIGALRM finds a hook running, the handler does the timeout exit; else
//!   the loop does, as usual.
//!
//! The handler needs the worker pids without the loop's help: they are kept in a
//! fixed array of atomics ([`reserve`], [`fill`], [`release`]). Logging from a
//! handler is not async-signal-safe (the interrupted hook may hold the logger's
//! lock), so the message is attempted *after* the workers were signalled, retried
//! for up to 2 s, each try under a 1 s timer back-stop (a loaded machine can
//! be that slow); then the exit goes on
//! without it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use log::info;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::sys;

const TARGET: &str = "cotyledon::manager";

/// How many worker pids the handler can see: twice the most workers a manager
/// may want, so stopping workers (a scale-down in progress) always fit too.
pub(crate) const CAPACITY: usize = 8192;

/// How long the emergency exit waits for workers before SIGKILL.
const GRACE: Duration = Duration::from_secs(1);
/// The back-stop for the log line of an emergency exit.
const BACKSTOP: Duration = Duration::from_secs(1);
/// How long the log line is retried (a loaded machine may take a while to let
/// the interrupted logger finish) before the exit goes on without it.
const RETRY_WINDOW: Duration = Duration::from_secs(2);
/// The pause between two tries.
const RETRY_PAUSE: Duration = Duration::from_millis(5);

static PIDS: [AtomicI32; CAPACITY] = [const { AtomicI32::new(0) }; CAPACITY];
/// One past the highest slot ever used.
static HIGH: AtomicUsize = AtomicUsize::new(0);
static IN_HOOK: AtomicBool = AtomicBool::new(false);
/// The manager's graceful-shutdown timeout in nanoseconds (0 = none).
static GRACEFUL_NS: AtomicU64 = AtomicU64::new(0);
static GRACEFUL_ARMED: AtomicBool = AtomicBool::new(false);
static EXITING: AtomicBool = AtomicBool::new(false);

/// Installs the emergency hook in this process with the manager's timeout.
pub(crate) fn install(graceful_timeout: Duration) {
    let ns = u64::try_from(graceful_timeout.as_nanos()).unwrap_or(u64::MAX);
    GRACEFUL_NS.store(ns, Ordering::SeqCst);
    GRACEFUL_ARMED.store(false, Ordering::SeqCst);
    // SAFETY: `on_signal` keeps `set_hook`'s contract: it only touches atomics,
    // sends signals, arms the real-time timer, reaps and `_exit`s; its one call
    // that is not async-signal-safe (the log line of an emergency exit) runs
    // under a SIGALRM back-stop that ends the process if the interrupted code
    // holds what the logger needs, and inside `catch_unwind`.
    unsafe { sys::signal::set_hook(on_signal) };
}

/// Changes the graceful-shutdown timeout (a deadline not armed yet).
pub(crate) fn set_graceful(graceful_timeout: Duration) {
    let ns = u64::try_from(graceful_timeout.as_nanos()).unwrap_or(u64::MAX);
    GRACEFUL_NS.store(ns, Ordering::SeqCst);
}

/// Removes the hook (a dropped manager).
pub(crate) fn uninstall() {
    sys::signal::clear_hook();
    let _ = sys::timer::set_alarm(None);
}

/// Reserves a slot for a worker about to be forked (`None` if every slot is
/// taken: then do not fork). The handler skips it until [`fill`].
pub(crate) fn reserve() -> Option<usize> {
    let (i, _) = PIDS.iter().enumerate().find(|(_, slot)| {
        slot.compare_exchange(0, -1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })?;
    HIGH.fetch_max(i + 1, Ordering::SeqCst);
    Some(i)
}

/// Records the pid of the worker forked for a reserved slot.
pub(crate) fn fill(slot: usize, pid: i32) {
    if let Some(s) = PIDS.get(slot) {
        s.store(pid, Ordering::SeqCst);
    }
}

/// Frees a slot (its worker was reaped, or its fork failed).
pub(crate) fn release(slot: usize) {
    if let Some(s) = PIDS.get(slot) {
        s.store(0, Ordering::SeqCst);
    }
}

/// Whether a worker can be registered (checked before a fork).
pub(crate) fn has_room() -> bool {
    HIGH.load(Ordering::SeqCst) < CAPACITY || PIDS.iter().any(|s| s.load(Ordering::SeqCst) == 0)
}

/// Marks a master hook as running for as long as the guard lives.
pub(crate) struct InHook(());

impl InHook {
    pub(crate) fn enter() -> Self {
        IN_HOOK.store(true, Ordering::SeqCst);
        InHook(())
    }
}

impl Drop for InHook {
    fn drop(&mut self) {
        IN_HOOK.store(false, Ordering::SeqCst);
    }
}

/// Arms the graceful-shutdown deadline, once (async-signal-safe).
pub(crate) fn arm_graceful() {
    let ns = GRACEFUL_NS.load(Ordering::SeqCst);
    if ns == 0 || GRACEFUL_ARMED.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = sys::timer::set_alarm(Some(Duration::from_nanos(ns)));
}

/// Whether the graceful deadline was armed (SIGTERM came, or `shutdown()`).
pub(crate) fn graceful_armed() -> bool {
    GRACEFUL_ARMED.load(Ordering::SeqCst)
}

/// The handler's hook, in the master.
fn on_signal(signum: libc::c_int) {
    match signum {
        libc::SIGTERM => arm_graceful(),
        libc::SIGINT if IN_HOOK.load(Ordering::SeqCst) => {
            begin(Kind::Interrupt);
        }
        libc::SIGALRM if EXITING.load(Ordering::SeqCst) => retry(),
        libc::SIGALRM if IN_HOOK.load(Ordering::SeqCst) => begin(Kind::Timeout),
        _ => {}
    }
}

/// Which emergency exit runs.
#[derive(Clone, Copy)]
enum Kind {
    Interrupt,
    Timeout,
}

static KIND_TIMEOUT: AtomicBool = AtomicBool::new(false);
/// When the emergency exit started (`CLOCK_MONOTONIC` ns).
static STARTED_NS: AtomicU64 = AtomicU64::new(0);
/// Set while a log attempt runs: a nested back-stop finds it set and gives up.
static LOGGING: AtomicBool = AtomicBool::new(false);

/// Starts the instantaneous exit from the handler: SIGINT to every worker first
/// (async-signal-safe), then the log line.
fn begin(kind: Kind) {
    if EXITING.swap(true, Ordering::SeqCst) {
        return;
    }
    KIND_TIMEOUT.store(matches!(kind, Kind::Timeout), Ordering::SeqCst);
    STARTED_NS.store(sys::timer::monotonic_ns(), Ordering::SeqCst);
    for pid in live_pids() {
        let _ = kill(pid, Signal::SIGINT);
    }
    send_stopping();
    retry();
}

/// The notify socket as the handler uses it: an unbound datagram socket of its
/// own (-1: none) and the address to send to, made before the loop starts.
static NOTIFY_FD: AtomicI32 = AtomicI32::new(-1);
static NOTIFY_ADDR: OnceLock<(libc::sockaddr_un, libc::socklen_t)> = OnceLock::new();
/// `STOPPING=1` went out (from the loop or from here): once is enough.
static STOPPING_SENT: AtomicBool = AtomicBool::new(false);

/// Prepares `STOPPING=1` for the emergency exits: systemd then knows the
/// master is going even when the loop cannot say so (a hook blocks). `socket`
/// is `NOTIFY_SOCKET` (a path, or `@name` for an abstract one); best effort.
pub(crate) fn prepare_notify(socket: &std::ffi::OsStr) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::IntoRawFd;
    let bytes = socket.as_bytes();
    // SAFETY: sockaddr_un is plain old data: all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let (path, abstract_name) = match bytes.strip_prefix(b"@") {
        Some(name) => (name, true),
        None => (bytes, false),
    };
    let start = usize::from(abstract_name);
    if path.is_empty() || start + path.len() >= addr.sun_path.len() {
        return;
    }
    for (i, b) in path.iter().enumerate() {
        addr.sun_path[start + i] = *b as libc::c_char;
    }
    let base = std::mem::size_of::<libc::sa_family_t>();
    let len = base + start + path.len() + usize::from(!abstract_name);
    let Ok(len) = libc::socklen_t::try_from(len) else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    if sock.set_nonblocking(true).is_err() || NOTIFY_ADDR.set((addr, len)).is_err() {
        return;
    }
    // Kept for the life of the process (close-on-exec, as std makes it).
    NOTIFY_FD.store(sock.into_raw_fd(), Ordering::SeqCst);
}

/// The emergency notify socket's fd, for the child to close after a fork.
pub(crate) fn notify_fd() -> Option<i32> {
    let fd = NOTIFY_FD.load(Ordering::SeqCst);
    (fd >= 0).then_some(fd)
}

/// The loop sends `STOPPING=1` itself: the emergency exits need not.
pub(crate) fn mark_stopping() {
    STOPPING_SENT.store(true, Ordering::SeqCst);
}

/// Sends `STOPPING=1`, once (async-signal-safe: an atomic, `sendto` on a
/// non-blocking socket made beforehand).
fn send_stopping() {
    if STOPPING_SENT.swap(true, Ordering::SeqCst) {
        return;
    }
    let fd = NOTIFY_FD.load(Ordering::SeqCst);
    let Some((addr, len)) = NOTIFY_ADDR.get() else {
        return;
    };
    if fd < 0 {
        return;
    }
    let msg = b"STOPPING=1";
    // SAFETY: `fd` is the datagram socket `prepare_notify` made and never
    // closes; `msg` is a live buffer of `msg.len()` bytes; `addr` is a valid
    // sockaddr_un of `len` bytes, alive for the process (a OnceLock). sendto(2)
    // is async-signal-safe and, with MSG_DONTWAIT, never blocks.
    let _ = unsafe {
        libc::sendto(
            fd,
            msg.as_ptr().cast(),
            msg.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            std::ptr::from_ref(addr).cast(),
            *len,
        )
    };
}

/// Tries to log the exit's message, then [`finish`]es. The interrupted code may
/// be inside the logger: a panic (a `RefCell` already borrowed) returns from the
/// handler so that it can go on, and SIGALRM tries again 2 ms later; a deadlock
/// is cut by the SIGALRM back-stop (the handler is re-entered and finds `LOGGING`
/// set). After [`RETRY_WINDOW`] the exit finishes without the line.
fn retry() {
    let started = STARTED_NS.load(Ordering::SeqCst);
    let late = sys::timer::monotonic_ns().saturating_sub(started) > RETRY_WINDOW.as_nanos() as u64;
    if late || LOGGING.swap(true, Ordering::SeqCst) {
        finish();
    }
    let _ = sys::timer::set_alarm(Some(BACKSTOP));
    let message = if KIND_TIMEOUT.load(Ordering::SeqCst) {
        "Graceful shutdown timeout exceeded, instantaneous exiting of master process"
    } else {
        "Caught SIGINT signal, instantaneous exiting"
    };
    let logged = catch_unwind(AssertUnwindSafe(|| {
        info!(target: TARGET, "{message}");
        log::logger().flush();
    }));
    if logged.is_ok() {
        let _ = sys::timer::set_alarm(None);
        finish();
    }
    LOGGING.store(false, Ordering::SeqCst);
    let _ = sys::timer::set_alarm(Some(RETRY_PAUSE));
}

/// Reaps the workers for up to [`GRACE`], SIGKILLs any left, and exits 1.
fn finish() -> ! {
    let deadline = sys::timer::monotonic_ns().saturating_add(GRACE.as_nanos() as u64);
    loop {
        let mut left = 0;
        for (slot, pid) in slots() {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => left += 1,
                _ => slot.store(0, Ordering::SeqCst),
            }
        }
        if left == 0 {
            sys::fork::exit_now(1);
        }
        if sys::timer::monotonic_ns() >= deadline {
            for pid in live_pids() {
                let _ = kill(pid, Signal::SIGKILL);
            }
            sys::fork::exit_now(1);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn slots() -> impl Iterator<Item = (&'static AtomicI32, Pid)> {
    let high = HIGH.load(Ordering::SeqCst);
    PIDS[..high.min(CAPACITY)].iter().filter_map(|slot| {
        let pid = slot.load(Ordering::SeqCst);
        (pid > 0).then(|| (slot, Pid::from_raw(pid)))
    })
}

fn live_pids() -> impl Iterator<Item = Pid> {
    slots().map(|(_, pid)| pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reserved_filled_and_released() {
        assert!(has_room());
        let a = reserve().expect("a free slot");
        let b = reserve().expect("another");
        assert_ne!(a, b);
        assert!(
            !live_pids().any(|p| p.as_raw() < 0),
            "reserved slots are skipped"
        );
        fill(a, 1_000_001);
        fill(b, 1_000_002);
        assert!(live_pids().any(|p| p.as_raw() == 1_000_002));
        release(a);
        assert!(!live_pids().any(|p| p.as_raw() == 1_000_001));
        release(b);
        assert!(!live_pids().any(|p| p.as_raw() > 1_000_000));
    }
}
