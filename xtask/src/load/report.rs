//! The results of `cargo xtask load`: one [`Phase`] per wrk run, with its judged
//! checks and its notes, printed as a Markdown table (ready for BENCHMARKS.md)
//! followed by the checks and notes of each phase.

use std::fmt::Write as _;
use std::time::Duration;

use super::wrk::Report;

/// One wrk run and what it showed.
pub(crate) struct Phase {
    pub(crate) name: &'static str,
    /// What was done during the run: "20 s, 20 SIGHUPs".
    pub(crate) load: String,
    pub(crate) report: Report,
    pub(crate) checks: Vec<Check>,
    pub(crate) notes: Vec<String>,
    /// The verdict of a phase without checks: `(contrast)` unless set.
    pub(crate) unjudged: &'static str,
}

/// A judged claim: the task fails when one does not hold.
pub(crate) struct Check {
    pub(crate) passed: bool,
    pub(crate) text: String,
}

impl Phase {
    pub(crate) fn new(name: &'static str, load: String, report: Report) -> Phase {
        Phase {
            name,
            load,
            report,
            checks: Vec::new(),
            notes: Vec::new(),
            unjudged: "(contrast)",
        }
    }

    pub(crate) fn check(&mut self, passed: bool, text: impl Into<String>) {
        self.checks.push(Check {
            passed,
            text: text.into(),
        });
    }

    /// A check when `judged`, else a note saying whether it held.
    pub(crate) fn claim(&mut self, judged: bool, passed: bool, text: impl Into<String>) {
        let text = text.into();
        match (judged, passed) {
            (true, _) => self.check(passed, text),
            (false, true) => self.note(format!("holds: {text}")),
            (false, false) => self.note(format!("does not hold: {text}")),
        }
    }

    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// The two checks of a phase that must not fail a single request.
    pub(crate) fn check_no_failure(&mut self) {
        let (errors, non_2xx) = (self.report.errors, self.report.non_2xx);
        self.check(
            errors.total() == 0,
            format!("0 socket errors (got {})", socket_errors(&self.report)),
        );
        self.check(non_2xx == 0, format!("0 non-2xx responses (got {non_2xx})"));
    }

    pub(crate) fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed).count()
    }

    fn verdict(&self) -> &'static str {
        match (self.checks.is_empty(), self.failed()) {
            (true, _) => self.unjudged,
            (false, 0) => "pass",
            _ => "FAIL",
        }
    }
}

/// `connect/read/write/timeout`.
fn socket_errors(report: &Report) -> String {
    let e = report.errors;
    format!("{}/{}/{}/{}", e.connect, e.read, e.write, e.timeout)
}

/// `212µs`, `5.12ms`, `1.91s`.
pub(crate) fn latency(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{}µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{:.2}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// The Markdown table of every phase.
pub(crate) fn table(phases: &[Phase]) -> String {
    let mut out = String::from(
        "| Phase | Load | Requests | Req/s | p50 | p99 | Max | \
         Socket errors (connect/read/write/timeout) | Non-2xx | Verdict |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for p in phases {
        let r = &p.report;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            p.name,
            p.load,
            r.requests,
            r.per_second,
            latency(r.p50),
            latency(r.p99),
            latency(r.max),
            socket_errors(r),
            r.non_2xx,
            p.verdict()
        );
    }
    out
}

/// Each phase's checks (`[pass]`/`[FAIL]`) and notes, as a Markdown list.
pub(crate) fn details(phases: &[Phase]) -> String {
    let mut out = String::new();
    for p in phases {
        let _ = writeln!(out, "- **{}** ({}):", p.name, p.load);
        for c in &p.checks {
            let mark = if c.passed { "pass" } else { "FAIL" };
            let _ = writeln!(out, "  - [{mark}] {}", c.text);
        }
        for n in &p.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::wrk::SocketErrors;

    #[test]
    fn latencies_read_like_wrk() {
        assert_eq!(latency(Duration::from_micros(212)), "212µs");
        assert_eq!(latency(Duration::from_micros(5120)), "5.12ms");
        assert_eq!(latency(Duration::from_millis(1910)), "1.91s");
    }

    #[test]
    fn a_failed_check_fails_the_phase_and_shows() {
        let report = Report {
            requests: 1000,
            per_second: 500.4,
            errors: SocketErrors {
                read: 3,
                ..SocketErrors::default()
            },
            ..Report::default()
        };
        let mut phase = Phase::new("rolling reload", "2 s, 2 SIGHUPs".to_owned(), report);
        phase.check_no_failure();
        phase.note("8 worker exits");
        assert_eq!(phase.failed(), 1);
        let table = table(&[phase]);
        let row = table.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| rolling reload | 2 s, 2 SIGHUPs | 1000 | 500 | 0µs | 0µs | 0µs | 0/3/0/0 | 0 | FAIL |"
        );
        let contrast = Phase::new("all at once", String::new(), Report::default());
        let text = details(&[contrast]);
        assert_eq!(text, "- **all at once** ():\n");
        assert!(
            super::table(&[Phase::new("x", String::new(), Report::default())])
                .contains("(contrast)")
        );
    }
}
