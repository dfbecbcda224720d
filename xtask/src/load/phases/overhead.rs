//! The overhead comparison of `cargo xtask load`: the example with 4 worker
//! processes under a master against the same accept loop and handler in one
//! process with 4 threads and no manager (`http_server --single-process`), in
//! the steady state. The claim: the manager costs at most 5% of the throughput.
//!
//! Runs alternate, each with a fresh server on the same port once the previous
//! one is gone (its log pipe closed: every process exited), pair `i` starting
//! with the manager when `i` is even, with the single process when it is odd, so
//! that neither side always runs first. Each side's req/s, p50 and p99 are the
//! medians of its runs. Judged in the full run: the median of the pairs' req/s
//! ratios. Short runs, many pairs: the two runs of a pair are seconds apart and
//! see the same background load, which drifts (on a shared 2-core machine, a
//! single run's req/s moves by 15%). The p99 ratio is shown, not judged: with wrk
//! on the same 2 cores it moves by tens of percent from one pair to the next.

use std::time::Duration;

use super::{Runner, count};
use crate::load::report::{Phase, latency};
use crate::load::server::{Server, WORKERS};
use crate::load::wrk::{Report, SocketErrors};

/// The least share of the single process's req/s the manager must keep.
const FLOOR: f64 = 0.95;

#[derive(Clone, Copy, PartialEq)]
enum Side {
    /// The master and its workers.
    Workers,
    /// `--single-process`.
    Threads,
}

impl Runner {
    /// Two phases: the manager's (judged) and the single process's (reference).
    pub(super) fn overhead(&self, (pairs, secs): (usize, u64)) -> Result<[Phase; 2], String> {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for pair in 0..pairs {
            let order = match pair % 2 {
                0 => [Side::Workers, Side::Threads],
                _ => [Side::Threads, Side::Workers],
            };
            for side in order {
                let report = self.overhead_run(side, pair, secs)?;
                match side {
                    Side::Workers => ours.push(report),
                    Side::Threads => theirs.push(report),
                }
            }
        }
        let load = format!(
            "{} of {secs} s runs, alternating; req/s, p50, p99: medians",
            count(pairs, "pair")
        );
        let (a, b) = (combined(&ours), combined(&theirs));
        let mut phase = Phase::new(
            "overhead: 4 workers vs 1 process × 4 threads",
            load.clone(),
            a.clone(),
        );
        phase.check_no_failure();
        let failed = b.errors.total() + b.non_2xx;
        phase.check(
            failed == 0,
            format!("the single process failed no request either (got {failed})"),
        );
        // Each pair's two runs are next to each other in time and see the same
        // background load: the median of the pairs' ratios is what is judged.
        let ratios = |f: fn(&Report) -> f64| -> Vec<f64> {
            (ours.iter().zip(&theirs))
                .map(|(x, y)| f(x) / f(y).max(1e-12))
                .collect()
        };
        let (rates, p99s) = (ratios(|r| r.per_second), ratios(|r| r.p99.as_secs_f64()));
        let paired = median(rates.clone());
        phase.claim(
            self.plan.judge_overhead,
            paired >= FLOOR,
            format!(
                "req/s: 4 workers at {:.1}% of 1 process × 4 threads, the median ratio \
                 over {} (at least {:.0}%); medians of each side {:.0} vs {:.0} ({:.1}%)",
                paired * 100.0,
                count(rates.len(), "pair"),
                FLOOR * 100.0,
                a.per_second,
                b.per_second,
                a.per_second / b.per_second * 100.0
            ),
        );
        let percents = |v: &[f64]| {
            let v: Vec<String> = v.iter().map(|r| format!("{:.0}%", r * 100.0)).collect();
            v.join(", ")
        };
        phase.note(format!(
            "4 workers / 1 process, each pair in order: req/s {}; p99 {}",
            percents(&rates),
            percents(&p99s)
        ));
        phase.note(format!(
            "p99: 4 workers {} vs 1 process {} (medians; median of the pairs' ratios \
             {:.2}×), p50 {} vs {}: shown, not judged (a pair's p99 ratio moves by tens \
             of percent from one pair to the next)",
            latency(a.p99),
            latency(b.p99),
            median(p99s),
            latency(a.p50),
            latency(b.p50),
        ));
        if !self.plan.judge_overhead {
            phase.note("--smoke: the req/s ratio is shown, not judged");
        }
        let mut reference = Phase::new("overhead: 1 process × 4 threads, no manager", load, b);
        reference.unjudged = "(reference)";
        reference
            .note("`http_server --single-process --workers 4`: the same accept loop and handler");
        Ok([phase, reference])
    }

    /// One wrk run against a fresh server of `side`, stopped and gone after.
    fn overhead_run(&self, side: Side, pair: usize, secs: u64) -> Result<Report, String> {
        let server = match side {
            Side::Workers => {
                self.server(&format!("overhead-workers-{pair}"), &[], Duration::ZERO)?
            }
            Side::Threads => {
                let log = self.logs.join(format!("overhead-threads-{pair}.log"));
                eprintln!("load: starting the single process (log: {})", log.display());
                let extra = ["--single-process".to_owned()];
                let server = Server::spawn(&self.bin, self.port, &extra, log)?;
                server.wait_lines(0, WORKERS, Duration::from_secs(10), |line| {
                    line.contains("] http thread ") && line.ends_with(" serving")
                })?;
                server
            }
        };
        let report = self.timed(secs, 0, || Ok(()))?;
        // Waits for the end of its log pipe: no process of it is left.
        server.stop()?;
        Ok(report)
    }
}

/// The runs of one side as one report: req/s, p50 and p99 are medians; the
/// requests, seconds and failures are totals; max is the largest.
fn combined(runs: &[Report]) -> Report {
    let per_second = median(runs.iter().map(|r| r.per_second).collect());
    // In whole nanoseconds, as wrk's figures are.
    let nanos = |d: fn(&Report) -> Duration| {
        let median = median(runs.iter().map(|r| d(r).as_nanos() as f64).collect());
        Duration::from_nanos(median.round() as u64)
    };
    let errors = runs
        .iter()
        .fold(SocketErrors::default(), |sum, r| SocketErrors {
            connect: sum.connect + r.errors.connect,
            read: sum.read + r.errors.read,
            write: sum.write + r.errors.write,
            timeout: sum.timeout + r.errors.timeout,
        });
    Report {
        requests: runs.iter().map(|r| r.requests).sum(),
        seconds: runs.iter().map(|r| r.seconds).sum(),
        per_second,
        p50: nanos(|r| r.p50),
        p99: nanos(|r| r.p99),
        max: runs.iter().map(|r| r.max).max().unwrap_or_default(),
        errors,
        non_2xx: runs.iter().map(|r| r.non_2xx).sum(),
    }
}

/// The median (the mean of the middle two for an even count; 0 for none).
fn median(values: Vec<f64>) -> f64 {
    crate::bench::report::median(&values).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(per_second: f64, p99_us: u64, read_errors: u64) -> Report {
        Report {
            requests: 10,
            seconds: 1.0,
            per_second,
            p99: Duration::from_micros(p99_us),
            max: Duration::from_micros(p99_us * 2),
            errors: SocketErrors {
                read: read_errors,
                ..SocketErrors::default()
            },
            ..Report::default()
        }
    }

    #[test]
    fn medians_of_rates_and_latencies_totals_of_the_rest() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let c = combined(&[run(100.0, 900, 0), run(300.0, 500, 1), run(200.0, 700, 2)]);
        assert_eq!((c.requests, c.per_second), (30, 200.0));
        assert_eq!(
            (c.p99, c.max),
            (Duration::from_micros(700), Duration::from_micros(1800))
        );
        assert_eq!((c.errors.read, c.errors.total()), (3, 3));
    }
}
