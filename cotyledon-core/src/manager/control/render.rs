//! What the endpoint shows, written by hand: the status as JSON (no serde in
//! the default build) and as an 80-column table (`cotyledonctl status`,
//! `top`), and the metrics in the Prometheus text format 0.0.4.
//!
//! No metrics crate: the counters are the supervisor's own state, updated
//! where it decides (no facade to record into), and the format is a dozen
//! lines of `# HELP`/`# TYPE` and samples; `prometheus-client` or `metrics`
//! would add a registry and atomics to a single-threaded master for nothing.

use std::fmt::Write;
use std::time::Duration;

use super::MasterInfo;
use crate::manager::supervisor::Supervisor;
use crate::manager::supervisor::metrics::{ExitWhy, ROLLOUT_BUCKETS, RecycleCause};
use crate::manager::supervisor::snapshot::{Snapshot, WorkerView};

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// `GET /status`.
pub(super) fn json(sup: &Supervisor, snap: &Snapshot, info: &MasterInfo) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"master\":{{\"pid\":{},\"uptime_seconds\":{},\"phase\":{},\"cotyledon_version\":{},\
         \"binary\":{},\"rss_bytes\":{},\"reloads\":{},\"trouble\":{}}},\"services\":[",
        info.pid,
        secs(info.uptime),
        js(snap.phase.label()),
        js(env!("CARGO_PKG_VERSION")),
        opt(info.binary.as_deref().map(js)),
        opt((info.rss)(info.pid)),
        sup.metrics().reloads,
        opt(snap.trouble.as_deref().map(js)),
    );
    for (i, s) in snap.services.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let ready = s.workers.iter().filter(|w| serving(w)).count();
        let _ = write!(
            o,
            "{{\"name\":{},\"desired\":{},\"ready\":{ready},\"rollout\":",
            js(s.name),
            s.desired
        );
        match &s.rollout {
            Some(r) => {
                let batch = if r.batch == usize::MAX {
                    "null".to_owned()
                } else {
                    r.batch.to_string()
                };
                let _ = write!(
                    o,
                    "{{\"what\":{},\"fresh\":{},\"total\":{},\"batch\":{batch},\"age_seconds\":{}}}",
                    js(r.what),
                    r.fresh,
                    r.total,
                    secs(r.age)
                );
            }
            None => o.push_str("null"),
        }
        o.push_str(",\"workers\":[");
        for (j, w) in s.workers.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            let last = match &w.last_exit {
                Some((l, ago)) => format!(
                    "{{\"code\":{},\"signal\":{},\"reason\":{},\"ago_seconds\":{}}}",
                    opt(l.exit.code()),
                    opt(match l.exit {
                        crate::WorkerExit::Signaled(s) => Some(js(&crate::hooks::signal_name(s))),
                        crate::WorkerExit::Exited(_) => None,
                    }),
                    js(l.why.label()),
                    secs(*ago)
                ),
                None => "null".to_owned(),
            };
            let _ = write!(
                o,
                "{{\"id\":{},\"pid\":{},\"state\":{},\"stopping_for\":{},\"age_seconds\":{},\
                 \"rss_bytes\":{},\"restarts\":{},\"heartbeat_age_seconds\":{},\"last_exit\":{last}}}",
                w.id,
                opt(w.pid),
                js(w.state),
                opt(w.stopping.map(|why| js(why.label()))),
                opt(w.age.map(secs)),
                opt(w.pid.and_then(info.rss)),
                w.restarts,
                opt(w.beat_age.map(secs)),
            );
        }
        o.push_str("]}");
    }
    o.push_str("]}\n");
    o
}

fn serving(w: &WorkerView) -> bool {
    w.state == "ready" || w.state == "reloading"
}

/// `12s`, `4m05s`, `3h02m`, `2d04h`.
pub(crate) fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `980K`, `12.3M`, `1.2G`.
fn bytes(b: Option<u64>) -> String {
    let Some(b) = b else {
        return "-".to_owned();
    };
    let k = b as f64 / 1024.0;
    if k < 1000.0 {
        format!("{k:.0}K")
    } else if k < 1000.0 * 1024.0 {
        format!("{:.1}M", k / 1024.0)
    } else {
        format!("{:.1}G", k / 1024.0 / 1024.0)
    }
}

/// `GET /status.txt`: the table `cotyledonctl status` and `top` print, at most
/// 79 columns wide.
pub(super) fn table(sup: &Supervisor, snap: &Snapshot, info: &MasterInfo) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "master {}  {}  up {}  rss {}  reloads {}",
        info.pid,
        snap.phase.label(),
        short(info.uptime),
        bytes((info.rss)(info.pid)),
        sup.metrics().reloads
    );
    if let Some(t) = &snap.trouble {
        let t: String = t.chars().take(70).collect();
        let _ = writeln!(o, "trouble: {t}");
    }
    for s in &snap.services {
        let ready = s.workers.iter().filter(|w| serving(w)).count();
        let _ = write!(o, "{}: {ready}/{} ready", s.name, s.desired);
        if let Some(r) = &s.rollout {
            let _ = write!(
                o,
                ", rolling {} {}/{} ({})",
                r.what,
                r.fresh,
                r.total,
                short(r.age)
            );
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "{:<12} {:>3} {:>7} {:<9} {:>6} {:>6} {:>4} {:>5} {:<18}",
        "SERVICE", "ID", "PID", "STATE", "AGE", "RSS", "RST", "BEAT", "LAST EXIT"
    );
    for s in &snap.services {
        for w in &s.workers {
            let last = w.last_exit.as_ref().map_or_else(String::new, |(l, ago)| {
                let how = match l.exit {
                    crate::WorkerExit::Exited(c) => format!("{c}"),
                    crate::WorkerExit::Signaled(sig) => crate::hooks::signal_name(sig),
                };
                format!("{} {how} {}", l.why.label(), short(*ago))
            });
            let name: String = s.name.chars().take(12).collect();
            let state: String = w.state.chars().take(9).collect();
            let last: String = last.chars().take(18).collect();
            let _ = writeln!(
                o,
                "{:<12} {:>3} {:>7} {:<9} {:>6} {:>6} {:>4} {:>5} {:<18}",
                name,
                w.id,
                w.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                state,
                w.age.map_or_else(|| "-".to_owned(), short),
                bytes(w.pid.and_then(info.rss)),
                w.restarts,
                w.beat_age.map_or_else(|| "-".to_owned(), short),
                last
            );
        }
    }
    // Trailing spaces of the padded last column are noise in a terminal.
    o.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

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
pub(super) fn prometheus(sup: &Supervisor, snap: &Snapshot, info: &MasterInfo) -> String {
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
            if let Some(rss) = w.pid.and_then(info.rss) {
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
        (info.rss)(info.pid).unwrap_or(0)
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
    fn strings_are_escaped() {
        assert_eq!(js("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(lv("a\"b\\c\n"), "a\\\"b\\\\c\\n");
        assert_eq!(short(Duration::from_secs(3725)), "1h02m");
        assert_eq!(short(Duration::from_secs(65)), "1m05s");
        assert_eq!(bytes(Some(12 << 20)), "12.0M");
    }
}
