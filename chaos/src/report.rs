//! The result of a chaos run: its figures and the checks that failed (printed
//! by the `table` module).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Latency, SignalTally};

/// What a chaos run did and saw. [`Report::failures`] lists the broken checks;
/// `Display` prints every figure.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The PRNG seed (pass it back with `--seed` to replay the same choices).
    pub seed: u64,
    /// Time spent disturbing and settling (startup and shutdown not included).
    pub elapsed: Duration,
    /// Time the manager took to start every worker.
    pub startup: Duration,
    /// The `--workers` figure and the per-service range the services scaled in.
    pub workers: usize,
    /// Per-service worker counts: lowest and highest.
    pub per_service: (usize, usize),
    /// SIGHUPs per burst.
    pub hup_burst: usize,
    /// SIGKILLs delivered to workers.
    pub sigkill: usize,
    /// SIGTERMs delivered to workers.
    pub sigterm: usize,
    /// SIGSTOPs delivered to workers (each followed by a SIGCONT).
    pub sigstop: usize,
    /// Bursts of SIGHUPs to the master.
    pub hup_bursts: usize,
    /// SIGHUPs sent to the master in all (bursts and reconfigures).
    pub hups: usize,
    /// Reconfigures (new counts in the scale file, then a SIGHUP).
    pub reconfigures: usize,
    /// /proc samples taken.
    pub samples: usize,
    /// Settle windows run, and how many of them recovered within the limit.
    pub windows: usize,
    /// Settle windows in which the invariant held in time.
    pub windows_settled: usize,
    /// The longest time, from the start of a settle window, until every id ran
    /// exactly once (and kept doing so to the end of the window).
    pub max_recovery: Duration,
    /// The recovery time allowed.
    pub recovery_limit: Duration,
    /// Settle windows that did not recover in time, with evidence.
    pub violations: Vec<String>,
    /// Two live processes with one worker id (from /proc or from the log).
    pub duplicates: Vec<String>,
    /// Distinct zombie children of the master seen (before it reaped them).
    pub zombies_seen: usize,
    /// Zombies that the master did not reap within the limit.
    pub zombies_lingering: Vec<String>,
    /// Age after which an unreaped zombie is a failure.
    pub zombie_limit: Duration,
    /// The master's open fds after warm-up and at the end.
    pub fd_start: Option<usize>,
    /// See `fd_start`.
    pub fd_end: Option<usize>,
    /// fd growth allowed.
    pub fd_allowed: usize,
    /// The master's RSS (KiB) after warm-up and at the end.
    pub rss_start_kib: Option<u64>,
    /// See `rss_start_kib`.
    pub rss_end_kib: Option<u64>,
    /// RSS growth allowed, in KiB.
    pub rss_allowed_kib: u64,
    /// Why the run could not start, if it could not.
    pub startup_error: Option<String>,
    /// Set when the master died before the final SIGTERM.
    pub master_died: Option<String>,
    /// The master's exit code after the final SIGTERM (128 + signal if killed).
    pub exit_code: Option<i32>,
    /// Set when the master did not exit in time after the final SIGTERM.
    pub shutdown_error: Option<String>,
    /// Processes of the manager's group left after its exit.
    pub left_over: Vec<String>,
    /// "Run service" lines: workers started, the first ones included.
    pub spawns: usize,
    /// Workers reaped, by how they ended ("exit 0", "SIGKILL", …).
    pub deaths: BTreeMap<String, usize>,
    /// Respawns the manager's crash-loop back-off delayed (its INFO line
    /// "keeps dying right after start"): SIGKILL, or heavy's exit 42 on SIGTERM,
    /// within 1 s of a start counts as a crash.
    pub backoffs: usize,
    /// Log lines read.
    pub log_lines: usize,
    /// ERROR and WARN lines of cotyledon's targets: the first few, and how many.
    pub notable: Vec<String>,
    /// See `notable`.
    pub notable_count: usize,
    /// Id-recovery latency of deaths without a crash back-off (see the module
    /// documentation); `None` if there were none.
    pub recovery: Option<Latency>,
    /// Id-recovery latency of deaths the crash back-off delayed.
    pub recovery_backoff: Option<Latency>,
    /// From the driver's SIGKILL of a worker to the master's death line.
    pub reap: Option<Latency>,
    /// Deaths not counted in the recovery figures: their id was scaled away
    /// (or the master was told to stop) before the replacement ran.
    pub recovery_uncounted: usize,
    /// The p99 recovery allowed (deaths without back-off); `None`: not checked.
    pub recovery_p99_allowed: Option<Duration>,
    /// SIGHUPs to the master against its "Caught SIGHUP" lines.
    pub sighup: SignalTally,
    /// The final SIGTERM to the master against its "Caught SIGTERM" line.
    pub sigterm_master: SignalTally,
    /// Time within which the master must log a signal sent to it.
    pub signal_deadline: Duration,
}

impl Report {
    /// Whether the run got far enough for its figures to be checked: it started
    /// and the master did not die before the final SIGTERM.
    fn ran(&self) -> bool {
        self.startup_error.is_none() && self.master_died.is_none()
    }
}

impl Report {
    /// Every check that failed, one message each; empty when the run passed.
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        f.extend(self.startup_error.iter().map(|e| format!("startup: {e}")));
        f.extend(self.master_died.iter().map(|e| format!("master died: {e}")));
        f.extend(self.violations.iter().cloned());
        f.extend(self.duplicates.iter().cloned());
        f.extend(self.zombies_lingering.iter().cloned());
        if self.startup_error.is_none() && self.windows == 0 {
            f.push("no settle window ran".to_owned());
        }
        match (self.fd_start, self.fd_end) {
            (Some(a), Some(b)) if b > a + self.fd_allowed => f.push(format!(
                "master fds grew from {a} to {b} (allowed +{})",
                self.fd_allowed
            )),
            (Some(_), Some(_)) => {}
            _ if self.startup_error.is_none() && self.master_died.is_none() => {
                f.push("master fds not measured".to_owned())
            }
            _ => {}
        }
        if let (Some(a), Some(b)) = (self.rss_start_kib, self.rss_end_kib)
            && b > a + self.rss_allowed_kib
        {
            f.push(format!(
                "master RSS grew from {a} KiB to {b} KiB (allowed +{} KiB)",
                self.rss_allowed_kib
            ));
        }
        f.extend(self.shutdown_error.iter().map(|e| format!("shutdown: {e}")));
        if self.startup_error.is_none() && self.exit_code != Some(0) {
            f.push(format!(
                "master exit code after SIGTERM: {:?}, expected 0",
                self.exit_code
            ));
        }
        if !self.left_over.is_empty() {
            f.push(format!(
                "processes of the manager's group left: {:?}",
                self.left_over
            ));
        }
        f.extend(self.sighup.lost.iter().cloned());
        f.extend(self.sigterm_master.lost.iter().cloned());
        if self.ran() && self.sigterm_master.groups == 0 {
            f.push("the final SIGTERM was not sent".to_owned());
        }
        match (self.recovery, self.recovery_p99_allowed) {
            (Some(r), Some(limit)) if r.p99 >= limit => f.push(format!(
                "p99 id-recovery latency (no back-off) {:.1} ms, must be under {} ms",
                r.p99.as_secs_f64() * 1e3,
                limit.as_millis()
            )),
            (None, _) if self.ran() => f.push("no id recovery measured".to_owned()),
            _ => {}
        }
        f
    }
}
