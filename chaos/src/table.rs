//! How a [`Report`] prints: the run's figures line by line, then three tables
//! (id recovery, signals to the master, acceptance), then PASSED or the failed
//! checks.

use std::fmt;
use std::time::Duration;

use super::{Latency, Report, SignalTally};

fn opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn drift(a: Option<u64>, b: Option<u64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:+}", b as i64 - a as i64),
        _ => "-".to_owned(),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failures = self.failures();
        let ms = |d: Duration| d.as_millis();
        writeln!(f, "chaos report")?;
        writeln!(f, "  seed                 {}", self.seed)?;
        writeln!(
            f,
            "  duration             {:.1} s (startup {} ms)",
            self.elapsed.as_secs_f64(),
            ms(self.startup)
        )?;
        writeln!(
            f,
            "  workers              {} (3 services, {}..={} each)",
            self.workers, self.per_service.0, self.per_service.1
        )?;
        writeln!(
            f,
            "  kills survived       {} ({} SIGKILL, {} SIGTERM)",
            self.sigkill + self.sigterm,
            self.sigkill,
            self.sigterm
        )?;
        writeln!(
            f,
            "  stops                {} (SIGSTOP..SIGCONT)",
            self.sigstop
        )?;
        writeln!(
            f,
            "  SIGHUP bursts        {} x {} ({} SIGHUPs to the master in all)",
            self.hup_bursts, self.hup_burst, self.hups
        )?;
        writeln!(f, "  reconfigures         {}", self.reconfigures)?;
        writeln!(
            f,
            "  settle windows       {}/{} recovered within {} ms",
            self.windows_settled,
            self.windows,
            ms(self.recovery_limit)
        )?;
        writeln!(f, "  max recovery         {} ms", ms(self.max_recovery))?;
        writeln!(f, "  violations           {}", self.violations.len())?;
        writeln!(f, "  duplicate ids        {}", self.duplicates.len())?;
        writeln!(
            f,
            "  zombies              {} seen, {} not reaped in time",
            self.zombies_seen,
            self.zombies_lingering.len()
        )?;
        writeln!(
            f,
            "  master fds           {} -> {} (drift {})",
            opt(self.fd_start),
            opt(self.fd_end),
            drift(
                self.fd_start.map(|v| v as u64),
                self.fd_end.map(|v| v as u64)
            )
        )?;
        writeln!(
            f,
            "  master RSS           {} KiB -> {} KiB (drift {} KiB)",
            opt(self.rss_start_kib),
            opt(self.rss_end_kib),
            drift(self.rss_start_kib, self.rss_end_kib)
        )?;
        writeln!(f, "  samples              {}", self.samples)?;
        writeln!(
            f,
            "  workers started      {} ({} log lines)",
            self.spawns, self.log_lines
        )?;
        writeln!(f, "  crash back-offs      {}", self.backoffs)?;
        let deaths: Vec<String> = self
            .deaths
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        writeln!(f, "  workers reaped       {}", deaths.join(", "))?;
        writeln!(f, "  cotyledon WARN/ERROR {}", self.notable_count)?;
        for line in &self.notable {
            writeln!(f, "    {line}")?;
        }
        writeln!(f, "  master exit code     {}", opt(self.exit_code))?;
        writeln!(f, "  processes left       {}", self.left_over.len())?;
        self.recovery_table(f)?;
        self.signal_table(f)?;
        self.acceptance_table(f)?;
        if failures.is_empty() {
            write!(f, "PASSED")
        } else {
            writeln!(f, "FAILED ({} checks):", failures.len())?;
            for (i, why) in failures.iter().enumerate() {
                writeln!(f, "  {}. {why}", i + 1)?;
            }
            Ok(())
        }
    }
}

/// A duration in milliseconds, one decimal.
fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn latency_row(f: &mut fmt::Formatter<'_>, what: &str, l: Option<Latency>) -> fmt::Result {
    match l {
        Some(l) => writeln!(
            f,
            "    {what:<40} {:>6} {:>10} {:>10} {:>10}",
            l.count,
            millis(l.p50),
            millis(l.p99),
            millis(l.max)
        ),
        None => writeln!(f, "    {what:<40} {:>6}", 0),
    }
}

fn signal_row(f: &mut fmt::Formatter<'_>, what: &str, t: &SignalTally) -> fmt::Result {
    writeln!(
        f,
        "    {what:<22} {:>8} {:>8} {:>8} {:>6} {:>14}",
        t.sent,
        t.groups,
        t.logged,
        t.lost.len(),
        millis(t.max_wait)
    )
}

/// `ok`: `None` when not measured.
fn check_row(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    target: &str,
    got: &str,
    ok: Option<bool>,
) -> fmt::Result {
    let verdict = match ok {
        Some(true) => "ok",
        Some(false) => "FAILED",
        None => "not measured",
    };
    writeln!(f, "    {what:<34} {target:<16} {got:<14} {verdict}")
}

impl Report {
    fn recovery_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  {:<42} {:>6} {:>10} {:>10} {:>10}",
            "id recovery (death line -> \"Run service\")", "count", "p50", "p99", "max"
        )?;
        latency_row(f, "not in crash back-off", self.recovery)?;
        latency_row(f, "in crash back-off", self.recovery_backoff)?;
        writeln!(
            f,
            "    {:<40} {:>6}",
            "not counted (id scaled away, shutdown)", self.recovery_uncounted
        )?;
        latency_row(f, "(diagnostic) SIGKILL -> death line", self.reap)
    }

    fn signal_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  signals to the master        sent   groups   logged   lost   longest wait"
        )?;
        signal_row(f, "SIGHUP", &self.sighup)?;
        signal_row(f, "SIGTERM", &self.sigterm_master)
    }

    fn acceptance_table(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  {:<36} {:<16} {:<14} verdict",
            "acceptance", "target", "measured"
        )?;
        let lost = self.sighup.lost.len() + self.sigterm_master.lost.len();
        let within = format!("0 (in {} ms)", self.signal_deadline.as_millis());
        check_row(
            f,
            "signals lost",
            &within,
            &lost.to_string(),
            Some(lost == 0),
        )?;
        let got = self
            .recovery
            .map_or_else(|| "-".to_owned(), |r| millis(r.p99));
        match self.recovery_p99_allowed {
            Some(limit) => {
                let ok = self.recovery.map(|r| r.p99 < limit);
                let target = format!("< {} ms", limit.as_millis());
                check_row(f, "p99 recovery, no back-off", &target, &got, ok)?;
            }
            None => writeln!(
                f,
                "    {:<34} {:<16} {got:<14} not checked",
                "p99 recovery, no back-off", "-"
            )?,
        }
        let zombies = self.zombies_lingering.len();
        let target = format!("0 (in {} ms)", self.zombie_limit.as_millis());
        check_row(
            f,
            "zombies not reaped",
            &target,
            &zombies.to_string(),
            Some(zombies == 0),
        )?;
        let grew = |a: Option<u64>, b: Option<u64>, allowed: u64| match (a, b) {
            (Some(a), Some(b)) => Some(b <= a + allowed),
            _ => None,
        };
        let (fa, fb) = (
            self.fd_start.map(|v| v as u64),
            self.fd_end.map(|v| v as u64),
        );
        let target = format!("<= +{}", self.fd_allowed);
        let ok = grew(fa, fb, self.fd_allowed as u64);
        check_row(f, "master fd growth", &target, &drift(fa, fb), ok)?;
        let (ra, rb) = (self.rss_start_kib, self.rss_end_kib);
        let target = format!("<= +{} KiB", self.rss_allowed_kib);
        let got = format!("{} KiB", drift(ra, rb));
        check_row(
            f,
            "master RSS growth",
            &target,
            &got,
            grew(ra, rb, self.rss_allowed_kib),
        )
    }
}
