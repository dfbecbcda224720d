//! Signals to the master accounted for: what the driver sent (SIGHUP bursts,
//! single SIGHUPs of reconfigures, the final SIGTERM) against what the master
//! logged ("Caught SIGHUP signal, reloading services", "Caught SIGTERM signal,
//! graceful exiting of master process").
//!
//! Signals of one kind sent before the master served any of them may be served
//! once for all (the kernel and the self-pipe coalesce them), so lines are not
//! matched one to one: each *group* (a burst, or a single signal) must be followed
//! by at least one matching line read after its last `kill(2)` was called, within
//! a deadline. A group without one is a lost signal. The time taken is the one
//! just *before* the call: the master, woken by the signal, may run on the other
//! core, log and have its line read before `kill(2)` returns to the driver. The
//! check cannot see a loss hidden behind a line the master wrote for an earlier
//! signal just before the group's last one but that was read just after it (a
//! window of microseconds); it never reports a loss that did not happen unless
//! the master takes longer than the deadline to log it.

use std::time::{Duration, Instant};

/// One kind of signal sent to the master, and what the master logged of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalTally {
    /// Signals sent.
    pub sent: usize,
    /// Groups sent: bursts and single signals.
    pub groups: usize,
    /// Matching lines the master logged.
    pub logged: usize,
    /// The groups not followed by a matching line within the deadline: lost
    /// signals, one message each.
    pub lost: Vec<String>,
    /// The longest time from a group's last signal to the first line after it.
    pub max_wait: Duration,
}

/// A group of signals of one kind: the time just before its last `kill(2)`, and
/// how many signals it held.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    pub(crate) sent_at: Instant,
    pub(crate) count: usize,
}

/// Accounts for `groups` of signal `name` with the times at which the master's
/// lines for it were read (`lines`, ascending). `origin` is the start of the run,
/// for the times in messages.
pub(crate) fn tally(
    name: &str,
    groups: &[Group],
    lines: &[Instant],
    deadline: Duration,
    origin: Instant,
) -> SignalTally {
    let mut t = SignalTally {
        sent: groups.iter().map(|g| g.count).sum(),
        groups: groups.len(),
        logged: lines.len(),
        ..SignalTally::default()
    };
    let ms = |at: Instant| at.saturating_duration_since(origin).as_millis();
    for g in groups {
        let first = lines.partition_point(|&l| l <= g.sent_at);
        let wait = lines.get(first).map(|&l| l - g.sent_at);
        match wait {
            Some(w) if w <= deadline => t.max_wait = t.max_wait.max(w),
            _ => {
                let next = wait.map_or_else(
                    || "none after it".to_owned(),
                    |w| format!("the next one {} ms after it", w.as_millis()),
                );
                let what = match g.count {
                    1 => format!("{name} sent at {} ms", ms(g.sent_at)),
                    n => format!("burst of {n} {name}s ending at {} ms", ms(g.sent_at)),
                };
                t.lost.push(format!(
                    "lost {name}: {what} not logged by the master within {} ms ({next})",
                    deadline.as_millis()
                ));
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn one_line_after_a_burst_serves_it_but_not_the_next() {
        let t0 = Instant::now();
        let group = |at: u64, count| Group {
            sent_at: t0 + ms(at),
            count,
        };
        // Bursts at 10 and 20 ms served by one line at 25; a single at 30 served at
        // 31; a burst at 40 served by nothing; a single at 50 served too late.
        let groups = [
            group(10, 1000),
            group(20, 1000),
            group(30, 1),
            group(40, 1000),
            group(50, 1),
        ];
        let lines = [t0 + ms(5), t0 + ms(25), t0 + ms(31), t0 + ms(1200)];
        let t = tally("SIGHUP", &groups, &lines, ms(1000), t0);
        assert_eq!((t.sent, t.groups, t.logged), (3002, 5, 4));
        assert_eq!(t.max_wait, ms(15));
        assert_eq!(t.lost.len(), 2, "{:?}", t.lost);
        assert!(t.lost[0].contains("burst of 1000 SIGHUPs ending at 40 ms"));
        assert!(t.lost[0].contains("the next one 1160 ms after it"));
        assert!(t.lost[1].contains("SIGHUP sent at 50 ms"));
    }

    #[test]
    fn a_line_read_before_the_signal_does_not_count() {
        let t0 = Instant::now();
        let groups = [Group {
            sent_at: t0 + ms(10),
            count: 1,
        }];
        let t = tally("SIGTERM", &groups, &[t0 + ms(10)], ms(1000), t0);
        assert_eq!(t.lost.len(), 1);
        assert!(t.lost[0].contains("none after it"), "{:?}", t.lost);
        let t = tally("SIGTERM", &groups, &[t0 + ms(11)], ms(1000), t0);
        assert!(t.lost.is_empty());
        let t = tally("SIGTERM", &[], &[], ms(1000), t0);
        assert_eq!(t, SignalTally::default());
    }
}
