//! Random interleavings of SIGHUP, reconfigure, crashes and waits on a
//! simulated world, checked against the supervisor's invariants.

use std::time::Duration;

use super::rolling;
use super::sim::{Behaviour, ms};
use crate::manager::supervisor::Request;
use crate::manager::supervisor::{HookCall, Input};

/// A small deterministic generator (xorshift64*).
pub(super) struct Rng(pub(super) u64);

impl Rng {
    /// A number below `n` (0 for `n` = 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

#[test]
fn random_interleavings_keep_capacity_lose_no_reload_and_end() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let batch = 1 + rng.below(2) as usize;
        let b = Behaviour {
            boot: ms(50 + rng.below(400)),
            reload: (rng.below(2) == 0).then(|| ms(20 + rng.below(300))),
            terminate: ms(5 + rng.below(100)),
            ..Behaviour::default()
        };
        let n = 2 + rng.below(3) as usize;
        let mut sim = rolling(n, batch, b);
        sim.sup.services[0].policy.boot_timeout = Some(Duration::from_secs(2));
        let id = sim.ids[0];
        let mut last_hup = None;
        let mut crashed = false;
        for _ in 0..30 {
            match rng.below(6) {
                0 | 1 => {
                    last_hup = Some(sim.now);
                    sim.step(vec![Input::Hangup]);
                }
                2 => {
                    let count = 1 + rng.below(4) as usize;
                    sim.on_hooks = Box::new(move |call, sup| match call {
                        HookCall::Reload => (
                            Ok(()),
                            vec![Request::Reconfigure(
                                sup.table.index_of(id).expect("known"),
                                count,
                            )],
                        ),
                        _ => (Ok(()), Vec::new()),
                    });
                    last_hup = Some(sim.now);
                    sim.step(vec![Input::Hangup]);
                    sim.on_hooks = Box::new(|_, _| (Ok(()), Vec::new()));
                }
                3 => {
                    // A crash of any worker.
                    let pids: Vec<i32> = sim.procs.keys().copied().collect();
                    if !pids.is_empty() {
                        let pid = pids[rng.below(pids.len() as u64) as usize];
                        if let Some(p) = sim.procs.get_mut(&pid) {
                            p.die = Some((sim.now, crate::hooks::WorkerExit::Signaled(11)));
                            crashed = true;
                        }
                    }
                }
                _ => {}
            }
            let wait = ms(rng.below(400));
            sim.run_for(wait, ms(5), |s| {
                for plan in &s.sup.plans {
                    let rollout_batch = plan.rollout.map_or(1, |r| r.batch);
                    assert!(
                        plan.steps().count() <= rollout_batch.max(1),
                        "seed {seed}: steps over the batch"
                    );
                }
                if !crashed {
                    let desired = s.sup.table.service(0).desired;
                    let out = desired.saturating_sub(s.serving(0));
                    let booting = s
                        .procs
                        .values()
                        .filter(|p| !p.ready && p.forked > s.t0 + ms(1))
                        .count();
                    // Planned steps only: ids scaled up are booting, not out.
                    assert!(
                        out <= batch + booting,
                        "seed {seed}: {out} out of service at {:?}",
                        s.at()
                    );
                }
            });
            crashed = false;
        }
        // Quiet: everything settles, and every worker runs code newer than the
        // last SIGHUP.
        sim.run(Duration::from_secs(10));
        assert!(
            sim.sup.plans.iter().all(|p| p.rollout.is_none()),
            "seed {seed}: rollout left"
        );
        let desired = sim.sup.table.service(0).desired;
        assert_eq!(sim.serving(0), desired, "seed {seed}");
        if let Some(t) = last_hup {
            for p in sim.procs.values() {
                let code = p.reloaded_from.map_or(p.forked, |r| r.max(p.forked));
                assert!(
                    code >= t,
                    "seed {seed}: a worker runs code from before the last SIGHUP"
                );
            }
        }
    }
}
