//! When the next fork may happen (pure: the caller passes the time).
//!
//! Two rules, both deadlines for the event loop, never a blocking sleep:
//! - `wait_interval` between two forks;
//! - cotyledon's limiter: when more forks than the expected worker count happened
//!   within that many seconds, log "Forking too fast, sleeping" and pause 5 s.
//!   SIGHUP and `reconfigure` reset the history (and end a pause). Planned
//!   forks (a rollout's replacements: rolling restarts, recycles) are not counted.
//!
//! No deadline here overflows: [`deadline_after`] saturates, so a delay too long
//! for the clock (`Duration::MAX`) is a deadline that is never reached.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long the limiter pauses forking, as in cotyledon.
pub(crate) const LIMITER_PAUSE: Duration = Duration::from_secs(5);

/// The fork pacing state.
#[derive(Debug)]
pub(crate) struct Pacing {
    wait_interval: Duration,
    limiter: bool,
    history: VecDeque<Instant>,
    last_fork: Option<Instant>,
    pause_until: Option<Instant>,
    retry_at: Option<Instant>,
    fork_failures: u32,
}

/// First delay before retrying a failed fork; it doubles with each failure in a
/// row, up to [`FORK_RETRY_MAX`].
pub(crate) const FORK_RETRY_INITIAL: Duration = Duration::from_millis(100);
/// Longest delay between two attempts to fork after failures.
pub(crate) const FORK_RETRY_MAX: Duration = Duration::from_secs(5);

/// `now + delay`, or, when that does not fit in an `Instant`, about the furthest
/// instant the clock can represent: a deadline that is never reached (and that
/// `poll` turns into its longest timeout).
pub(crate) fn deadline_after(now: Instant, delay: Duration) -> Instant {
    if let Some(at) = now.checked_add(delay) {
        return at;
    }
    // Go as far as fits: each step size succeeds at most once before it halves.
    let (mut at, mut step) = (now, delay);
    while !step.is_zero() {
        match at.checked_add(step) {
            Some(next) => at = next,
            None => step /= 2,
        }
    }
    at
}

/// Whether a fork may happen now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Fork now.
    Open,
    /// Not before this instant.
    Until(Instant),
    /// The limiter just tripped: log "Forking too fast, sleeping", wait until then.
    TooFast(Instant),
}

impl Pacing {
    pub(crate) fn new(wait_interval: Duration, limiter: bool) -> Self {
        Pacing {
            wait_interval,
            limiter,
            history: VecDeque::new(),
            last_fork: None,
            pause_until: None,
            retry_at: None,
            fork_failures: 0,
        }
    }

    /// May a fork happen at `now`, with `expected` workers configured in all?
    pub(crate) fn gate(&mut self, now: Instant, expected: usize) -> Gate {
        if let Some(at) = self.retry_at {
            if now < at {
                return Gate::Until(at);
            }
            self.retry_at = None;
        }
        if let Some(until) = self.pause_until {
            if now < until {
                return Gate::Until(until);
            }
            // The pause is over: forget the oldest fork, as cotyledon does after
            // its sleep, and go on.
            self.pause_until = None;
            self.history.pop_front();
            return Gate::Open;
        }
        if let Some(last) = self.last_fork {
            let next = deadline_after(last, self.wait_interval);
            if now < next {
                return Gate::Until(next);
            }
        }
        if self.limiter && self.history.len() > expected {
            let window = Duration::from_secs(expected as u64);
            let oldest = self.history.front().copied().unwrap_or(now);
            if now.duration_since(oldest) < window {
                let until = deadline_after(now, LIMITER_PAUSE);
                self.pause_until = Some(until);
                return Gate::TooFast(until);
            }
            self.history.pop_front();
        }
        Gate::Open
    }

    /// Records a fork at `now`.
    /// A `planned` fork (the replacement of a worker the master stopped on
    /// purpose: a rolling restart, a recycle) is spaced by `wait_interval` but not
    /// counted by the limiter, which is there to stop crash loops.
    pub(crate) fn forked(&mut self, now: Instant, planned: bool) {
        self.fork_failures = 0;
        self.last_fork = Some(now);
        if self.limiter && !planned {
            self.history.push_back(now);
        }
    }

    /// Records a failed fork (EAGAIN, ENOMEM) at `now`; returns how long the
    /// next attempt waits: 100 ms, doubling with each failure in a row, up to 5 s.
    pub(crate) fn fork_failed(&mut self, now: Instant) -> Duration {
        let doublings = self.fork_failures.min(16);
        self.fork_failures = self.fork_failures.saturating_add(1);
        let delay = FORK_RETRY_INITIAL
            .saturating_mul(1u32 << doublings)
            .min(FORK_RETRY_MAX);
        self.retry_at = Some(deadline_after(now, delay));
        delay
    }

    /// Forgets the fork history and ends any pause (SIGHUP, reconfigure).
    pub(crate) fn reset(&mut self) {
        self.history.clear();
        self.pause_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_interval_spaces_forks() {
        let t0 = Instant::now();
        let mut p = Pacing::new(Duration::from_millis(10), false);
        assert_eq!(p.gate(t0, 3), Gate::Open);
        p.forked(t0, false);
        assert_eq!(p.gate(t0, 3), Gate::Until(t0 + Duration::from_millis(10)));
        assert_eq!(p.gate(t0 + Duration::from_millis(10), 3), Gate::Open);
    }

    #[test]
    fn zero_interval_never_waits_without_limiter() {
        let t0 = Instant::now();
        let mut p = Pacing::new(Duration::ZERO, false);
        for _ in 0..1000 {
            assert_eq!(p.gate(t0, 1), Gate::Open);
            p.forked(t0, false);
        }
    }

    #[test]
    fn limiter_trips_on_too_many_forks_and_pauses_five_seconds() {
        let t0 = Instant::now();
        let mut p = Pacing::new(Duration::ZERO, true);
        // Expected 2 workers: 3 forks are allowed, the 4th within 2 s trips.
        for _ in 0..3 {
            assert_eq!(p.gate(t0, 2), Gate::Open);
            p.forked(t0, false);
        }
        let now = t0 + Duration::from_millis(100);
        assert_eq!(p.gate(now, 2), Gate::TooFast(now + LIMITER_PAUSE));
        assert_eq!(
            p.gate(now + Duration::from_secs(1), 2),
            Gate::Until(now + LIMITER_PAUSE)
        );
        assert_eq!(p.gate(now + LIMITER_PAUSE, 2), Gate::Open);
    }

    #[test]
    fn limiter_allows_slow_crashes() {
        let t0 = Instant::now();
        let mut p = Pacing::new(Duration::ZERO, true);
        for i in 0..10u64 {
            let now = t0 + Duration::from_secs(3 * i);
            assert_eq!(p.gate(now, 2), Gate::Open, "fork {i}");
            p.forked(now, false);
        }
    }

    #[test]
    fn failed_forks_back_off_and_a_success_resets() {
        let t0 = Instant::now();
        let mut p = Pacing::new(Duration::ZERO, false);
        let delays: Vec<u128> = (0..8).map(|_| p.fork_failed(t0).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(p.gate(t0, 1), Gate::Until(t0 + FORK_RETRY_MAX));
        assert_eq!(p.gate(t0 + FORK_RETRY_MAX, 1), Gate::Open);
        p.forked(t0 + FORK_RETRY_MAX, false);
        assert_eq!(p.fork_failed(t0).as_millis(), 100);
    }

    #[test]
    fn planned_forks_are_spaced_but_not_counted_by_the_limiter() {
        let t0 = Instant::now();
        let mut p = Pacing::new(Duration::from_millis(10), true);
        for i in 0..10 {
            let at = t0 + Duration::from_millis(10 * i);
            assert_eq!(p.gate(at, 1), Gate::Open, "fork {i}");
            p.forked(at, true);
            assert!(matches!(p.gate(at, 1), Gate::Until(_)));
        }
        let later = t0 + Duration::from_secs(1);
        p.forked(later, false);
        p.forked(later, false);
        let after = later + Duration::from_millis(10);
        assert!(matches!(p.gate(after, 1), Gate::TooFast(_)));
    }

    #[test]
    fn reset_ends_a_pause() {
        let t0 = Instant::now();
        let mut p = Pacing::new(Duration::ZERO, true);
        for _ in 0..2 {
            p.forked(t0, false);
        }
        assert!(matches!(p.gate(t0, 1), Gate::TooFast(_)));
        p.reset();
        assert_eq!(p.gate(t0, 1), Gate::Open);
    }

    /// Far enough to count as never for these tests: a century.
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let t0 = Instant::now();
        assert_eq!(deadline_after(t0, CENTURY), t0 + CENTURY);
        let never = deadline_after(t0, Duration::MAX);
        assert!(never > t0 + CENTURY);
        assert!(deadline_after(never, Duration::MAX) >= never);
        assert_eq!(deadline_after(t0, Duration::ZERO), t0);
    }

    #[test]
    fn a_wait_interval_of_duration_max_never_allows_a_second_fork() {
        let t0 = Instant::now();
        for limiter in [false, true] {
            let mut p = Pacing::new(Duration::MAX, limiter);
            assert_eq!(p.gate(t0, 2), Gate::Open, "the first fork is not delayed");
            p.forked(t0, false);
            match p.gate(t0 + CENTURY, 2) {
                Gate::Until(at) => assert!(at > t0 + CENTURY),
                other => panic!("expected a far deadline, got {other:?}"),
            }
            p.reset();
            assert!(matches!(p.gate(t0, 2), Gate::Until(_)));
        }
    }
}
