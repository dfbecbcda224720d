//! Per-worker crash-loop back-off (pure: the caller passes the time).
//!
//! A worker that dies less than [`MIN_UPTIME`] after it was started, unasked (not
//! during a shutdown or a scale-down), counts as a quick death of its slot
//! (service, worker id). After the n-th quick death in a row, that slot is
//! respawned only after `initial × 2^(n-1)`, capped at `max`. A worker that stays
//! up for [`MIN_UPTIME`] resets its slot. Other slots are never delayed. SIGHUP and
//! `reconfigure` forget every delay, as they reset cotyledon's fork limiter.
//! Delays saturate: `Duration::MAX` (as `initial` or `max`) never overflows.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::pacing::deadline_after;
use crate::ids::WorkerId;

/// How long a worker must live for its death not to count as a crash loop.
pub(crate) const MIN_UPTIME: Duration = Duration::from_secs(1);

/// A slot: (service index, worker id).
type Slot = (usize, WorkerId);

#[derive(Debug, Default)]
struct SlotState {
    quick_deaths: u32,
    not_before: Option<Instant>,
}

/// Back-off state of every slot.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    slots: HashMap<Slot, SlotState>,
}

impl Backoff {
    /// `initial` zero turns the back-off off.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            slots: HashMap::new(),
        }
    }

    /// Records the death of a worker started at `started`; returns the delay
    /// imposed on its slot, if any.
    pub(crate) fn died(&mut self, slot: Slot, started: Instant, now: Instant) -> Option<Duration> {
        if self.initial.is_zero() {
            return None;
        }
        if now.duration_since(started) >= MIN_UPTIME {
            self.slots.remove(&slot);
            return None;
        }
        let state = self.slots.entry(slot).or_default();
        state.quick_deaths = state.quick_deaths.saturating_add(1);
        let doublings = (state.quick_deaths - 1).min(32);
        let delay = self
            .initial
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max);
        // A delay too long for the clock saturates: the slot waits for ever
        // (until SIGHUP or `reconfigure` forgets it).
        state.not_before = Some(deadline_after(now, delay));
        Some(delay)
    }

    /// Records that a worker was asked to stop (its death is no crash).
    pub(crate) fn forget(&mut self, slot: Slot) {
        self.slots.remove(&slot);
    }

    /// When `slot` may be respawned: `None` means now.
    pub(crate) fn not_before(&self, slot: Slot, now: Instant) -> Option<Instant> {
        self.slots
            .get(&slot)
            .and_then(|s| s.not_before)
            .filter(|&t| t > now)
    }

    /// Forgets every delay (SIGHUP, reconfigure).
    pub(crate) fn reset(&mut self) {
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn slot(i: usize) -> Slot {
        (0, WorkerId::new(i))
    }

    #[test]
    fn quick_deaths_double_the_delay_up_to_the_cap() {
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        let mut now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..6 {
            let started = now;
            now += 10 * MS;
            delays.push(b.died(slot(0), started, now).expect("quick death"));
        }
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.not_before(slot(0), now), Some(now + 1000 * MS));
        // Another id of the same service is not slowed.
        assert_eq!(b.not_before(slot(1), now), None);
    }

    #[test]
    fn staying_up_resets_the_slot() {
        let mut b = Backoff::new(100 * MS, 30_000 * MS);
        let t0 = Instant::now();
        b.died(slot(0), t0, t0 + MS);
        b.died(slot(0), t0, t0 + 2 * MS);
        let later = t0 + MIN_UPTIME + 10 * MS;
        assert_eq!(b.died(slot(0), t0 + 5 * MS, later + 5 * MS), None);
        assert_eq!(b.died(slot(0), later, later + MS), Some(100 * MS));
    }

    #[test]
    fn zero_initial_disables_and_reset_forgets() {
        let t0 = Instant::now();
        let mut off = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(off.died(slot(0), t0, t0), None);
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        b.died(slot(0), t0, t0);
        b.reset();
        assert_eq!(b.not_before(slot(0), t0), None);
    }

    #[test]
    fn duration_max_as_initial_or_max_saturates() {
        let t0 = Instant::now();
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        let mut b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.died(slot(0), t0, t0), Some(Duration::MAX));
        assert!(
            b.not_before(slot(0), t0 + century).is_some(),
            "waits for ever"
        );
        assert_eq!(b.died(slot(0), t0, t0 + MS), Some(Duration::MAX));
        b.reset();
        assert_eq!(b.not_before(slot(0), t0), None);
        // A small start doubling towards Duration::MAX: no overflow after many deaths.
        let mut b = Backoff::new(100 * MS, Duration::MAX);
        let mut last = Duration::ZERO;
        for _ in 0..100 {
            let delay = b.died(slot(1), t0, t0).expect("quick death");
            assert!(delay >= last);
            last = delay;
        }
        assert!(b.not_before(slot(1), t0).is_some());
        // Duration::MAX as `initial` with a smaller `max`: `max` is raised to it.
        let mut b = Backoff::new(Duration::MAX, MS);
        assert_eq!(b.died(slot(2), t0, t0), Some(Duration::MAX));
    }
}
