//! The worker's kill switch: a kernel timer whose signal ends the process at once
//! (`_exit`), whatever its threads are doing. Every exit path arms it before it does
//! anything that can block (a log line or a flush to a full pipe, a stuck
//! `terminate()`), so a worker always exits:
//! - SIGINT: the handler arms it [`GRACE`] ahead (exit 1) as the signal arrives;
//! - SIGTERM and parent death: the handler arms it at the graceful timeout plus
//!   [`GRACE`] (exit 1), if the service has a timeout;
//! - every exit of the worker ([`exit`]) arms it [`GRACE`] ahead with its own code
//!   before flushing the log and the standard streams.
//!
//! The loop's own paths (the timeout message, SIGINT's message) come first when the
//! main thread is free; the switch only fires when they cannot. Linux only (POSIX
//! timers); elsewhere the paths behave as before, bounded only by the streams.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use crate::sys;

/// How long a worker's exit path may take once started.
const GRACE: Duration = Duration::from_secs(1);

/// The graceful timeout of this worker in nanoseconds (`u64::MAX` = none).
static TIMEOUT_NS: AtomicU64 = AtomicU64::new(u64::MAX);
/// When the switch is armed to fire (`CLOCK_MONOTONIC` ns; `u64::MAX` = not armed).
static FIRE_AT: AtomicU64 = AtomicU64::new(u64::MAX);
/// The exit status the switch exits with.
static CODE: AtomicI32 = AtomicI32::new(1);

/// The signal the kill-switch timer sends (a real-time signal nobody else uses).
#[cfg(target_os = "linux")]
fn kill_signal() -> libc::c_int {
    libc::SIGRTMIN() + 4
}

/// Sets the switch up in a new worker (best effort: without it, exits are only
/// bounded by the streams).
pub(crate) fn start(timeout: Option<Duration>) {
    let ns = timeout.map_or(u64::MAX, |t| {
        u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
    });
    TIMEOUT_NS.store(ns, Ordering::SeqCst);
    #[cfg(target_os = "linux")]
    {
        if sys::timer::create_kill_timer(kill_signal()).is_ok() {
            let _ = sys::signal::install(&[kill_signal()], &[]);
        }
    }
    // SAFETY: `on_signal` keeps `set_hook`'s contract: it only reads and
    // compares atomics, arms a POSIX timer (`timer_settime`) and `_exit`s, all
    // async-signal-safe, and cannot panic.
    unsafe { sys::signal::set_hook(on_signal) };
}

/// The handler's hook, in a worker.
fn on_signal(signum: libc::c_int) {
    #[cfg(target_os = "linux")]
    {
        if signum == kill_signal() {
            sys::fork::exit_now(CODE.load(Ordering::SeqCst));
        }
        if signum == sys::signal::parent_death_signal() {
            arm_after_timeout();
        }
    }
    match signum {
        libc::SIGINT => arm_in(GRACE, 1),
        libc::SIGTERM => arm_after_timeout(),
        _ => {}
    }
}

fn arm_after_timeout() {
    let ns = TIMEOUT_NS.load(Ordering::SeqCst);
    if ns != u64::MAX {
        arm_in(Duration::from_nanos(ns).saturating_add(GRACE), 1);
    }
}

/// Arms the switch to exit with `code` after `delay`, unless it is armed to fire
/// sooner already. Async-signal-safe.
fn arm_in(delay: Duration, code: i32) {
    let delay_ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
    let at = sys::timer::monotonic_ns().saturating_add(delay_ns);
    let mut current = FIRE_AT.load(Ordering::SeqCst);
    while at < current {
        match FIRE_AT.compare_exchange(current, at, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => {
                CODE.store(code, Ordering::SeqCst);
                #[cfg(target_os = "linux")]
                sys::timer::arm_kill_timer(FIRE_AT.load(Ordering::SeqCst));
                return;
            }
            Err(now) => current = now,
        }
    }
}

/// Exits the worker with `code` at once (no destructors, no atexit handlers
/// inherited from the master), after flushing the log and the standard streams for
/// at most [`GRACE`].
pub(crate) fn exit(code: i32) -> ! {
    use std::io::Write;
    arm_in(GRACE, code);
    log::logger().flush();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    sys::fork::exit_now(code)
}
