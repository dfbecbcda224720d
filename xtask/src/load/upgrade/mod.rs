//! `cargo xtask load --phase upgrade`: binary upgrades (SIGUSR2) of the HTTP
//! example under wrk, between two builds told apart by the version in their
//! responses (`deploy.rs`). Three kinds of phases, each under load (the usual
//! wrk run and one that opens a connection per request, `load.rs`) against a
//! master started from the deploy path with 4 workers:
//!
//! - *binary upgrades*: 10 upgrades in 20 s, alternating b, a, b...: each
//!   installs the other build at the deploy path (a rename), sends SIGUSR2 to
//!   the master that serves, waits for its hand-over line, then checks that the
//!   master pid changed, that the old master and its workers are gone (a zombie
//!   counts as gone), that they all exited 0 after draining, that the process
//!   group holds the new generation only, and that a new connection is answered
//!   by the new build (`generation.rs`);
//! - the same with workers that take 2 s to be ready (`--boot-delay-ms 2000`),
//!   each upgrade once the previous is done: the p99 must stay under 100 ms,
//!   since the old workers serve until the new ones are all ready;
//! - each way an attempt can fail, under load (`failures.rs`): the old master
//!   must go on serving with all its workers and its socket as it was, log the
//!   ERROR that says why, and keep nothing of the attempt; then an upgrade
//!   after the last failed one succeeds.
//!
//! Every phase must fail no request: 0 socket errors, 0 non-2xx. `--smoke`
//! (which the functional suite runs) does 3 upgrades in 3 s and 2 with 500 ms
//! boots, with shorter steady spells, and shows the p99 without judging it;
//! the full run takes about a minute and a half.

mod deploy;
mod failures;
mod generation;
mod load;
pub(crate) mod section;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Example;
use super::report::{Phase, latency};
use super::server::{Server, WORKERS};
use crate::bench::procfs::group_members;
use deploy::{Deploy, VERSIONS};
use generation::{Generation, Upgraded, upgrade, version_of};
use load::Load;

/// How much to run.
pub(crate) struct Plan {
    /// (seconds of load, upgrades) of the first phase.
    upgrades: (u64, usize),
    /// (boot delay, upgrades) of the slow-boot phase.
    slow_boot: (Duration, usize),
    /// Whether the slow boot's p99 is judged (the full run) or only shown.
    judge_latency: bool,
    /// Steady load before the first and after the last event of a phase
    /// stopped with SIGINT.
    steady: Duration,
}

impl Plan {
    pub(crate) fn new(smoke: bool) -> Plan {
        if smoke {
            return Plan {
                upgrades: (3, 3),
                slow_boot: (Duration::from_millis(500), 2),
                judge_latency: false,
                steady: Duration::from_millis(300),
            };
        }
        Plan {
            upgrades: (20, 10),
            slow_boot: (Duration::from_secs(2), 10),
            judge_latency: true,
            steady: Duration::from_secs(1),
        }
    }
}

/// The p99 the slow-boot upgrades must stay under.
const P99_LIMIT: Duration = Duration::from_millis(100);
/// The most an upgrade of fast-booting workers may take, and the wait for a
/// stop: never reached by a correct run.
const WITHIN: Duration = Duration::from_secs(15);

/// Runs the upgrade phases against `example`.
pub(crate) struct Upgrades {
    deploy: Deploy,
    port: u16,
    logs: PathBuf,
    plan: Plan,
}

/// Builds the example twice, then runs every phase.
pub(crate) fn phases(
    example: Example,
    port: u16,
    logs: PathBuf,
    smoke: bool,
) -> Result<Vec<Phase>, String> {
    let deploy = Deploy::build(example)?;
    let runner = Upgrades {
        deploy,
        port,
        logs,
        plan: Plan::new(smoke),
    };
    let mut phases = vec![runner.upgrades()?, runner.slow_boot()?];
    phases.extend(runner.failures()?);
    Ok(phases)
}

/// A master started from the deploy path, and every process of its group
/// SIGKILLed when dropped (the group outlives the master the task started).
struct Started {
    server: Server,
    first: Generation,
}

impl Drop for Started {
    fn drop(&mut self) {
        if !group_members(self.server.pid).is_empty() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.server.pid)])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// What a series of upgrades showed.
#[derive(Default)]
struct Series {
    done: Vec<Upgraded>,
    /// The masters, the first included.
    masters: Vec<u32>,
    /// Why the series stopped early.
    failure: Option<String>,
}

impl Series {
    /// The master that serves at the end.
    fn last(&self) -> u32 {
        self.masters.last().copied().unwrap_or_default()
    }
}

impl Upgrades {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Installs build a, starts it from the deploy path with `extra`, and waits
    /// until its workers serve (`boot`: how long one takes).
    fn start(&self, name: &str, extra: &[String], boot: Duration) -> Result<Started, String> {
        self.deploy.install(VERSIONS[0])?;
        let log = self.logs.join(format!("{name}.log"));
        eprintln!("load: starting the {name} server (log: {})", log.display());
        let mut cmd = Command::new(&self.deploy.current);
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--workers", &WORKERS.to_string()])
            .args(extra)
            // The run-time variable would outlive every upgrade.
            .env_remove("HTTP_SERVER_VERSION");
        let server = Server::spawn_command(cmd, log)?;
        let pid = server.pid;
        let mut started = Started {
            server,
            first: Generation {
                master: pid,
                workers: Vec::new(),
            },
        };
        started.first = Generation::settled(&started.server, pid, boot + WITHIN)?;
        let answer = generation::ask(self.port)?;
        if version_of(&answer) != Some(VERSIONS[0]) {
            return Err(format!("build a answered {answer:?}"));
        }
        Ok(started)
    }

    /// Upgrade `i` (from 0) of a series: installs the other build, then
    /// [`upgrade`]s; the new build must answer.
    fn one(
        &self,
        s: &Started,
        from: &Generation,
        i: usize,
        within: Duration,
    ) -> Result<Upgraded, String> {
        let want = VERSIONS[(i + 1) % 2];
        self.deploy.install(want)?;
        let done = upgrade(&s.server, from, self.port, within)?;
        match version_of(&done.answer) {
            Some(v) if v == want => Ok(done),
            _ => Err(format!(
                "upgrade {}: build {want} installed, but {:?} answered",
                i + 1,
                done.answer
            )),
        }
    }

    /// `n` upgrades, upgrade `i` at `at(i)` (`None`: once the previous is done).
    fn series(
        &self,
        s: &Started,
        n: usize,
        within: Duration,
        at: impl Fn(usize) -> Option<Instant>,
    ) -> Series {
        let mut series = Series {
            masters: vec![s.first.master],
            ..Series::default()
        };
        let mut current = s.first.clone();
        for i in 0..n {
            if let Some(at) = at(i) {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
            }
            match self.one(s, &current, i, within) {
                Ok(done) => {
                    current = done.new.clone();
                    series.masters.push(current.master);
                    series.done.push(done);
                }
                Err(e) => {
                    series.failure = Some(e);
                    break;
                }
            }
        }
        series
    }

    /// SIGTERM to the master that serves now; waits until every process of the
    /// group is gone and the log pipe is closed.
    fn stop(&self, mut s: Started, master: u32, phase: &mut Phase) -> Result<(), String> {
        s.server.signal("TERM", master)?;
        // The first master's status, once no process holds the log pipe.
        let first = s.server.wait_exit(Duration::from_secs(30));
        // A process closes its files a moment before it becomes a zombie.
        let left = generation::wait_group(s.server.pid, &[], WITHIN);
        let why = match (&first, &left) {
            (Ok(_), Ok(())) => String::new(),
            (Err(e), _) | (_, Err(e)) => format!(": {e}"),
        };
        phase.check(
            first.is_ok() && left.is_ok(),
            format!(
                "the last master [{master}] then stopped on SIGTERM, and no process of \
                 any generation is left{why}"
            ),
        );
        let shown = first
            .as_ref()
            .map_or_else(Clone::clone, |st| st.to_string());
        phase.check(
            first.is_ok_and(|st| st.success()),
            format!("the first master [{}] exited 0 ({shown})", s.server.pid),
        );
        Ok(())
    }

    /// 10 upgrades in 20 s under wrk, evenly spaced, half a step in.
    fn upgrades(&self) -> Result<Phase, String> {
        let (secs, n) = self.plan.upgrades;
        let s = self.start("upgrade", &[], Duration::ZERO)?;
        let run = Load::start(&self.url(), secs)?;
        let start = Instant::now();
        let step = Duration::from_secs(secs) / u32::try_from(n).unwrap_or(1).max(1);
        let at = |i: usize| Some(start + step * u32::try_from(i).unwrap_or(0) + step / 2);
        let series = self.series(&s, n, WITHIN, at);
        let load = format!("{secs} s, {n} SIGUSR2s, builds b, a, b...");
        let mut phase = run.finish("binary upgrades", load)?;
        judge(&mut phase, &series, n);
        self.stop(s, series.last(), &mut phase)?;
        Ok(phase)
    }

    /// Upgrades of workers that take `boot` to be ready, each once the
    /// previous is done.
    fn slow_boot(&self) -> Result<Phase, String> {
        let (boot, n) = self.plan.slow_boot;
        let extra = ["--boot-delay-ms".to_owned(), boot.as_millis().to_string()];
        let s = self.start("upgrade-slow-boot", &extra, boot)?;
        let run = Load::start(&self.url(), 3600)?;
        std::thread::sleep(self.plan.steady);
        let series = self.series(&s, n, boot + WITHIN, |_| None);
        std::thread::sleep(self.plan.steady);
        run.interrupt()?;
        let load = format!(
            "{n} SIGUSR2s, each once the previous is done; boot {} ms",
            boot.as_millis()
        );
        let mut phase = run.finish("binary upgrades, slow boot", load)?;
        judge(&mut phase, &series, n);
        let p99 = phase.report.p99;
        let text = format!("p99 {} < {}", latency(p99), latency(P99_LIMIT));
        phase.claim(self.plan.judge_latency, p99 < P99_LIMIT, text);
        let max = phase.report.max;
        phase.check(
            max < boot,
            format!(
                "max latency {} < the boot delay ({} ms): no request waited for a boot",
                latency(max),
                boot.as_millis()
            ),
        );
        self.stop(s, series.last(), &mut phase)?;
        Ok(phase)
    }
}

/// The checks of a series of `n` upgrades.
fn judge(phase: &mut Phase, series: &Series, n: usize) {
    let done = series.done.len();
    let versions: Vec<&str> = series
        .done
        .iter()
        .filter_map(|u| version_of(&u.answer))
        .collect();
    let why = series
        .failure
        .as_ref()
        .map(|e| format!("; stopped: {e}"))
        .unwrap_or_default();
    phase.check(
        done == n,
        format!(
            "{done}/{n} upgrades handed over; after each, the old master and its \
             {WORKERS} workers were gone and a new connection was answered by the new \
             build: {}{why}",
            versions.join(", ")
        ),
    );
    let masters: Vec<String> = series.masters.iter().map(u32::to_string).collect();
    let mut distinct = series.masters.clone();
    distinct.sort_unstable();
    distinct.dedup();
    phase.check(
        distinct.len() == series.masters.len(),
        format!("the master pid changed each time: {}", masters.join(" -> ")),
    );
    let unclean: Vec<u32> = series
        .done
        .iter()
        .flat_map(|u| u.unclean.iter().copied())
        .collect();
    let not = match unclean.is_empty() {
        true => String::new(),
        false => format!("; not: {unclean:?}"),
    };
    phase.check(
        unclean.is_empty(),
        format!(
            "every old worker drained and exited 0 ({} of {}{not})",
            done * WORKERS - unclean.len(),
            done * WORKERS
        ),
    );
    let took: Vec<Duration> = series.done.iter().map(|u| u.took).collect();
    let range = match (took.iter().min(), took.iter().max()) {
        (Some(min), Some(max)) if min == max => latency(*min),
        (Some(min), Some(max)) => format!("{} to {}", latency(*min), latency(*max)),
        _ => return,
    };
    phase.note(format!(
        "an upgrade took {range} (SIGUSR2 to the old master's hand-over line)"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_plan_is_the_issues_and_the_smoke_is_short() {
        let full = Plan::new(false);
        assert_eq!(full.upgrades, (20, 10));
        assert_eq!(full.slow_boot, (Duration::from_secs(2), 10));
        assert!(full.judge_latency);
        let smoke = Plan::new(true);
        assert!(smoke.upgrades.0 <= 3 && !smoke.judge_latency);
    }
}
