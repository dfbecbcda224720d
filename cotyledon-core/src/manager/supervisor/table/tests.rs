//! Unit tests of the worker table: ordering, scaling, deaths, the ceilings, and a
//! random walk checked against a plain model.

use super::*;

fn table(counts: &[usize]) -> (Table, Vec<ServiceId>) {
    let mut t = Table::default();
    let ids: Vec<ServiceId> = counts
        .iter()
        .map(|&n| {
            let id = ServiceId::new_random();
            t.add(id, n).expect("valid count");
            id
        })
        .collect();
    (t, ids)
}

fn fill(t: &mut Table, next_pid: &mut i32) {
    while let Some((i, w)) = t.next_missing() {
        t.insert(i, w, *next_pid, Instant::now());
        *next_pid += 1;
    }
}

#[test]
fn fills_services_in_order_with_ascending_ids() {
    let (mut t, _) = table(&[2, 1]);
    assert_eq!(t.next_missing(), Some((0, WorkerId::new(0))));
    t.insert(0, WorkerId::new(0), 100, Instant::now());
    assert_eq!(t.next_missing(), Some((0, WorkerId::new(1))));
    t.insert(0, WorkerId::new(1), 101, Instant::now());
    assert_eq!(t.next_missing(), Some((1, WorkerId::new(0))));
    t.insert(1, WorkerId::new(0), 102, Instant::now());
    assert_eq!(t.next_missing(), None);
    assert_eq!(t.expected(), 3);
}

#[test]
fn a_dead_worker_is_replaced_with_the_same_id() {
    let (mut t, _) = table(&[3]);
    let mut pid = 10;
    fill(&mut t, &mut pid);
    let removed = t.remove_pid(11).expect("known pid");
    assert_eq!(
        (removed.index, removed.worker, removed.was_stopping),
        (0, WorkerId::new(1), false)
    );
    assert_eq!(t.next_missing(), Some((0, WorkerId::new(1))));
    assert_eq!(t.remove_pid(999), None);
}

#[test]
fn scaling_down_stops_the_highest_ids_once() {
    let (mut t, ids) = table(&[5]);
    let mut pid = 10;
    fill(&mut t, &mut pid);
    t.set_desired(ids[0], 2).expect("valid");
    let mut excess = t.take_excess(Instant::now());
    excess.sort_unstable();
    assert_eq!(excess, vec![12, 13, 14]);
    assert!(
        t.take_excess(Instant::now()).is_empty(),
        "stopped once only"
    );
    let s = t.service(0);
    let live: Vec<i32> = s
        .running()
        .filter(|(w, _)| !s.is_stopping(*w))
        .map(|(_, r)| r.pid)
        .collect();
    assert_eq!(live, vec![10, 11]);
    assert_eq!(t.next_missing(), None);
    assert!(t.remove_pid(14).expect("known").was_stopping);
    assert_eq!(t.next_missing(), None, "id 4 is no longer desired");
    // Scaling up again while ids 2 and 3 still run must not start them twice.
    t.set_desired(ids[0], 5).expect("valid");
    assert_eq!(t.missing().collect::<Vec<_>>(), vec![(0, WorkerId::new(4))]);
    t.remove_pid(13);
    assert_eq!(t.missing().count(), 2, "ids 3 and 4");
    assert_eq!(t.next_missing(), Some((0, WorkerId::new(3))));
}

#[test]
fn bad_counts_and_ids_are_typed_errors() {
    let (mut t, ids) = table(&[1]);
    assert!(matches!(
        t.set_desired(ids[0], 0),
        Err(Error::InvalidWorkerCount { workers: 0 })
    ));
    let unknown = ServiceId::new_random();
    assert!(matches!(t.set_desired(unknown, 1), Err(Error::UnknownService(u)) if u == unknown));
}

/// Ids `0..desired` that no running worker holds, per service: the model
/// `missing()` must agree with.
fn model(t: &Table) -> Vec<(usize, WorkerId)> {
    let mut out = Vec::new();
    for (i, s) in t.services.iter().enumerate() {
        for w in (0..s.desired).map(WorkerId::new) {
            if !s.running.contains_key(&w) {
                out.push((i, w));
            }
        }
    }
    out
}

#[test]
fn scale_down_then_up_while_the_excess_still_runs() {
    let (mut t, ids) = table(&[6]);
    let mut pid = 10;
    fill(&mut t, &mut pid);
    t.set_desired(ids[0], 1).expect("valid");
    assert_eq!(t.take_excess(Instant::now()).len(), 5);
    // Back up to 4 while ids 1..6 still stop: nothing is missing.
    t.set_desired(ids[0], 4).expect("valid");
    assert_eq!(t.next_missing(), None);
    assert!(
        t.take_excess(Instant::now()).is_empty(),
        "4 and 5 were told once already"
    );
    // Id 2 dies (it was stopping): it is missing again, once.
    assert!(t.remove_pid(12).expect("known").was_stopping);
    assert_eq!(t.missing().collect::<Vec<_>>(), vec![(0, WorkerId::new(2))]);
    t.insert(0, WorkerId::new(2), 20, Instant::now());
    assert_eq!(t.next_missing(), None);
    // Up to 8 while 4 and 5 still run: 6 and 7 are missing, not 4 or 5.
    t.set_desired(ids[0], 8).expect("valid");
    assert_eq!(t.missing().collect::<Vec<_>>(), model(&t));
    assert_eq!(
        t.missing().map(|(_, w)| w.get()).collect::<Vec<_>>(),
        vec![6, 7]
    );
    t.remove_pid(15);
    assert_eq!(
        t.missing().map(|(_, w)| w.get()).collect::<Vec<_>>(),
        vec![5, 6, 7]
    );
}

#[test]
fn death_of_a_stopping_worker_above_the_count_leaves_no_gap() {
    let (mut t, ids) = table(&[3, 2]);
    let mut pid = 10;
    fill(&mut t, &mut pid);
    t.set_desired(ids[0], 1).expect("valid");
    t.take_excess(Instant::now());
    for p in [11, 12] {
        let removed = t.remove_pid(p).expect("known");
        assert!(removed.was_stopping);
    }
    assert_eq!(t.next_missing(), None);
    assert_eq!(t.pids().len(), 3);
    // The other service is untouched, and a death there is its own.
    t.remove_pid(14);
    assert_eq!(t.next_missing(), Some((1, WorkerId::new(1))));
}

#[test]
fn a_later_missing_id_may_start_first() {
    // The event loop skips an id that backs off and starts the next one.
    let (mut t, ids) = table(&[3]);
    t.insert(0, WorkerId::new(1), 11, Instant::now());
    assert_eq!(t.missing().collect::<Vec<_>>(), model(&t));
    t.set_desired(ids[0], 6).expect("valid");
    t.insert(0, WorkerId::new(4), 14, Instant::now());
    assert_eq!(
        t.missing().map(|(_, w)| w.get()).collect::<Vec<_>>(),
        vec![0, 2, 3, 5]
    );
    t.set_desired(ids[0], 3).expect("valid");
    assert_eq!(
        t.missing().map(|(_, w)| w.get()).collect::<Vec<_>>(),
        vec![0, 2]
    );
}

#[test]
fn a_4096_worker_service_starts_in_order_and_keeps_memory_to_its_workers() {
    let (mut t, ids) = table(&[MAX_WORKERS]);
    let mut pid = 10;
    fill(&mut t, &mut pid);
    let s = t.service(0);
    assert_eq!(
        (s.running.len(), s.holes.len(), s.frontier),
        (4096, 0, 4096)
    );
    assert_eq!(t.remove_pid(10 + 4000).map(|r| r.worker.get()), Some(4000));
    assert_eq!(t.next_missing(), Some((0, WorkerId::new(4000))));
    // Down to 1 and up again while the excess runs: no hole per id.
    t.set_desired(ids[0], 1).expect("valid");
    t.set_desired(ids[0], MAX_WORKERS).expect("valid");
    assert_eq!(t.service(0).holes.len(), 0);
    assert_eq!(
        t.missing().collect::<Vec<_>>(),
        vec![(0, WorkerId::new(4000))]
    );
}

#[test]
fn counts_above_the_ceiling_per_service_or_in_total_are_refused() {
    fn too_many<T>(r: Result<T, Error>, n: usize) -> bool {
        matches!(r, Err(Error::TooManyWorkers { workers, max: MAX_WORKERS }) if workers == n)
    }
    let mut t = Table::default();
    let id = ServiceId::new_random();
    assert!(too_many(t.add(id, usize::MAX), usize::MAX));
    assert!(too_many(t.add(id, MAX_WORKERS + 1), MAX_WORKERS + 1));
    assert!(!t.has_services());
    assert_eq!(t.add(id, 4000).expect("fits"), 0);
    let other = ServiceId::new_random();
    assert!(too_many(t.add(other, 97), 4097));
    assert_eq!(t.add(other, 96).expect("fits the total"), 1);
    assert!(too_many(t.set_desired(id, 4001), 4097));
    assert!(too_many(t.set_desired(other, 1_000_000_000), 1_000_000_000));
    assert!(too_many(t.set_desired(other, usize::MAX), usize::MAX));
    assert_eq!(t.expected(), MAX_WORKERS, "refused changes change nothing");
    t.set_desired(id, 1).expect("valid");
    t.set_desired(other, MAX_WORKERS - 1)
        .expect("fits the total");
}

#[test]
fn random_operations_agree_with_the_model() {
    let (mut t, ids) = table(&[5, 3]);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut pid = 100;
    for _ in 0..5000 {
        match rand(4) {
            0 => {
                let i = rand(2);
                t.set_desired(ids[i], 1 + rand(12)).expect("valid");
                t.take_excess(Instant::now());
            }
            1 => {
                let missing: Vec<_> = t.missing().collect();
                if !missing.is_empty() {
                    let (i, w) = missing[rand(missing.len())];
                    t.insert(i, w, pid, Instant::now());
                    pid += 1;
                }
            }
            _ => {
                let mut pids = t.pids();
                pids.sort_unstable();
                if !pids.is_empty() {
                    t.remove_pid(pids[rand(pids.len())]).expect("known");
                }
            }
        }
        assert_eq!(t.missing().collect::<Vec<_>>(), model(&t));
        for s in &t.services {
            assert!(s.frontier <= s.desired);
            assert!(s.holes.iter().all(|w| w.get() < s.frontier));
            assert!(s.holes.iter().all(|w| !s.running.contains_key(w)));
        }
    }
}
