//! SIGHUP and rollouts: the reload's stages (RELOADING=1, configuration,
//! reload hooks, rollouts), and driving every service's plan each turn (steps
//! started, done, stuck). The plans' decisions are in `rollout.rs`.

use std::time::Instant;

use log::Level;
use nix::sys::signal::Signal;

use super::rollout::{StepWhy, Stuck};
use super::vocabulary::{Action, HookCall, Phase, Then};
use super::{Life, Out, StopWhy, Supervisor};
use crate::manager::policy::Reload;

impl Supervisor {
    /// SIGHUP: RELOADING=1, then the configuration, the reload hooks, and the
    /// rollouts (after each hook run, see [`Then`]).
    pub(super) fn begin_reload(&mut self, now: Instant, out: &mut Out) {
        if self.phase != Phase::Running {
            return;
        }
        out.log(Level::Debug, "Caught SIGHUP signal, reloading services");
        self.metrics.reloads += 1;
        self.trouble = None;
        out.notify(self.protocol.reloading(self.mono_us));
        self.then = Some(Then::ReloadHooks { at: now });
        out.actions.push(Action::RunHooks(HookCall::Config));
    }

    /// After the reload hooks: the fork history and back-offs are forgotten,
    /// workers scaled away are stopped, and every service gets a rollout (or
    /// the one under way takes the new target).
    pub(super) fn reload_services(&mut self, at: Instant, now: Instant, out: &mut Out) {
        self.pacing.reset();
        self.backoff.reset();
        self.stop_excess(now, out);
        for index in 0..self.services.len() {
            let batch = match self.services[index].policy.reload {
                Reload::Rolling { batch } => batch,
                _ => usize::MAX,
            };
            self.start_rollout(index, false, batch, at, out);
        }
    }

    /// Starts a rollout of service `index`, or folds into its rollout under way.
    pub(super) fn start_rollout(
        &mut self,
        index: usize,
        restart: bool,
        batch: usize,
        at: Instant,
        out: &mut Out,
    ) {
        let was_quiet = self.plans[index].rollout.is_none_or(|r| r.quiet());
        let fresh = self.plans[index].target(restart, batch, at);
        let name = self.services[index].name;
        let Some(rollout) = self.plans[index].rollout else {
            return;
        };
        if rollout.quiet() {
            return;
        }
        let workers = self.table.service(index).running().count();
        let what = rollout.what();
        if fresh || was_quiet {
            out.log(
                Level::Info,
                format!(
                    "Rolling {what} of {name}: {workers} workers, {} at a time",
                    rollout.batch
                ),
            );
        } else if rollout.began < at {
            out.log(
                Level::Info,
                format!(
                    "Rolling {what} of {name}: folded into the rollout under way, \
                     {} at a time, until every worker runs code started after now",
                    rollout.batch
                ),
            );
        }
    }

    /// Advances every service's plan: steps done, steps stuck, new steps.
    pub(super) fn advance_plans(&mut self, now: Instant, out: &mut Out) {
        for index in 0..self.services.len() {
            let boot_timeout = self.services[index].policy.boot_timeout;
            let step = self.plans[index].advance(self.table.service(index), boot_timeout, now);
            out.wake_at(step.deadline);
            let name = self.services[index].name;
            for (worker, pid, why) in step.start {
                let life = match why {
                    StepWhy::Reload => Life::Reloading { since: now },
                    StepWhy::Restart | StepWhy::Recycle => Life::Stopping {
                        why: StopWhy::Rollout,
                        since: now,
                    },
                };
                self.table.set_life(index, worker, life, now);
                let signal = if why == StepWhy::Reload {
                    Signal::SIGHUP
                } else {
                    Signal::SIGTERM
                };
                out.signal(pid, signal);
            }
            if let Some(done) = step.done {
                let took = now.saturating_duration_since(done.began);
                self.metrics.rollout_ended(index, Some(took));
            }
            if let Some(done) = step.done
                && !done.quiet()
            {
                out.log(
                    Level::Info,
                    format!("Rolling {} of {name} done", done.what()),
                );
            }
            if let Some((stuck, rollout)) = step.stuck {
                let limit = boot_timeout.unwrap_or_default();
                let what = rollout.map_or("recycle", |r| r.what());
                let (worker, reason) = match stuck {
                    Stuck::Reload { worker, .. } => {
                        (worker, format!("reload() did not return within {limit:?}"))
                    }
                    Stuck::NotReady { worker } => (worker, format!("not ready after {limit:?}")),
                };
                let msg = if what == "recycle" {
                    format!("Recycle of worker {name}({worker}) stuck: {reason}")
                } else {
                    format!("Rolling {what} of {name} stopped: worker {name}({worker}) {reason}")
                };
                out.log(Level::Error, msg.clone());
                if rollout.is_some() {
                    self.trouble = Some(msg);
                    self.metrics.rollout_ended(index, None);
                }
                if let Stuck::Reload { worker, .. } = stuck {
                    self.ask_to_stop(index, worker, StopWhy::StuckReload, now, out);
                }
            }
        }
    }
}
