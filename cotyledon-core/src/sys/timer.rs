//! Kernel timers that end a process even when its threads are stuck: the master's
//! `ITIMER_REAL` (SIGALRM: its graceful-shutdown deadline and the back-stop of its
//! emergency exit) and, on Linux, a worker's POSIX timer whose signal exits the
//! worker at once (its kill switch). Arming either is async-signal-safe.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The longest delay armed: longer ones are cut to this (68 years), so that no
/// user-given duration overflows the kernel's types.
const MAX_DELAY: Duration = Duration::from_secs(i32::MAX as u64);

/// Nanoseconds on `CLOCK_MONOTONIC` (async-signal-safe).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to fill; clock_gettime is async-signal-safe
    // and CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Arms (or, with `None`, disarms) this process's `ITIMER_REAL`: SIGALRM after
/// `delay`, once. Async-signal-safe (one system call). Not inherited by `fork`.
pub(crate) fn set_alarm(delay: Option<Duration>) -> io::Result<()> {
    let d = delay.map_or(Duration::ZERO, |d| d.min(MAX_DELAY));
    // A zero delay would disarm: make it the shortest one instead.
    let d = if delay.is_some() && d.is_zero() {
        Duration::from_micros(1)
    } else {
        d
    };
    let value = libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    };
    let timer = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: value,
    };
    // SAFETY: `timer` is a fully initialised itimerval; the old value is not asked.
    let rc = unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// No kill-switch timer yet (0 is a valid `timer_t`: the first timer's id).
const NO_TIMER: usize = usize::MAX;
/// The worker's kill-switch timer (`timer_t`), or [`NO_TIMER`].
static KILL_TIMER: AtomicUsize = AtomicUsize::new(NO_TIMER);

/// Creates this process's kill-switch timer: a `CLOCK_MONOTONIC` POSIX timer that
/// sends `signal` to the process when it expires. Call once, in a worker, before
/// [`arm_kill_timer`] can run.
#[cfg(target_os = "linux")]
pub(crate) fn create_kill_timer(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: sigevent is a plain C struct for which all-zero bytes are valid.
    let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
    event.sigev_notify = libc::SIGEV_SIGNAL;
    event.sigev_signo = signal;
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: `event` is initialised and `timer` is writable storage for the id.
    let rc = unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    KILL_TIMER.store(timer as usize, Ordering::Release);
    Ok(())
}

/// Arms the kill-switch timer to expire at `at_ns` on `CLOCK_MONOTONIC` (an
/// absolute time). Async-signal-safe; does nothing before the timer exists.
#[cfg(target_os = "linux")]
pub(crate) fn arm_kill_timer(at_ns: u64) {
    let timer = KILL_TIMER.load(Ordering::Acquire);
    if timer == NO_TIMER {
        return;
    }
    let at_ns = at_ns.max(1);
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: (at_ns / 1_000_000_000).min(i32::MAX as u64) as libc::time_t,
            tv_nsec: (at_ns % 1_000_000_000) as libc::c_long,
        },
    };
    // SAFETY: `timer` is the id timer_create returned (never deleted); `spec` is
    // initialised; timer_settime is async-signal-safe.
    unsafe {
        libc::timer_settime(
            timer as libc::timer_t,
            libc::TIMER_ABSTIME,
            &spec,
            std::ptr::null_mut(),
        )
    };
}
