//! The binary upgrade's promises: the old generation serves, whole, until the
//! new one is ready; a failed attempt leaves it serving and allows another; one
//! attempt at a time; a shutdown during an attempt ends both.

use std::time::Duration;

use log::Level;
use nix::sys::signal::Signal;

use super::super::{Input, Phase};
use super::random::Rng;
use super::sim::{Behaviour, NewMaster, Sim, ms};
use crate::hooks::WorkerExit;

/// A started world of 4 workers, all ready.
fn serving() -> Sim {
    let mut sim = Sim::new(&[(4, Behaviour::default())]);
    sim.run(ms(200));
    assert_eq!(sim.serving(0), 4);
    sim
}

/// The signals sent to `pid`, in order.
fn signals_to(sim: &Sim, pid: i32) -> Vec<Signal> {
    sim.signals
        .iter()
        .filter(|(_, p, _)| *p == pid)
        .map(|(_, _, s)| *s)
        .collect()
}

/// A serving master that started an upgrade to a new master that is never
/// ready and stops `stop` after a signal (`None`: never): the sim and the new
/// master's pid.
fn attempting(stop: Option<Duration>) -> (Sim, i32) {
    let mut sim = serving();
    sim.new_master = NewMaster {
        ready_after: None,
        stop,
        ..NewMaster::default()
    };
    sim.step(vec![Input::Upgrade { signal: true }]);
    let pid = sim.new_proc.as_ref().expect("started").pid;
    (sim, pid)
}

/// Signals sent to the old workers (not to the new master).
fn to_workers(sim: &Sim, from: Duration) -> Vec<(i32, Signal)> {
    sim.signals
        .iter()
        .filter(|(at, pid, _)| *at >= from && !sim.new_pids.contains(pid))
        .map(|(_, pid, s)| (*pid, *s))
        .collect()
}

#[test]
fn the_old_generation_serves_whole_until_the_new_one_is_ready_then_leaves_with_status_0() {
    let mut sim = serving();
    sim.new_master.ready_after = Some(Duration::from_secs(2));
    let asked = sim.at();
    sim.step(vec![Input::Upgrade { signal: true }]);
    assert_eq!(sim.upgrades_started, 1);
    let pid = sim.new_proc.as_ref().expect("started").pid;
    sim.run_for(ms(1900), ms(10), |s| {
        assert_eq!(s.serving(0), 4, "at {:?}", s.at());
        assert!(s.handed_over.is_empty());
        assert_eq!(s.sup.snapshot(s.now).phase.label(), "upgrading");
    });
    assert!(to_workers(&sim, asked).is_empty(), "{:?}", sim.signals);
    sim.run(Duration::from_secs(1));
    assert_eq!(sim.handed_over, vec![pid]);
    assert_eq!(sim.exited, Some(0), "{:?}", sim.logs);
    let counted = sim.sup.metrics().upgrades;
    assert_eq!(
        (counted.started, counted.failed, counted.handed_over),
        (1, 0, 1)
    );
    // Every old worker was asked to stop gracefully (SIGTERM), none killed.
    let sent = to_workers(&sim, asked);
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent.iter().all(|(_, s)| *s == Signal::SIGTERM), "{sent:?}");
    // The new master was never signalled.
    assert!(!sim.signals.iter().any(|(_, p, _)| *p == pid));
    // systemd: a reload began; then this master said nothing more of its own
    // (the shell sends MAINPID= and READY=1 for the hand-over).
    let notes = sim.notes();
    let reloading = notes
        .iter()
        .rposition(|n| n.starts_with("RELOADING=1"))
        .expect("RELOADING=1");
    assert!(
        notes[reloading + 1..].is_empty(),
        "nothing after the hand-over: {notes:?}"
    );
    assert!(sim.logged(Level::Info, "is ready; this master hands over and leaves"));
}

#[test]
fn each_failure_leaves_the_old_one_serving_and_a_later_attempt_can_succeed() {
    let failures: Vec<(&str, NewMaster)> = vec![
        (
            "could not execute",
            NewMaster {
                start_error: Some("could not execute /x: No such file".into()),
                ..NewMaster::default()
            },
        ),
        (
            "exited with status 1 before it was ready",
            NewMaster {
                ready_after: None,
                dies_after: Some((ms(100), WorkerExit::Exited(1))),
                ..NewMaster::default()
            },
        ),
        (
            "was killed by signal SIGKILL before it was ready",
            NewMaster {
                ready_after: None,
                dies_after: Some((ms(300), WorkerExit::Signaled(9))),
                ..NewMaster::default()
            },
        ),
        (
            "was not ready within 5s",
            NewMaster {
                ready_after: None,
                // It ignores SIGINT: the SIGKILL after the grace ends it.
                stop: None,
                ..NewMaster::default()
            },
        ),
    ];
    for (why, behaviour) in failures {
        let mut sim = serving();
        sim.new_master = behaviour;
        let asked = sim.at();
        sim.step(vec![Input::Upgrade { signal: true }]);
        sim.run_for(Duration::from_secs(9), ms(10), |s| {
            assert_eq!(s.serving(0), 4, "{why}: at {:?}", s.at());
        });
        assert!(
            sim.logged(Level::Error, why) && sim.logged(Level::Error, "this master keeps serving"),
            "{why}: {:?}",
            sim.logs
        );
        assert!(
            to_workers(&sim, asked).is_empty(),
            "{why}: {:?}",
            sim.signals
        );
        assert!(sim.new_proc.is_none(), "{why}: the attempt is gone");
        let counted = sim.sup.metrics().upgrades;
        assert_eq!(
            (counted.started, counted.failed, counted.handed_over),
            (1, 1, 0),
            "{why}"
        );
        assert_eq!(sim.sup.upgrade_pid(), None, "{why}");
        assert_eq!(sim.exited, None);
        // The reload job systemd saw ends: READY=1 after RELOADING=1.
        let notes = sim.notes();
        let r = notes.iter().rposition(|n| n.starts_with("RELOADING=1"));
        assert!(
            notes[r.expect("RELOADING=1")..].contains(&"READY=1"),
            "{why}: {notes:?}"
        );
        // A later attempt, of a good build, hands over.
        sim.new_master = NewMaster::default();
        sim.step(vec![Input::Upgrade { signal: true }]);
        sim.run(Duration::from_secs(2));
        assert_eq!(sim.handed_over.len(), 1, "{why}: {:?}", sim.logs);
        assert_eq!(sim.exited, Some(0), "{why}");
    }
}

#[test]
fn a_new_master_that_ignores_sigint_after_a_timeout_is_killed() {
    let (mut sim, pid) = attempting(None);
    sim.run(Duration::from_secs(8));
    assert_eq!(signals_to(&sim, pid), [Signal::SIGINT, Signal::SIGKILL]);
}

#[test]
fn one_attempt_at_a_time() {
    let mut sim = serving();
    sim.new_master.ready_after = Some(Duration::from_secs(1));
    sim.step(vec![Input::Upgrade { signal: true }]);
    sim.run(ms(300));
    sim.step(vec![Input::Upgrade { signal: true }]);
    sim.step(vec![Input::Upgrade { signal: false }]);
    assert_eq!(sim.upgrades_started, 1);
    assert!(sim.logged(
        Level::Warn,
        "Caught SIGUSR2 signal during an upgrade: ignored"
    ));
    assert!(sim.logged(Level::Warn, "Upgrade asked during an upgrade: ignored"));
    sim.run(Duration::from_secs(2));
    assert_eq!(sim.handed_over.len(), 1);
}

#[test]
fn a_sigterm_during_an_attempt_ends_both_and_waits_for_the_new_master() {
    let (mut sim, pid) = attempting(Some(ms(400)));
    sim.run(ms(100));
    sim.step(vec![Input::Terminate]);
    assert!(signals_to(&sim, pid).contains(&Signal::SIGTERM));
    // The workers are gone after 20 ms; the new master only after 400 ms.
    sim.run_for(ms(350), ms(10), |s| assert_eq!(s.exited, None));
    sim.run(ms(200));
    assert!(sim.new_proc.is_none());
    assert_eq!(sim.exited, Some(0));
    // No hand-over, no second start.
    assert!(sim.handed_over.is_empty());
    assert_eq!(sim.upgrades_started, 1);
}

#[test]
fn a_sigint_during_an_attempt_is_passed_on_and_a_stuck_new_master_is_killed() {
    let (mut sim, pid) = attempting(None);
    sim.step(vec![Input::Interrupt]);
    assert!(matches!(sim.sup.phase(), Phase::Instant { .. }));
    sim.run(Duration::from_secs(2));
    assert_eq!(signals_to(&sim, pid), [Signal::SIGINT, Signal::SIGKILL]);
    assert_eq!(sim.exited, Some(1));
}

#[test]
fn an_upgrade_during_the_shutdown_is_ignored() {
    let mut sim = serving();
    sim.step(vec![Input::Terminate]);
    sim.step(vec![Input::Upgrade { signal: true }]);
    assert_eq!(sim.upgrades_started, 0);
    assert!(sim.logged(
        Level::Info,
        "Caught SIGUSR2 signal during the shutdown: ignored"
    ));
}

#[test]
fn a_new_master_tells_the_old_one_instead_of_systemd_once_then_speaks_as_usual() {
    let mut sim = Sim::new(&[(2, Behaviour::default())]);
    sim.sup.start(sim.now, None, true);
    // Before it is ready, it refuses to upgrade itself.
    sim.step(vec![Input::Upgrade { signal: true }]);
    assert_eq!(sim.upgrades_started, 0);
    sim.run(ms(300));
    assert!(sim.told_ready);
    assert!(!sim.notes().contains(&"READY=1"), "{:?}", sim.notes());
    // A reload later is announced to systemd as usual.
    sim.step(vec![Input::Hangup]);
    sim.run(ms(500));
    assert!(sim.notes().contains(&"READY=1"), "{:?}", sim.notes());
}

#[test]
fn random_upgrades_among_reloads_and_crashes_never_touch_the_old_generation_before_a_hand_over() {
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut sim = serving();
        let mut handed = None;
        for _ in 0..25 {
            if sim.exited.is_some() {
                break;
            }
            match rng.below(7) {
                0 | 1 => {
                    sim.new_master = match rng.below(5) {
                        0 => NewMaster {
                            start_error: Some("missing".into()),
                            ..NewMaster::default()
                        },
                        1 => NewMaster {
                            ready_after: None,
                            dies_after: Some((ms(rng.below(800)), WorkerExit::Exited(3))),
                            ..NewMaster::default()
                        },
                        2 => NewMaster {
                            ready_after: None,
                            stop: (rng.below(2) == 0).then(|| ms(rng.below(3000))),
                            ..NewMaster::default()
                        },
                        _ => NewMaster {
                            ready_after: Some(ms(200 + rng.below(3000))),
                            ..NewMaster::default()
                        },
                    };
                    sim.step(vec![Input::Upgrade { signal: true }]);
                }
                2 => sim.step(vec![Input::Hangup]),
                3 => {
                    let pids: Vec<i32> = sim.procs.keys().copied().collect();
                    if let Some(&pid) = pids.get(rng.below(pids.len() as u64) as usize)
                        && let Some(p) = sim.procs.get_mut(&pid)
                    {
                        p.die = Some((sim.now, WorkerExit::Signaled(11)));
                    }
                }
                _ => {}
            }
            let before = sim.handed_over.len();
            sim.run_for(ms(rng.below(1500)), ms(10), |s| {
                if s.handed_over.is_empty() {
                    // Until a hand-over, the old workers get only the reloads'
                    // SIGHUPs: no attempt, failed or not, stops one of them.
                    let stopped: Vec<_> = to_workers(s, Duration::ZERO)
                        .into_iter()
                        .filter(|(_, sig)| *sig != Signal::SIGHUP)
                        .collect();
                    assert!(stopped.is_empty(), "seed {seed}: {stopped:?}");
                }
            });
            if sim.handed_over.len() > before {
                handed = Some(sim.now);
            }
        }
        sim.run(Duration::from_secs(12));
        match handed {
            Some(_) => {
                assert_eq!(sim.handed_over.len(), 1, "seed {seed}");
                assert_eq!(sim.exited, Some(0), "seed {seed}: {:?}", sim.logs);
            }
            None => {
                assert_eq!(sim.exited, None, "seed {seed}");
                assert_eq!(sim.sup.upgrade_pid(), None, "seed {seed}: an attempt left");
                assert!(sim.new_proc.is_none(), "seed {seed}: a new master left");
                assert_eq!(sim.serving(0), 4, "seed {seed}: {:?}", sim.logs);
            }
        }
    }
}
