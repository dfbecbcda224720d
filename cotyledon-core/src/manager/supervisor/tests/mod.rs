//! The supervisor's promises, tested without processes: each overlap of the
//! reliability issue as a story, then random interleavings checked against the
//! invariants (capacity, no lost reload, bounded steps, SIGTERM first).

mod forks;
mod metrics;
mod random;
mod sim;
mod upgrade;

use std::time::Duration;

use log::Level;
use nix::sys::signal::Signal;

use super::{HookCall, Input, Phase};
use crate::manager::policy::Reload;
use crate::manager::supervisor::Request;
use sim::{Behaviour, Sim, ms};

/// A started world of one rolling service, all workers ready.
fn rolling(n: usize, batch: usize, b: Behaviour) -> Sim {
    let mut sim = Sim::new(&[(n, b)]);
    sim.sup.services[0].policy.reload = Reload::Rolling { batch };
    sim.run(b.boot + ms(50));
    assert_eq!(sim.serving(0), n, "all up: {:?}", sim.logs);
    sim
}

#[test]
fn a_sighup_during_a_rollout_folds_into_it_and_capacity_holds() {
    let b = Behaviour {
        boot: ms(800),
        ..Behaviour::default()
    };
    let mut sim = rolling(3, 1, b);
    sim.step(vec![Input::Hangup]);
    // Worker 0 replaced; while worker 1's replacement boots, SIGHUP again.
    sim.run_for(ms(1200), ms(10), |s| {
        assert!(s.serving(0) >= 2, "at {:?}", s.at())
    });
    let second = sim.now;
    sim.step(vec![Input::Hangup]);
    sim.run_for(Duration::from_secs(8), ms(10), |s| {
        assert!(
            s.serving(0) >= 2,
            "capacity at {:?}: {}",
            s.at(),
            s.serving(0)
        );
    });
    // Every worker now runs code forked after the second SIGHUP.
    assert_eq!(sim.procs.len(), 3);
    assert!(
        sim.procs.values().all(|p| p.forked >= second),
        "{:?}",
        sim.procs
    );
    assert!(sim.logged(Level::Info, "folded into the rollout under way"));
    assert!(sim.logged(Level::Info, "Rolling reload of web done"));
}

#[test]
fn a_reconfigure_during_a_rollout_keeps_capacity_and_ends_fresh() {
    let b = Behaviour {
        boot: ms(500),
        ..Behaviour::default()
    };
    let mut sim = rolling(2, 1, b);
    sim.step(vec![Input::Hangup]);
    sim.run(ms(300));
    let id = sim.ids[0];
    sim.on_hooks = Box::new(move |call, sup| match call {
        HookCall::Reload => {
            let index = sup.table.index_of(id).expect("known");
            (Ok(()), vec![Request::Reconfigure(index, 3)])
        }
        _ => (Ok(()), Vec::new()),
    });
    let second = sim.now;
    sim.step(vec![Input::Hangup]);
    sim.run_for(Duration::from_secs(6), ms(10), |s| {
        assert!(s.serving(0) >= 1, "capacity at {:?}", s.at());
    });
    assert_eq!(sim.procs.len(), 3);
    assert!(sim.procs.values().all(|p| p.forked >= second));
}

#[test]
fn a_sighup_during_an_in_place_reload_leads_to_one_more_and_ready_waits_for_it() {
    let b = Behaviour {
        reload: Some(ms(1000)),
        ..Behaviour::default()
    };
    let mut sim = Sim::new(&[(2, b)]);
    sim.run(ms(200));
    sim.step(vec![Input::Hangup]);
    sim.run(ms(300));
    let second = sim.now;
    sim.step(vec![Input::Hangup]);
    let relo = sim
        .notes
        .iter()
        .rposition(|(_, m)| m.starts_with("RELOADING=1"))
        .expect("reloading");
    sim.run_for(Duration::from_secs(4), ms(10), |s| {
        // READY=1 after the last RELOADING=1 only once every worker reloaded
        // with a reload() begun after it.
        if s.notes[relo..].iter().any(|(_, m)| m == "READY=1") {
            assert!(
                s.procs
                    .values()
                    .all(|p| p.reloaded_from.is_some_and(|t| t >= second)),
                "READY=1 early at {:?}",
                s.at()
            );
        }
    });
    assert!(sim.notes[relo..].iter().any(|(_, m)| m == "READY=1"));
    assert!(
        sim.procs
            .values()
            .all(|p| p.reloaded_from.is_some_and(|t| t >= second))
    );
    assert_eq!(sim.procs.len(), 2, "reloaded in place, never restarted");
}

#[test]
fn after_an_in_place_reload_the_watchdog_and_recycling_still_act() {
    let b = Behaviour {
        reload: Some(ms(50)),
        ..Behaviour::default()
    };
    let mut sim = rolling(2, 1, b);
    sim.sup.services[0].policy.heartbeat_timeout = Some(ms(500));
    sim.step(vec![Input::Hangup]);
    sim.run(ms(500));
    assert!(sim.logged(Level::Info, "Rolling reload of web done"));
    let (&pid, p) = sim.procs.iter_mut().next().expect("a worker");
    p.hung = true;
    sim.run(Duration::from_secs(1));
    assert!(
        sim.logged(Level::Error, &format!("[{pid}] sent no heartbeat")),
        "{:?}",
        sim.logs
    );
    assert!(
        sim.signals
            .iter()
            .any(|s| s.1 == pid && s.2 == Signal::SIGABRT)
    );
    // Recycling by lifetime goes on as well.
    sim.sup.services[0].policy.max_lifetime = Some(Duration::from_secs(2));
    sim.run(Duration::from_secs(5));
    assert!(sim.logged(Level::Info, "Recycling worker web("));
}

#[test]
fn a_reload_that_never_returns_stops_the_rollout_and_restarts_that_worker() {
    let b = Behaviour {
        reload: Some(Duration::MAX),
        ..Behaviour::default()
    };
    let mut sim = rolling(3, 1, b);
    sim.sup.services[0].policy.boot_timeout = Some(ms(500));
    sim.sup.services[0].policy.max_lifetime = Some(Duration::from_secs(3));
    sim.step(vec![Input::Hangup]);
    sim.run(ms(800));
    assert!(sim.logged(
        Level::Error,
        "Rolling reload of web stopped: worker web(0) reload() did not return within 500ms"
    ));
    assert!(
        sim.notes()
            .iter()
            .any(|m| m.starts_with("STATUS=") && m.contains("stopped"))
    );
    // The stuck worker was restarted, the others kept serving.
    sim.run(ms(200));
    assert_eq!(sim.serving(0), 3);
    // Recycling goes on, and a later SIGHUP starts a fresh rollout.
    sim.run(Duration::from_secs(4));
    assert!(sim.logged(Level::Info, "Recycling worker web("));
    let before = sim.logs.len();
    sim.step(vec![Input::Hangup]);
    assert!(
        sim.logs[before..]
            .iter()
            .any(|(_, _, m)| m.starts_with("Rolling reload of web: 3 workers"))
    );
}

#[test]
fn a_replacement_that_never_boots_stops_the_rollout_and_recycling_goes_on() {
    let mut sim = rolling(3, 1, Behaviour::default());
    sim.sup.services[0].policy.boot_timeout = Some(ms(500));
    sim.sup.services[0].policy.max_lifetime = Some(Duration::from_secs(2));
    sim.behaviour[0].factory_fails = true;
    sim.step(vec![Input::Hangup]);
    sim.run(ms(900));
    assert!(
        sim.logged(
            Level::Error,
            "Rolling reload of web stopped: worker web(0) not ready after 500ms"
        ),
        "{:?}",
        sim.logs
    );
    assert_eq!(sim.serving(0), 2, "the others keep serving");
    sim.run(Duration::from_secs(3));
    assert!(
        sim.logged(Level::Info, "Recycling worker web(1)")
            || sim.logged(Level::Info, "Recycling worker web(2)")
    );
}

#[test]
fn a_worker_above_max_rss_is_recycled_at_its_first_check() {
    let b = Behaviour {
        leak: 16 << 20,
        ..Behaviour::default()
    };
    let mut sim = Sim::new(&[(1, b)]);
    sim.sup.services[0].policy.max_rss = Some(64 << 20);
    sim.run(Duration::from_secs(2));
    assert!(
        sim.logged(Level::Info, "Recycling worker web(0)"),
        "{:?}",
        sim.logs
    );
    assert!(!sim.logs.iter().any(|(_, _, m)| m.contains("turned off")));
}

#[test]
fn unreadable_memory_is_said_once() {
    let mut sim = Sim::new(&[(2, Behaviour::default())]);
    sim.sup.services[0].policy.max_rss = Some(64 << 20);
    sim.rss_unreadable = true;
    sim.run(Duration::from_secs(5));
    let warns = sim
        .logs
        .iter()
        .filter(|(_, l, m)| *l == Level::Warn && m.contains("memory"))
        .count();
    assert_eq!(warns, 1);
}

#[test]
fn a_master_that_did_not_run_gives_workers_a_fresh_period() {
    let mut sim = Sim::new(&[(3, Behaviour::default())]);
    sim.sup.services[0].policy.heartbeat_timeout = Some(Duration::from_secs(2));
    sim.run(ms(500));
    // The whole group stopped 4 s: no beat, no step; then both go on.
    sim.now += Duration::from_secs(4);
    sim.step(Vec::new());
    sim.run(ms(300));
    assert!(
        !sim.logged(Level::Error, "sent no heartbeat"),
        "{:?}",
        sim.logs
    );
    assert!(sim.logged(Level::Warn, "did not run for"));
    // A worker that really hangs is still judged.
    sim.procs.values_mut().next().expect("worker").hung = true;
    sim.run(Duration::from_secs(3));
    assert!(sim.logged(Level::Error, "sent no heartbeat"));
}

#[test]
fn sigterm_outranks_a_pending_sighup_and_a_reload_under_way() {
    let mut sim = Sim::new(&[(2, Behaviour::default())]);
    sim.run(ms(200));
    let mut reload_hooks = 0;
    sim.on_hooks = Box::new(move |call, _| {
        if call == HookCall::Reload {
            reload_hooks += 1;
            assert_eq!(reload_hooks, 1, "the reload hooks ran again");
        }
        (Ok(()), Vec::new())
    });
    // SIGHUP; its config hooks return with SIGTERM and SIGHUP pending.
    let facts = super::Facts {
        room: true,
        ..Default::default()
    };
    let actions = sim.sup.step(vec![Input::Hangup], &facts, sim.now);
    assert_eq!(
        actions.last(),
        Some(&super::Action::RunHooks(HookCall::Config))
    );
    sim.step(vec![
        Input::HooksDone {
            outcome: Ok(()),
            requests: Vec::new(),
        },
        Input::Hangup,
        Input::Terminate,
    ]);
    assert!(matches!(sim.sup.phase(), Phase::Graceful { .. }));
    assert!(!sim.signals.iter().any(|s| s.2 == Signal::SIGHUP));
    sim.run(ms(200));
    assert_eq!(sim.exited, Some(0));
}

#[test]
fn a_rejected_configuration_touches_no_worker_and_says_so() {
    let mut sim = Sim::new(&[(2, Behaviour::default())]);
    sim.run(ms(200));
    let id = sim.ids[0];
    sim.on_hooks = Box::new(move |call, sup| match call {
        HookCall::Config => (
            Err("bad file".to_owned()),
            vec![Request::Reconfigure(
                sup.table.index_of(id).expect("known"),
                5,
            )],
        ),
        _ => (Ok(()), Vec::new()),
    });
    sim.step(vec![Input::Hangup]);
    sim.run(ms(500));
    assert!(sim.signals.is_empty(), "{:?}", sim.signals);
    assert_eq!(
        sim.procs.len(),
        2,
        "the count of the rejected file was not applied"
    );
    let notes = sim.notes();
    let relo = notes
        .iter()
        .position(|m| m.starts_with("RELOADING=1"))
        .expect("reloading");
    assert!(
        notes[relo..]
            .iter()
            .any(|m| m.starts_with("STATUS=Reload failed: bad file"))
    );
    assert!(notes[relo..].contains(&"READY=1"));
}

#[test]
fn sigint_and_the_graceful_timeout_say_stopping() {
    let mut sim = Sim::new(&[(2, Behaviour::default())]);
    sim.run(ms(200));
    sim.step(vec![Input::Interrupt]);
    assert!(sim.notes().contains(&"STOPPING=1"));
    sim.run(ms(50));
    assert_eq!(sim.exited, Some(1));
}
