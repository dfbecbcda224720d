//! `GET /metrics`: the counters in the Prometheus text format 0.0.4, written
//! by hand.
//!
//! No metrics crate: the counters are the supervisor's own state, updated
//! where it decides (there is no facade to record into), and the format is
//! `# HELP`/`# TYPE` lines and samples; `prometheus-client` or `metrics` would
//! add a registry and atomics to a single-threaded master for nothing, and a
//! dependency to the default build.

use std::fmt::Write;

use super::MasterInfo;
use crate::manager::supervisor::Supervisor;
use crate::manager::supervisor::metrics::{ExitWhy, ROLLOUT_BUCKETS, RecycleCause};
use crate::manager::supervisor::snapshot::Snapshot;

/// A Prometheus label value.
fn lv(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn head(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

/// `GET /metrics`: Prometheus text format 0.0.4.
pub(super) fn render(sup: &Supervisor, snap: &Snapshot, info: &MasterInfo) -> String {
    let m = sup.metrics();
    let mut o = String::new();
    let names: Vec<String> = snap.services.iter().map(|s| lv(s.name)).collect();
    let per_service =
        |o: &mut String, name: &str, kind: &str, help: &str, v: &dyn Fn(usize) -> u64| {
            head(o, name, kind, help);
            for (i, n) in names.iter().enumerate() {
                let _ = writeln!(o, "{name}{{service=\"{n}\"}} {}", v(i));
            }
        };
    let ms = |i: usize| m.services.get(i).cloned().unwrap_or_default();
    per_service(
        &mut o,
        "cotyledon_worker_starts_total",
        "counter",
        "Worker processes forked.",
        &|i| ms(i).starts,
    );
    head(
        &mut o,
        "cotyledon_worker_exits_total",
        "counter",
        "Worker processes reaped, by reason.",
    );
    for (i, n) in names.iter().enumerate() {
        let s = ms(i);
        for why in ExitWhy::ALL {
            let _ = writeln!(
                o,
                "cotyledon_worker_exits_total{{service=\"{n}\",reason=\"{}\"}} {}",
                why.label(),
                s.exits_for(why)
            );
        }
    }
    per_service(
        &mut o,
        "cotyledon_fork_failures_total",
        "counter",
        "Forks that failed.",
        &|i| ms(i).fork_failures,
    );
    per_service(
        &mut o,
        "cotyledon_watchdog_aborts_total",
        "counter",
        "Workers aborted for a missed heartbeat.",
        &|i| ms(i).watchdog_aborts,
    );
    per_service(
        &mut o,
        "cotyledon_boot_timeouts_total",
        "counter",
        "Workers killed for not being ready within the boot timeout.",
        &|i| ms(i).boot_timeouts,
    );
    head(
        &mut o,
        "cotyledon_recycles_total",
        "counter",
        "Worker recycles begun, by cause.",
    );
    for (i, n) in names.iter().enumerate() {
        let s = ms(i);
        for cause in RecycleCause::ALL {
            let _ = writeln!(
                o,
                "cotyledon_recycles_total{{service=\"{n}\",cause=\"{}\"}} {}",
                cause.label(),
                s.recycles_for(cause)
            );
        }
    }
    head(
        &mut o,
        "cotyledon_reloads_total",
        "counter",
        "Reloads begun (SIGHUP, control /reload).",
    );
    let _ = writeln!(o, "cotyledon_reloads_total {}", m.reloads);
    head(
        &mut o,
        "cotyledon_upgrades_total",
        "counter",
        "Binary upgrades of this master, by result (started, handed_over, failed).",
    );
    for (result, n) in [
        ("started", m.upgrades.started),
        ("handed_over", m.upgrades.handed_over),
        ("failed", m.upgrades.failed),
    ] {
        let _ = writeln!(o, "cotyledon_upgrades_total{{result=\"{result}\"}} {n}");
    }
    head(
        &mut o,
        "cotyledon_rollouts_total",
        "counter",
        "Rollouts ended, by result (done, stopped).",
    );
    for (i, n) in names.iter().enumerate() {
        let s = ms(i);
        let _ = writeln!(
            o,
            "cotyledon_rollouts_total{{service=\"{n}\",result=\"done\"}} {}",
            s.rollouts_done
        );
        let _ = writeln!(
            o,
            "cotyledon_rollouts_total{{service=\"{n}\",result=\"stopped\"}} {}",
            s.rollouts_stopped
        );
    }
    head(
        &mut o,
        "cotyledon_rollout_duration_seconds",
        "histogram",
        "Duration of the rollouts that were done.",
    );
    for (i, n) in names.iter().enumerate() {
        let h = ms(i).rollout_seconds;
        let mut cumulative = 0;
        for (b, le) in ROLLOUT_BUCKETS.iter().enumerate() {
            cumulative += h.counts[b];
            let _ = writeln!(
                o,
                "cotyledon_rollout_duration_seconds_bucket{{service=\"{n}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            o,
            "cotyledon_rollout_duration_seconds_bucket{{service=\"{n}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            o,
            "cotyledon_rollout_duration_seconds_sum{{service=\"{n}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            o,
            "cotyledon_rollout_duration_seconds_count{{service=\"{n}\"}} {}",
            h.count
        );
    }
    per_service(
        &mut o,
        "cotyledon_workers_desired",
        "gauge",
        "Workers each service should have.",
        &|i| snap.services[i].desired as u64,
    );
    head(
        &mut o,
        "cotyledon_workers",
        "gauge",
        "Worker processes by state.",
    );
    for (i, n) in names.iter().enumerate() {
        for state in [
            "booting",
            "ready",
            "reloading",
            "stopping",
            "aborting",
            "killed",
        ] {
            let count = snap.services[i]
                .workers
                .iter()
                .filter(|w| w.state == state)
                .count();
            let _ = writeln!(
                o,
                "cotyledon_workers{{service=\"{n}\",state=\"{state}\"}} {count}"
            );
        }
    }
    head(
        &mut o,
        "cotyledon_worker_resident_memory_bytes",
        "gauge",
        "Resident memory of each worker process.",
    );
    for (i, n) in names.iter().enumerate() {
        for w in &snap.services[i].workers {
            if let Some(rss) = w.pid.and_then(|p| info.rss_of(p)) {
                let _ = writeln!(
                    o,
                    "cotyledon_worker_resident_memory_bytes{{service=\"{n}\",worker_id=\"{}\"}} {rss}",
                    w.id
                );
            }
        }
    }
    head(
        &mut o,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the master process.",
    );
    let _ = writeln!(
        o,
        "process_resident_memory_bytes {}",
        info.rss_of(info.pid).unwrap_or(0)
    );
    head(
        &mut o,
        "process_start_time_seconds",
        "gauge",
        "Start time of the master since the Unix epoch.",
    );
    let _ = writeln!(o, "process_start_time_seconds {:.3}", info.started_unix);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(lv("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
