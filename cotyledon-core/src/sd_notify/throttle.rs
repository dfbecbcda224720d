//! How often a failing notify socket is reported, decided from the time given
//! (pure: no clock read, no log call here).
//!
//! The periodic notifications (`WATCHDOG=1` every half period, `STATUS=` at
//! every change) fail together when the socket is gone or stuck: the first
//! failure is a warning, then at most one a minute, which says how many failed
//! sends it did not report. The one-time notifications (`READY=1`,
//! `RELOADING=1`, `STOPPING=1`) are always reported: each marks a state change
//! systemd waits for, and there are only as many as there are such changes.
//! The first success after a reported failure is worth one line too, so the
//! journal shows when it ended.

use std::time::{Duration, Instant};

/// After a warning about a periodic notification, the next one waits this long.
pub(crate) const QUIET: Duration = Duration::from_secs(60);

/// The failures and warnings so far.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    /// When the last warning about a periodic notification was logged.
    last_warning: Option<Instant>,
    /// Failed sends not logged since the last warning.
    suppressed: u64,
    /// Failed sends since the last success.
    failed: u64,
    /// A failure was logged since the last success.
    warned: bool,
}

/// What to do about one failed send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log it (WARN); `suppressed` failed sends were not logged since the last
    /// warning.
    Warn { suppressed: u64 },
    /// Count it, log nothing.
    Quiet,
}

impl Throttle {
    /// A send failed at `now`; `periodic`: a `WATCHDOG=1` or `STATUS=` line.
    pub(crate) fn failed(&mut self, now: Instant, periodic: bool) -> Verdict {
        self.failed = self.failed.saturating_add(1);
        if periodic
            && self
                .last_warning
                .is_some_and(|at| now.saturating_duration_since(at) < QUIET)
        {
            self.suppressed = self.suppressed.saturating_add(1);
            return Verdict::Quiet;
        }
        self.warned = true;
        if !periodic {
            // Its own line, as ever; the periodic count waits for the next
            // periodic warning.
            return Verdict::Warn { suppressed: 0 };
        }
        self.last_warning = Some(now);
        Verdict::Warn {
            suppressed: std::mem::take(&mut self.suppressed),
        }
    }

    /// A send succeeded: `Some(n)` if a failure was logged since the last
    /// success, `n` being the sends that failed since then (log that it works
    /// again); `None` otherwise.
    pub(crate) fn succeeded(&mut self) -> Option<u64> {
        let failed = std::mem::take(&mut self.failed);
        std::mem::take(&mut self.warned).then_some(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_failing_watchdog_warns_once_then_once_a_minute_with_a_count() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        assert_eq!(t.failed(t0, true), Verdict::Warn { suppressed: 0 });
        // Pings every 50 ms for 3 s: silent (the 64 lines of the issue).
        for i in 1..60 {
            assert_eq!(t.failed(t0 + 50 * MS * i, true), Verdict::Quiet);
        }
        // A minute after the first warning: one more, with the count.
        assert_eq!(t.failed(t0 + QUIET - MS, true), Verdict::Quiet);
        assert_eq!(t.failed(t0 + QUIET, true), Verdict::Warn { suppressed: 60 });
        assert_eq!(t.failed(t0 + QUIET + MS, true), Verdict::Quiet);
        // It works again: once, with every failure since the last success.
        assert_eq!(t.succeeded(), Some(63));
        assert_eq!(t.succeeded(), None);
    }

    #[test]
    fn one_time_notifications_are_always_reported() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        assert_eq!(t.failed(t0, true), Verdict::Warn { suppressed: 0 });
        assert_eq!(t.failed(t0 + MS, true), Verdict::Quiet);
        // READY=1 within the quiet minute: reported, in its own words (no count).
        let ready = |t: &mut Throttle, at| t.failed(at, false);
        assert_eq!(ready(&mut t, t0 + 2 * MS), Verdict::Warn { suppressed: 0 });
        assert_eq!(ready(&mut t, t0 + 3 * MS), Verdict::Warn { suppressed: 0 });
        // It neither reopens the minute for the periodic ones nor takes their
        // count.
        assert_eq!(t.failed(t0 + 4 * MS, true), Verdict::Quiet);
        assert_eq!(t.failed(t0 + QUIET, true), Verdict::Warn { suppressed: 2 });
    }

    #[test]
    fn a_flapping_socket_is_reported_at_most_twice_a_minute() {
        // A reader that is often late: every other ping finds the queue full.
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let mut lines = 0;
        for i in 0..1200u32 {
            let now = t0 + 50 * MS * i;
            if i % 2 == 0 {
                lines += usize::from(matches!(t.failed(now, true), Verdict::Warn { .. }));
            } else {
                lines += usize::from(t.succeeded().is_some());
            }
        }
        // 60 s: a warning and a "works again" at 0 s, the same at 60 s.
        assert_eq!(lines, 2, "in the first minute");
        let mut t = Throttle::default();
        assert!(t.succeeded().is_none(), "nothing failed: nothing to say");
    }

    #[test]
    fn a_clock_that_goes_back_keeps_it_quiet() {
        let t0 = Instant::now() + QUIET;
        let mut t = Throttle::default();
        assert_eq!(t.failed(t0, true), Verdict::Warn { suppressed: 0 });
        assert_eq!(t.failed(t0 - QUIET, true), Verdict::Quiet);
    }
}
