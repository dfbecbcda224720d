//! What the endpoint shows, written by hand: the status as JSON (no serde in
//! the default build) and as an 80-column table (`cotyledonctl status`,
//! `top`). The metrics are in `prometheus.rs`.

use std::fmt::Write;
use std::time::Duration;

use super::MasterInfo;
use crate::manager::supervisor::Supervisor;
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
    let now_unix = info.started_unix + info.uptime.as_secs_f64();
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
        opt(info.rss_of(info.pid)),
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
                    "{{\"code\":{},\"signal\":{},\"reason\":{},\"ago_seconds\":{},\"at_unix\":{:.3}}}",
                    opt(l.exit.code()),
                    opt(match l.exit {
                        crate::WorkerExit::Signaled(s) => Some(js(&crate::hooks::signal_name(s))),
                        crate::WorkerExit::Exited(_) => None,
                    }),
                    js(l.why.label()),
                    secs(*ago),
                    now_unix - ago.as_secs_f64()
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
                opt(w.pid.and_then(|p| info.rss_of(p))),
                w.restarts,
                opt(w.beat_age.map(secs)),
            );
        }
        o.push_str("]}");
    }
    o.push_str("]}\n");
    o
}

pub(super) fn serving(w: &WorkerView) -> bool {
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
        bytes(info.rss_of(info.pid)),
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
                bytes(w.pid.and_then(|p| info.rss_of(p))),
                w.restarts,
                w.beat_age.map_or_else(|| "-".to_owned(), short),
                last
            );
        }
    }
    // Trailing spaces of the padded last column are noise in a terminal.
    o.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(js("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
        assert_eq!(short(Duration::from_secs(3725)), "1h02m");
        assert_eq!(short(Duration::from_secs(65)), "1m05s");
        assert_eq!(bytes(Some(12 << 20)), "12.0M");
    }
}
