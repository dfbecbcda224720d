//! Forks: a new worker's slot read at once, its start at its fork's time, its
//! exit served after its fork, and one id's crash loop never delaying another's
//! respawn.

use std::time::Duration;

use log::Level;

use super::sim::{Behaviour, Sim, ms};
use crate::manager::policy::Reload;
use crate::manager::supervisor::{self as sup, Input};

#[test]
fn a_new_worker_is_looked_at_again_at_once_after_its_fork() {
    // The shell reads the slots before the step that learns the new pid: a
    // notice the new worker sent meanwhile was consumed with that step's
    // inputs, so the supervisor must come back at once to read its slot.
    let mut sim = Sim::new(&[(1, Behaviour::default())]);
    let facts = sup::Facts {
        room: true,
        ..Default::default()
    };
    let actions = sim.sup.step(Vec::new(), &facts, sim.now);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, sup::Action::Fork { .. }))
    );
    let forked = Input::Forked {
        index: 0,
        worker: crate::ids::WorkerId::new(0),
        pid: 42,
        slot: 0,
        at: sim.now,
    };
    sim.sup.step(vec![forked], &facts, sim.now);
    assert_eq!(sim.sup.deadline(), Some(sim.now));
}

#[test]
fn a_worker_reaped_in_the_step_that_serves_its_fork_is_dead_and_respawned() {
    // The shell reaps a child forked by the last actions with the answer of
    // its fork (its SIGCHLD came first): whatever their order in the batch,
    // the fork is served before the exit, and the id is forked again.
    let mut sim = Sim::new(&[(1, Behaviour::default())]);
    let facts = sup::Facts {
        room: true,
        ..Default::default()
    };
    sim.sup.step(Vec::new(), &facts, sim.now);
    let forked = Input::Forked {
        index: 0,
        worker: crate::ids::WorkerId::new(0),
        pid: 42,
        slot: 0,
        at: sim.now,
    };
    let reaped = Input::Reaped(42, crate::hooks::WorkerExit::Exited(2));
    let actions = sim.sup.step(vec![reaped, forked], &facts, sim.now);
    assert!(
        actions.iter().any(|a| matches!(a,
            sup::Action::Log(_, m) if m == "Child 42 exited with status 2")),
        "{actions:?}"
    );
    assert!(!sim.sup.table.contains(42));
    // Its on_dead_worker hooks ran; it is back after its crash back-off, as
    // any worker that died at once.
    let done = Input::HooksDone {
        outcome: Ok(()),
        requests: Vec::new(),
    };
    let mut actions = sim.sup.step(vec![done], &facts, sim.now);
    actions.extend(
        sim.sup
            .step(Vec::new(), &facts, sim.now + Duration::from_secs(1)),
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, sup::Action::Fork { .. })),
        "{actions:?}"
    );
}

#[test]
fn a_worker_forked_just_before_a_sighup_served_with_its_fork_is_reloaded_too() {
    // The SIGHUP and the answer of the fork that preceded it come in one step:
    // the new worker is a copy of the master from before the SIGHUP.
    let mut sim = Sim::new(&[(2, Behaviour::default())]);
    sim.sup.services[0].policy.reload = Reload::Rolling { batch: 1 };
    let facts = sup::Facts {
        room: true,
        ..Default::default()
    };
    let t0 = sim.now;
    sim.sup.step(Vec::new(), &facts, t0);
    let fork = |worker, pid, at| Input::Forked {
        index: 0,
        worker: crate::ids::WorkerId::new(worker),
        pid,
        slot: pid as usize,
        at,
    };
    sim.sup.step(vec![fork(0, 10, t0)], &facts, t0);
    let t1 = t0 + ms(1);
    let hup_step = t1 + ms(1);
    sim.sup
        .step(vec![fork(1, 11, t1), Input::Hangup], &facts, hup_step);
    let started = sim
        .sup
        .table
        .get(0, crate::ids::WorkerId::new(1))
        .map(|r| r.started);
    assert_eq!(started, Some(t1), "the fork's own time, not the step's");
}

#[test]
fn a_crash_loop_of_one_id_never_delays_the_respawn_of_another() {
    let crasher = Behaviour {
        factory_fails: true,
        ..Behaviour::default()
    };
    let mut sim = Sim::new(&[(1, crasher), (2, Behaviour::default())]);
    sim.sup.backoff = sup::backoff::Backoff::new(ms(100), Duration::from_secs(30));
    // The crasher backs off 100, 200, 400, 800 ms, then 1.6 s.
    sim.run(Duration::from_secs(2));
    assert!(
        sim.logged(Level::Info, "respawning it in 1.6s"),
        "{:?}",
        sim.logs
    );
    let pid = sim
        .procs
        .iter()
        .filter(|(_, p)| p.index == 1)
        .map(|(&pid, _)| pid)
        .next_back()
        .expect("a light worker");
    let killed_at = sim.now;
    if let Some(p) = sim.procs.get_mut(&pid) {
        p.die = Some((sim.now, crate::hooks::WorkerExit::Signaled(9)));
    }
    sim.run(ms(50));
    let back = sim
        .procs
        .values()
        .filter(|p| p.index == 1 && p.forked > killed_at)
        .count();
    assert_eq!(
        back, 1,
        "the light worker waited for the crasher's back-off"
    );
}
