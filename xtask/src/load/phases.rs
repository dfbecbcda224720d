//! The phases of `cargo xtask load`, each a wrk run against a real master of the
//! example with something done to it meanwhile, and the claims checked after.
//!
//! Servers: the first (rolling reload) serves the baseline, then the SIGKILLs,
//! then the rolling reloads. The kills come before the reloads on purpose: the
//! master's fork limiter (cotyledon's, kept on in the example) pauses forking
//! for 5 s after more forks than workers within as many seconds, and the last
//! reload's forks would still count when the first kills respawn. The baseline's
//! 20 s let the start-up forks age out. The all-at-once contrast, the slow boots
//! (rolling, then all-at-once for contrast), the SIGTERM phase
//! (`phases/sigterm.rs`) and the recycling phase (`phases/recycle.rs`) each get a
//! server of their own; the overhead comparison (`phases/overhead.rs`) starts
//! one per run, alternately the manager and the single process.

mod overhead;
mod recycle;
mod sigterm;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::procfs;
use super::report::{Phase, latency};
use super::server::{self, Exit, Server, WORKERS};
use super::wrk;

/// How much of each phase to run.
pub(crate) struct Plan {
    pub(crate) baseline_secs: u64,
    /// (seconds, SIGHUPs)
    pub(crate) rolling: (u64, usize),
    /// The all-at-once contrast phases: (seconds, SIGHUPs) of the fast-booting
    /// one (the slow one follows `slow_boot`); `None`: both skipped.
    pub(crate) all_at_once: Option<(u64, usize)>,
    /// (boot delay, reloads)
    pub(crate) slow_boot: (Duration, usize),
    /// (seconds, SIGKILLs)
    pub(crate) kills: (u64, usize),
    /// Load before the SIGTERM.
    pub(crate) sigterm_after: Duration,
    /// Whether the slow boot's p99 is judged (the full run) or only shown
    /// (`--smoke`, which runs next to other tests on a shared machine; its max
    /// latency is still judged against the boot delay, a wide margin).
    pub(crate) judge_latency: bool,
    /// (seconds, `--max-lifetime-ms`, the fewest recycles to see meanwhile)
    pub(crate) recycle: (u64, Duration, usize),
    /// (pairs of runs, seconds each) of the overhead comparison; `None`: not
    /// run (an example without `--single-process`).
    pub(crate) overhead: Option<(usize, u64)>,
    /// Whether the overhead comparison is judged (the full run) or only shown.
    pub(crate) judge_overhead: bool,
}

impl Plan {
    pub(crate) fn new(smoke: bool) -> Plan {
        if smoke {
            return Plan {
                baseline_secs: 1,
                rolling: (2, 2),
                all_at_once: None,
                slow_boot: (Duration::from_millis(500), 1),
                kills: (1, 1),
                sigterm_after: Duration::from_secs(1),
                judge_latency: false,
                recycle: (2, Duration::from_secs(1), 2),
                overhead: Some((1, 1)),
                judge_overhead: false,
            };
        }
        Plan {
            baseline_secs: 20,
            rolling: (20, 20),
            all_at_once: Some((20, 20)),
            slow_boot: (Duration::from_millis(2000), 10),
            kills: (20, 20),
            sigterm_after: Duration::from_secs(5),
            judge_latency: true,
            recycle: (20, Duration::from_secs(3), 4 * WORKERS),
            overhead: Some((10, 3)),
            judge_overhead: true,
        }
    }
}

/// The p99 a rolling reload of slow-booting workers must stay under.
const P99_LIMIT: Duration = Duration::from_millis(100);
/// Steady load before the first and after the last reload of the slow-boot phase.
const STEADY: Duration = Duration::from_secs(1);

/// Runs the phases against the example at `bin`.
pub(crate) struct Runner {
    pub(crate) bin: PathBuf,
    pub(crate) port: u16,
    pub(crate) logs: PathBuf,
    pub(crate) plan: Plan,
}

impl Runner {
    pub(crate) fn run_all(&self) -> Result<Vec<Phase>, String> {
        let mut phases = Vec::new();
        let server = self.server("rolling", &["--reload", "rolling"], Duration::ZERO)?;
        phases.push(self.baseline(&server)?);
        phases.push(self.kills(&server)?);
        let mut rolling = self.reloads(&server, "rolling reload", self.plan.rolling, true)?;
        let status = server.stop()?;
        rolling.check(
            status.success(),
            format!("the master then stopped: {status}"),
        );
        phases.push(rolling);
        if let Some(plan) = self.plan.all_at_once {
            let server =
                self.server("all-at-once", &["--reload", "all-at-once"], Duration::ZERO)?;
            phases.push(self.reloads(&server, "all-at-once reload", plan, false)?);
            server.stop()?;
        }
        phases.push(self.slow_boot(true)?);
        if self.plan.all_at_once.is_some() {
            phases.push(self.slow_boot(false)?);
        }
        phases.push(self.sigterm()?);
        phases.push(self.recycling()?);
        if let Some(plan) = self.plan.overhead {
            phases.extend(self.overhead(plan)?);
        }
        Ok(phases)
    }

    fn server(&self, name: &str, extra: &[&str], boot: Duration) -> Result<Server, String> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let log = self.logs.join(format!("{name}.log"));
        eprintln!("load: starting the {name} server (log: {})", log.display());
        Server::start(&self.bin, self.port, &extra, log, boot)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// wrk for `secs`, calling `event` `n` times, evenly spaced, half a step in.
    fn timed(
        &self,
        secs: u64,
        n: usize,
        mut event: impl FnMut() -> Result<(), String>,
    ) -> Result<wrk::Report, String> {
        let run = wrk::Run::start(&self.url(), secs)?;
        eprintln!("$ {}", run.command);
        let start = Instant::now();
        let step = Duration::from_secs(secs) / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        for i in 0..n {
            let at = start + step * u32::try_from(i).unwrap_or(u32::MAX) + step / 2;
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            event()?;
        }
        Ok(run.finish()?.0)
    }

    fn baseline(&self, server: &Server) -> Result<Phase, String> {
        let secs = self.plan.baseline_secs;
        let report = self.timed(secs, 0, || Ok(()))?;
        let mut phase = Phase::new("baseline", format!("{secs} s"), report);
        phase.check_no_failure();
        server.wait_settled(Duration::from_secs(5))?;
        Ok(phase)
    }

    fn kills(&self, server: &Server) -> Result<Phase, String> {
        let (secs, n) = self.plan.kills;
        let mark = server.mark();
        let (mut victims, mut held) = (Vec::new(), 0);
        let report = self.timed(secs, n, || {
            let victim = server.oldest_worker().ok_or("no worker to kill")?;
            let connections = procfs::connections_held(victim, self.port);
            match server.signal("KILL", victim) {
                Ok(()) => {
                    held += connections;
                    victims.push(victim);
                    Ok(())
                }
                // Gone already (reaped between the look and the kill): not a kill.
                Err(_) if !procfs::exists(victim) => Ok(()),
                Err(e) => Err(e),
            }
        })?;
        let n = victims.len();
        let load = format!("{secs} s, {}", count(n, "SIGKILL"));
        let mut phase = Phase::new("one worker SIGKILLed per second", load, report);
        let r = &phase.report;
        let failures = r.errors.total() + r.non_2xx;
        phase.check(
            failures <= held,
            format!(
                "failed requests ({failures}: socket errors and non-2xx) <= requests in \
                 flight at the kills ({held}: connections the killed workers held, one \
                 request at most each)"
            ),
        );
        let respawned = server.wait_replaced(&victims, Duration::from_secs(30));
        phase.check(
            respawned.is_ok(),
            format!("{} respawned", count(n, "killed worker")),
        );
        note_fork_pauses(&mut phase, &server.lines_since(mark));
        Ok(phase)
    }

    fn reloads(
        &self,
        server: &Server,
        name: &'static str,
        (secs, n): (u64, usize),
        judged: bool,
    ) -> Result<Phase, String> {
        let before = server.workers();
        let mark = server.mark();
        let report = self.timed(secs, n, || server.signal("HUP", server.pid))?;
        let replaced = server.wait_replaced(&before, Duration::from_secs(60));
        let lines = server.lines_since(mark);
        let exits = server::exits(&lines);
        let clean = exits.iter().filter(|(_, e)| *e == Exit::Status(0)).count();
        let mut phase = Phase::new(name, format!("{secs} s, {}", count(n, "SIGHUP")), report);
        let replaced_text = match &replaced {
            Ok(after) => format!("every worker pid replaced: {before:?} -> {after:?}"),
            Err(e) => format!("every worker pid replaced: {e}"),
        };
        let exits_text = format!(
            "every worker exited 0 after draining ({clean} of {} exits)",
            exits.len()
        );
        if judged {
            phase.check_no_failure();
            phase.check(replaced.is_ok(), replaced_text);
            phase.check(clean == exits.len() && !exits.is_empty(), exits_text);
        } else {
            phase.note("not judged: cotyledon's default, shown for contrast");
            phase.note(replaced_text);
            phase.note(exits_text);
        }
        note_fork_pauses(&mut phase, &lines);
        Ok(phase)
    }

    /// Reloads of workers that take `boot` to be ready, each SIGHUP once the
    /// previous reload is done. `rolling`: judged; all-at-once: for contrast.
    fn slow_boot(&self, rolling: bool) -> Result<Phase, String> {
        let (boot, n) = self.plan.slow_boot;
        let ms = boot.as_millis().to_string();
        let (name, mode) = match rolling {
            true => ("slow boot, rolling reload", "rolling"),
            false => ("slow boot, all-at-once reload", "all-at-once"),
        };
        let log = format!("slow-boot-{mode}");
        let server = self.server(&log, &["--boot-delay-ms", &ms, "--reload", mode], boot)?;
        let run = wrk::Run::start(&self.url(), 3600)?;
        eprintln!("$ {} (stopped with SIGINT)", run.command);
        std::thread::sleep(STEADY);
        let (mut took, mut failure) = (Vec::new(), None);
        for _ in 0..n {
            let before = server.workers();
            let start = Instant::now();
            server.signal("HUP", server.pid)?;
            // A reload of WORKERS workers, each one boot after the previous.
            let within = (boot + Duration::from_secs(10)) * WORKERS as u32;
            match server.wait_replaced(&before, within) {
                Ok(_) => took.push(start.elapsed()),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        std::thread::sleep(STEADY);
        run.interrupt()?;
        let report = run.finish()?.0;
        server.stop()?;
        let load = format!(
            "{}, each once the previous reload is done; boot {} ms",
            count(n, "SIGHUP"),
            boot.as_millis()
        );
        let mut phase = Phase::new(name, load, report);
        if rolling {
            phase.check_no_failure();
        } else {
            phase.note("not judged: cotyledon's default, shown for contrast");
        }
        let done = format!("{}/{n} reloads replaced every worker", took.len());
        match failure {
            None => phase.claim(rolling, true, done),
            Some(e) => phase.claim(rolling, false, format!("{done}: {e}")),
        }
        // A request that waited for a boot waited at least the boot delay: with
        // every worker reloading at once, the queue waits for the replacements.
        let max = phase.report.max;
        let max_text = format!(
            "max latency {} < the boot delay ({} ms): no request waited for a boot",
            latency(max),
            boot.as_millis()
        );
        phase.claim(rolling, max < boot, max_text);
        let p99 = phase.report.p99;
        let p99_text = format!("p99 {} < {}", latency(p99), latency(P99_LIMIT));
        if self.plan.judge_latency || !rolling {
            phase.claim(rolling, p99 < P99_LIMIT, p99_text);
        } else {
            phase.note(format!("{p99_text}: not judged in --smoke"));
        }
        if let (Some(min), Some(max)) = (took.iter().min(), took.iter().max()) {
            phase.note(format!(
                "a reload took {} to {} ({WORKERS} workers, boot {} ms each)",
                latency(*min),
                latency(*max),
                boot.as_millis(),
            ));
        }
        Ok(phase)
    }
}

fn note_fork_pauses(phase: &mut Phase, lines: &[String]) {
    let pauses = server::fork_pauses(lines);
    if pauses > 0 {
        phase.note(format!(
            "the master paused forking {pauses} times (fork limiter)"
        ));
    }
}

/// `1 SIGHUP`, `20 SIGHUPs`.
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
