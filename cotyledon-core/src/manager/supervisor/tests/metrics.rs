//! The counters and the status snapshot on the simulated world: each event
//! moves its counter once, where the supervisor decides it.

use std::time::Duration;

use super::super::metrics::{ExitWhy, RecycleCause};
use super::super::snapshot::MasterPhase;
use super::super::{Input, Request};
use super::sim::{Behaviour, Sim, ms};
use crate::hooks::WorkerExit;
use crate::ids::WorkerId;
use crate::manager::policy::Reload;

#[test]
fn crash_watchdog_recycle_rollout_and_control_each_move_their_counter() {
    let b = Behaviour {
        boot: ms(50),
        ..Behaviour::default()
    };
    let mut sim = Sim::new(&[(2, b), (1, b)]);
    sim.sup.services[0].policy.reload = Reload::Rolling { batch: 1 };
    sim.sup.services[0].policy.heartbeat_timeout = Some(ms(500));
    assert_eq!(sim.sup.snapshot(sim.now).phase, MasterPhase::Starting);
    sim.run(ms(200));
    let m = sim.sup.metrics().clone();
    assert_eq!(m.services[0].starts, 2);
    assert_eq!(m.services[1].starts, 1);
    assert_eq!(sim.sup.snapshot(sim.now).phase, MasterPhase::Running);

    // A crash of web(0): one crash, one more start, one restart of id 0.
    let pid = sim.sup.table.get(0, WorkerId::new(0)).expect("runs").pid;
    sim.procs.remove(&pid);
    sim.step(vec![Input::Reaped(pid, WorkerExit::Signaled(9))]);
    sim.run(ms(200));
    let s = &sim.sup.metrics().services[0];
    assert_eq!(s.exits_for(ExitWhy::Crash), 1);
    assert_eq!(s.starts, 3);
    let snap = sim.sup.snapshot(sim.now);
    let w0 = &snap.services[0].workers[0];
    assert_eq!((w0.restarts, w0.state), (1, "ready"));
    let (last, _) = w0.last_exit.expect("its crash");
    assert_eq!(
        (last.why, last.exit),
        (ExitWhy::Crash, WorkerExit::Signaled(9))
    );
    assert!(w0.beat_age.is_some(), "a watched service shows beats");
    assert!(snap.services[1].workers[0].beat_age.is_none());

    // web(1) hangs: one watchdog abort, its exit counted as watchdog.
    let pid = sim.sup.table.get(0, WorkerId::new(1)).expect("runs").pid;
    sim.procs.get_mut(&pid).expect("runs").hung = true;
    sim.run(Duration::from_secs(1));
    let s = &sim.sup.metrics().services[0];
    assert_eq!(s.watchdog_aborts, 1);
    assert_eq!(s.exits_for(ExitWhy::Watchdog), 1);

    // A rolling reload: one reload, one rollout done, in the histogram; the
    // two workers' exits counted as rollout steps.
    sim.step(vec![Input::Hangup]);
    assert_eq!(sim.sup.snapshot(sim.now).phase, MasterPhase::Reloading);
    sim.run(Duration::from_secs(2));
    let m = sim.sup.metrics();
    assert_eq!(m.reloads, 1);
    let s = &m.services[0];
    assert_eq!((s.rollouts_done, s.rollouts_stopped), (1, 0));
    assert_eq!(s.rollout_seconds.count, 1);
    assert_eq!(s.exits_for(ExitWhy::Rollout), 2);
    assert_eq!(sim.sup.snapshot(sim.now).phase, MasterPhase::Running);

    // A recycle on a lifetime.
    sim.sup.services[1].policy.max_lifetime = Some(ms(100));
    sim.step(Vec::new());
    sim.run(ms(500));
    let s = &sim.sup.metrics().services[1];
    assert!(s.recycles_for(RecycleCause::Lifetime) >= 1);
    assert_eq!(s.recycles_for(RecycleCause::Rss), 0);
    assert!(s.exits_for(ExitWhy::Recycle) >= 1);
    sim.sup.services[1].policy.max_lifetime = None;

    // A control command: scale web to 3, then restart web(2) and stop it.
    sim.step(vec![Input::Control(vec![Request::Reconfigure(0, 3)])]);
    sim.run(ms(200));
    assert_eq!(sim.serving(0), 3);
    sim.step(vec![Input::Control(vec![Request::Stop(
        0,
        WorkerId::new(2),
    )])]);
    sim.run(ms(200));
    let s = &sim.sup.metrics().services[0];
    assert_eq!(s.exits_for(ExitWhy::Stop), 1);
    let snap = sim.sup.snapshot(sim.now);
    assert_eq!(snap.services[0].workers[2].state, "held");
    assert_eq!(s.exits_for(ExitWhy::Crash), 1, "nothing counted twice");
}

#[test]
fn a_stuck_rollout_is_counted_stopped_and_a_control_command_is_ignored_while_stopping() {
    let b = Behaviour {
        boot: ms(50),
        reload: Some(Duration::MAX),
        ..Behaviour::default()
    };
    let mut sim = Sim::new(&[(1, b)]);
    sim.sup.services[0].policy.reload = Reload::Rolling { batch: 1 };
    sim.sup.services[0].policy.boot_timeout = Some(ms(300));
    sim.run(ms(200));
    sim.step(vec![Input::Hangup]);
    sim.run(Duration::from_secs(1));
    let s = &sim.sup.metrics().services[0];
    assert_eq!((s.rollouts_done, s.rollouts_stopped), (0, 1));
    assert_eq!(s.rollout_seconds.count, 0);
    assert!(sim.sup.snapshot(sim.now).trouble.is_some());
    sim.step(vec![Input::Terminate]);
    sim.step(vec![Input::Control(vec![Request::Reconfigure(0, 3)])]);
    assert_eq!(sim.sup.table.service(0).desired, 1);
    sim.run(Duration::from_secs(1));
    assert_eq!(sim.exited, Some(0));
}
