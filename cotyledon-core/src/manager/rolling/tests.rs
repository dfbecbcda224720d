//! Unit tests of the rolling state machine: a fake table of worker ids.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;

fn w(i: usize) -> WorkerId {
    WorkerId::new(i)
}

/// A fake table: id → slot.
struct Fake {
    slots: RefCell<BTreeMap<usize, Slot>>,
    t0: Instant,
}

impl Fake {
    fn new(n: usize) -> Self {
        let t0 = Instant::now();
        let slots = (0..n)
            .map(|i| {
                let s = Slot::Running {
                    pid: 100 + i as i32,
                    started: t0,
                    ready: true,
                    reloads: 0,
                };
                (i, s)
            })
            .collect();
        Fake {
            slots: RefCell::new(slots),
            t0,
        }
    }
    fn view(&self) -> impl Fn(WorkerId) -> Slot + '_ {
        |id| {
            self.slots
                .borrow()
                .get(&id.get())
                .copied()
                .unwrap_or(Slot::Gone)
        }
    }
    fn set(&self, i: usize, s: Slot) {
        self.slots.borrow_mut().insert(i, s);
    }
    fn replaced(&self, i: usize, pid: i32, at: Duration, ready: bool) {
        self.set(
            i,
            Slot::Running {
                pid,
                started: self.t0 + at,
                ready,
                reloads: 0,
            },
        );
    }
}

#[test]
fn restarts_one_at_a_time_and_waits_for_each_replacement_to_be_ready() {
    let f = Fake::new(3);
    let began = f.t0 + Duration::from_millis(1);
    let mut r = Rolling::new(0, (0..3).map(w), 1, Mode::Reload, began);
    let now = began;
    assert_eq!(r.advance(f.view(), None, now).signal, vec![(w(0), 100)]);
    // The old one is gone; its replacement is forked but not ready: nothing moves.
    f.set(0, Slot::Missing);
    assert_eq!(r.advance(f.view(), None, now), Advance::default());
    f.replaced(0, 200, Duration::from_millis(5), false);
    assert_eq!(r.advance(f.view(), None, now), Advance::default());
    f.replaced(0, 200, Duration::from_millis(5), true);
    assert_eq!(r.advance(f.view(), None, now).signal, vec![(w(1), 101)]);
    f.replaced(1, 201, Duration::from_millis(6), true);
    assert_eq!(r.advance(f.view(), None, now).signal, vec![(w(2), 102)]);
    f.replaced(2, 202, Duration::from_millis(7), true);
    let last = r.advance(f.view(), None, now);
    assert!(last.done && last.signal.is_empty());
}

#[test]
fn an_in_place_reload_is_done_when_its_counter_goes_up() {
    let f = Fake::new(2);
    let mut r = Rolling::new(
        0,
        (0..2).map(w),
        1,
        Mode::Reload,
        f.t0 + Duration::from_millis(1),
    );
    let now = f.t0 + Duration::from_millis(2);
    assert_eq!(r.advance(f.view(), None, now).signal, vec![(w(0), 100)]);
    assert!(r.advance(f.view(), None, now).signal.is_empty());
    f.set(
        0,
        Slot::Running {
            pid: 100,
            started: f.t0,
            ready: true,
            reloads: 1,
        },
    );
    assert_eq!(r.advance(f.view(), None, now).signal, vec![(w(1), 101)]);
}

#[test]
fn a_replacement_not_ready_within_the_boot_timeout_stops_the_rollout() {
    let f = Fake::new(3);
    let boot = Some(Duration::from_secs(2));
    let mut r = Rolling::new(
        0,
        (0..3).map(w),
        1,
        Mode::Restart,
        f.t0 + Duration::from_millis(1),
    );
    let now = f.t0 + Duration::from_millis(2);
    r.advance(f.view(), boot, now);
    f.replaced(0, 200, Duration::from_millis(10), false);
    let waiting = r.advance(f.view(), boot, now);
    assert_eq!(waiting.deadline, Some(f.t0 + Duration::from_millis(2010)));
    let late = r.advance(f.view(), boot, f.t0 + Duration::from_millis(2010));
    assert_eq!(late.stuck, Some(w(0)));
    assert!(late.signal.is_empty(), "ids 1 and 2 keep serving");
}

#[test]
fn batches_fresh_ids_and_ids_no_longer_wanted() {
    let f = Fake::new(4);
    let began = f.t0 + Duration::from_millis(1);
    // Id 1 was respawned after the rollout began: already fresh. Id 3 is gone.
    f.replaced(1, 300, Duration::from_millis(3), true);
    f.set(3, Slot::Gone);
    let mut r = Rolling::new(0, (0..4).map(w), 2, Mode::Reload, began);
    let now = f.t0 + Duration::from_millis(4);
    assert_eq!(
        r.advance(f.view(), None, now).signal,
        vec![(w(0), 100), (w(2), 102)]
    );
    assert_eq!(r.left(), 3, "two under way, id 3 queued");
    f.replaced(0, 400, Duration::from_millis(5), true);
    f.set(2, Slot::Gone);
    assert!(r.advance(f.view(), None, now).done);
}
