//! The chaos run itself: start `chaos_app`, wait for every worker, alternate
//! disturbance periods and settle windows while sampling /proc, then SIGTERM the
//! master and check its exit and what is left.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::check::{self, Zombies};
use super::disturb::{Disturber, Done, write_scale};
use super::ledger::{self, Group};
use super::logs::LogTracker;
use super::procfs::{self, Proc, SERVICES};
use super::rng::Rng;
use super::{Config, Latency, Report};
use cotyledon_testing::Scenario;

/// Sampling period while disturbing, and in settle windows.
const SAMPLE_DISTURBING: Duration = Duration::from_millis(30);
const SAMPLE_SETTLING: Duration = Duration::from_millis(20);
/// Gap between two disturbances: random in this range, in ms.
const ACTION_GAP_MS: (u64, u64) = (2, 20);
/// How long the first workers may take to start, and the master to exit.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);
/// Share of the run before the fd and RSS baseline is taken.
const WARM_UP: f64 = 0.2;
/// Log lines quoted as evidence.
const EVIDENCE: usize = 25;

struct Run<'a> {
    config: &'a Config,
    s: Scenario,
    master: i32,
    dist: Disturber,
    logs: LogTracker,
    log_cursor: usize,
    zombies: Zombies,
    dup_seen: HashSet<Vec<(i32, u64)>>,
    report: Report,
    started: Instant,
    /// The final SIGTERM to the master, once sent.
    term_groups: Vec<Group>,
}

pub(super) fn run(config: &Config) -> Report {
    let seed = config.seed.unwrap_or_else(Rng::seed_from_clock);
    let (lo, hi) = config.per_service();
    let mut report = Report {
        seed,
        workers: config.workers,
        per_service: (lo, hi),
        hup_burst: config.hup_burst,
        recovery_limit: config.recovery_limit,
        fd_allowed: config.fd_allowed,
        rss_allowed_kib: config.rss_allowed_kib,
        zombie_limit: config.zombie_limit,
        recovery_p99_allowed: config.recovery_p99_allowed,
        signal_deadline: config.signal_deadline,
        ..Report::default()
    };
    let dir = std::env::temp_dir().join(format!(
        "cotyledon-chaos-{}-{seed:016x}",
        std::process::id()
    ));
    let scale: PathBuf = dir.join("scale");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        report.startup_error = Some(format!("cannot create {}: {e}", dir.display()));
        return report;
    }
    let bin = std::fs::canonicalize(&config.scenarios_bin)
        .unwrap_or_else(|_| config.scenarios_bin.clone());
    // The scale file holds the initial counts before the manager starts.
    if let Err(e) = write_scale(&scale, &[hi; 3]) {
        report.startup_error = Some(format!("cannot write {}: {e}", scale.display()));
        return report;
    }
    let s = Scenario::builder(&bin, "chaos_app")
        .env("SCENARIO_WORKERS", hi.to_string())
        .env("SCENARIO_SCALE_FILE", &scale)
        .spawn();
    let master = s.pid();
    let mut r = Run {
        config,
        s,
        master,
        dist: Disturber::new(Rng::new(seed), master, &scale, (lo, hi), config.hup_burst),
        logs: LogTracker::new([hi; 3]),
        log_cursor: 0,
        zombies: Zombies::default(),
        dup_seen: HashSet::new(),
        report,
        started: Instant::now(),
        term_groups: Vec::new(),
    };
    if r.start() && r.chaos() {
        r.shutdown();
    } else if !procfs::alive(master) {
        r.reap_dead_master();
    }
    r.finish();
    let _ = std::fs::remove_dir_all(&dir);
    r.report
}

impl Run<'_> {
    /// Reads the log lines that arrived, without waiting.
    fn drain_logs(&mut self) {
        while self.s.wait_for(|_| true, Duration::ZERO).is_ok() {}
        let new = self.log_cursor..self.s.lines().len();
        for (line, &at) in self.s.lines()[new.clone()]
            .iter()
            .zip(&self.s.line_times()[new])
        {
            self.logs.line(at, line);
        }
        self.log_cursor = self.s.lines().len();
    }

    /// One sample: the master's liveness, its children, the per-sample checks.
    /// `None` once the master is dead.
    fn sample(&mut self) -> Option<Vec<Proc>> {
        self.drain_logs();
        if !procfs::alive(self.master) {
            if self.report.master_died.is_none() {
                self.drain_logs();
                self.report.master_died = Some(format!(
                    "after {} ms; last lines:\n    {}",
                    self.started.elapsed().as_millis(),
                    self.logs.tail(EVIDENCE)
                ));
            }
            return None;
        }
        let children = procfs::children(self.master);
        let now = Instant::now();
        self.report.samples += 1;
        for dup in check::duplicates(&children, self.master) {
            if self.dup_seen.insert(dup.procs.clone()) {
                let pids: Vec<i32> = dup.procs.iter().map(|p| p.0).collect();
                self.report.duplicates.push(format!(
                    "/proc: {}({}) has {} live processes {pids:?} at {} ms; last lines:\n    {}",
                    SERVICES[dup.service],
                    dup.id,
                    pids.len(),
                    self.started.elapsed().as_millis(),
                    self.logs.tail(EVIDENCE)
                ));
            }
        }
        self.zombies
            .observe(&children, now, self.config.zombie_limit);
        Some(children)
    }

    /// Waits until every initial worker runs. `false` if they never do.
    fn start(&mut self) -> bool {
        let deadline = self.started + STARTUP_LIMIT;
        let mut why = String::new();
        while Instant::now() < deadline {
            let Some(children) = self.sample() else {
                self.report.startup_error = self.report.master_died.take();
                return false;
            };
            match check::settled(&children, &self.dist.desired) {
                Ok(()) => {
                    self.report.startup = self.started.elapsed();
                    return true;
                }
                Err(e) => why = e,
            }
            std::thread::sleep(SAMPLE_SETTLING);
        }
        self.report.startup_error = Some(format!(
            "workers not all running after {STARTUP_LIMIT:?}: {why}"
        ));
        false
    }

    /// Disturbance periods and settle windows until the configured duration is
    /// used up. `false` if the master died.
    fn chaos(&mut self) -> bool {
        let begin = Instant::now();
        let end = begin + self.config.duration;
        let warm_up = begin + self.config.duration.mul_f64(WARM_UP);
        loop {
            let now = Instant::now();
            let left = end.saturating_duration_since(now);
            let Some(room) = left.checked_sub(self.config.settle_window) else {
                break;
            };
            let period = room.min(self.config.disturb_period);
            if period < Duration::from_millis(100) && self.report.windows > 0 {
                break;
            }
            if !self.disturb(now + period) || !self.settle() {
                return false;
            }
            let (fds, rss) = (procfs::fd_count(self.master), procfs::rss_kib(self.master));
            if self.report.fd_start.is_none() && Instant::now() >= warm_up {
                (self.report.fd_start, self.report.rss_start_kib) = (fds, rss);
            }
            (self.report.fd_end, self.report.rss_end_kib) = (fds, rss);
        }
        self.report.elapsed = begin.elapsed();
        if self.report.fd_start.is_none() {
            self.report.fd_start = self.report.fd_end;
            self.report.rss_start_kib = self.report.rss_end_kib;
        }
        true
    }

    /// Disturbs until `until`. `false` if the master died.
    fn disturb(&mut self, until: Instant) -> bool {
        let mut next_sample = Instant::now();
        let mut next_action = next_sample;
        let mut workers: Vec<Proc> = Vec::new();
        loop {
            let now = Instant::now();
            if now >= until {
                return true;
            }
            if now >= next_sample {
                let Some(children) = self.sample() else {
                    return false;
                };
                workers = children
                    .into_iter()
                    .filter(|p| p.worker().is_some())
                    .collect();
                next_sample = now + SAMPLE_DISTURBING;
            }
            if now >= next_action {
                self.dist.act(&mut workers, now);
                for done in self.dist.done.drain(..) {
                    match done {
                        Done::Desired(at, counts) => self.logs.recovery.desire(at, counts),
                        Done::Killed(pid, at) => self.logs.recovery.killed(pid, at),
                    }
                }
                let gap = self.dist.rng.between(ACTION_GAP_MS.0, ACTION_GAP_MS.1);
                next_action = Instant::now() + Duration::from_millis(gap);
            }
            self.dist.cont_due(Some(now));
            let wake = [
                Some(next_sample),
                Some(next_action),
                Some(until),
                self.dist.next_cont(),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(until);
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
    }

    /// One settle window. `false` if the master died.
    fn settle(&mut self) -> bool {
        self.dist.cont_due(None);
        let start = Instant::now();
        let end = start + self.config.settle_window;
        let mut good_since: Option<Instant> = None;
        let mut why = String::new();
        loop {
            let Some(children) = self.sample() else {
                return false;
            };
            let now = Instant::now();
            match check::settled(&children, &self.dist.desired) {
                Ok(()) => {
                    good_since.get_or_insert(now);
                }
                Err(e) => {
                    good_since = None;
                    why = e;
                }
            }
            if now >= end {
                break;
            }
            std::thread::sleep(SAMPLE_SETTLING.min(end - now));
        }
        self.report.windows += 1;
        let n = self.report.windows;
        let desired = self.dist.desired;
        let recovery = good_since.map(|t| t - start);
        if let Some(rec) = recovery {
            self.report.max_recovery = self.report.max_recovery.max(rec);
        }
        match recovery {
            Some(rec) if rec <= self.config.recovery_limit => self.report.windows_settled += 1,
            _ => {
                let what = match recovery {
                    Some(rec) => format!("settled only after {} ms", rec.as_millis()),
                    None => format!("not settled at the end ({why})"),
                };
                self.drain_logs();
                self.report.violations.push(format!(
                    "settle window {n} (at {} ms, desired {desired:?}): {what}; last lines:\n    {}",
                    (start - self.started).as_millis(),
                    self.logs.tail(EVIDENCE)
                ));
            }
        }
        if self.config.progress {
            let rec =
                recovery.map_or_else(|| "never".to_owned(), |r| format!("{} ms", r.as_millis()));
            eprintln!(
                "chaos: window {n} at {:.1} s, desired {desired:?}: recovered in {rec}",
                (start - self.started).as_secs_f64()
            );
        }
        true
    }

    /// SIGTERM to the master; waits for its exit 0 and for its group to be gone.
    fn shutdown(&mut self) {
        self.dist.cont_due(None);
        // From now on no death is waited for.
        self.logs.recovery.desire(Instant::now(), [0; 3]);
        let sent_at = Instant::now();
        if kill(Pid::from_raw(self.master), Signal::SIGTERM).is_ok() {
            self.term_groups.push(Group { sent_at, count: 1 });
        }
        let deadline = Instant::now() + SHUTDOWN_LIMIT;
        while procfs::alive(self.master) {
            self.drain_logs();
            if Instant::now() >= deadline {
                self.report.shutdown_error = Some(format!(
                    "master still running {SHUTDOWN_LIMIT:?} after SIGTERM; last lines:\n    {}",
                    self.logs.tail(EVIDENCE)
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.reap_dead_master();
    }

    /// The dead master's exit code, then the group's leftovers.
    fn reap_dead_master(&mut self) {
        let output = self.s.wait_exit(Duration::from_secs(10));
        self.report.exit_code = Some(Scenario::code_of(output.status));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.s.group_is_gone() {
            if Instant::now() >= deadline {
                self.report.left_over = procfs::group_members(self.master);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Copies the counts into the report.
    fn finish(&mut self) {
        self.drain_logs();
        let c = &self.dist.counts;
        let r = &mut self.report;
        (r.sigkill, r.sigterm, r.sigstop) = (c.sigkill, c.sigterm, c.sigstop);
        (r.hup_bursts, r.hups, r.reconfigures) = (c.hup_bursts, c.hups, c.reconfigures);
        r.zombies_seen = self.zombies.seen;
        r.zombies_lingering = std::mem::take(&mut self.zombies.lingering);
        r.duplicates.append(&mut self.logs.duplicates);
        r.spawns = self.logs.spawns;
        r.deaths = std::mem::take(&mut self.logs.deaths);
        r.log_lines = self.logs.lines;
        r.backoffs = self.logs.backoffs;
        r.notable = std::mem::take(&mut self.logs.notable);
        r.notable_count = self.logs.notable_count;
        let rec = &self.logs.recovery;
        r.recovery = Latency::of(&rec.normal);
        r.recovery_backoff = Latency::of(&rec.delayed);
        r.reap = Latency::of(&rec.reap);
        r.recovery_uncounted = rec.uncounted;
        let (deadline, origin) = (self.config.signal_deadline, self.started);
        let hups = (&self.dist.hup_groups, &self.logs.hup_lines);
        r.sighup = ledger::tally("SIGHUP", hups.0, hups.1, deadline, origin);
        let terms = (&self.term_groups, &self.logs.term_lines);
        r.sigterm_master = ledger::tally("SIGTERM", terms.0, terms.1, deadline, origin);
    }
}
