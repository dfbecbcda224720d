//! Raw bytes from the self-pipe turned into typed events at the edge: the loops
//! match [`Event::Terminate`], never `SIGTERM`.

use std::os::fd::OwnedFd;

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
    /// The parent-death signal (workers only).
    ParentDied,
    /// A thread of ours woke the loop (a hook, a finished run/terminate/reload).
    Wake,
}

/// The byte threads write to wake the loop.
pub(crate) const WAKE: u8 = 0;

/// Maps one pipe byte to an event; unknown bytes are ignored.
pub(crate) fn decode(byte: u8) -> Option<Event> {
    let signum = libc::c_int::from(byte);
    match signum {
        libc::SIGTERM => Some(Event::Terminate),
        libc::SIGINT => Some(Event::Interrupt),
        libc::SIGHUP => Some(Event::Hangup),
        libc::SIGCHLD => Some(Event::Child),
        0 => Some(Event::Wake),
        #[cfg(target_os = "linux")]
        s if s == sys::signal::parent_death_signal() => Some(Event::ParentDied),
        _ => None,
    }
}

/// Drains the self-pipe and returns its events in arrival order, duplicates removed
/// (two SIGCHLDs mean "reap", once).
pub(crate) fn read_events(pipe: &OwnedFd) -> std::io::Result<Vec<Event>> {
    let mut bytes = Vec::new();
    sys::signal::drain(pipe, &mut bytes)?;
    let mut events: Vec<Event> = Vec::with_capacity(bytes.len().min(8));
    for event in bytes.into_iter().filter_map(decode) {
        if !events.contains(&event) {
            events.push(event);
        }
    }
    Ok(events)
}

/// The poll(2) timeout that sleeps until `deadline` (forever if `None`), rounded
/// up to the millisecond so a loop never wakes just before its deadline and spins.
pub(crate) fn poll_timeout(deadline: Option<std::time::Instant>) -> nix::poll::PollTimeout {
    use nix::poll::PollTimeout;
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
        assert_eq!(decode(WAKE), Some(Event::Wake));
        assert_eq!(decode(libc::SIGUSR1 as u8), None);
    }
}
