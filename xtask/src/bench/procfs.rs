//! What the bench reads from `/proc`: children, CPU time, context switches, memory,
//! process-group members, and a description of the machine.

use std::fs;

/// The children of `pid`, over all its threads (`/proc/PID/task/*/children`).
/// Zombies are still listed until their parent reaps them.
pub(crate) fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// The fields of `/proc/PID/stat` after the command name: index 0 is the state
/// (field 3 of proc(5)).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of the whole process, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    // utime and stime are fields 14 and 15 of proc(5), so 11 and 12 here.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU time of every live thread of `pid`, in nanoseconds (first field of
/// `/proc/PID/task/TID/schedstat`): finer than the clock ticks of `stat`.
pub(crate) fn sched_ns(pid: u32) -> Option<u64> {
    sum_over_tasks(pid, |tid| {
        let text = fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat")).ok()?;
        text.split_whitespace().next()?.parse().ok()
    })
}

/// `voluntary_ctxt_switches` summed over the live threads of `pid`
/// (`/proc/PID/status` alone counts the main thread only).
pub(crate) fn voluntary_switches(pid: u32) -> Option<u64> {
    sum_over_tasks(pid, |tid| {
        let text = fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
        field_kb(&text, "voluntary_ctxt_switches:")
    })
}

fn sum_over_tasks(pid: u32, f: impl Fn(&str) -> Option<u64>) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        total += f(&task.file_name().to_string_lossy())?;
    }
    Some(total)
}

/// The first number after `key` in `text` (a `Key:   123 kB` line).
fn field_kb(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// (RSS, PSS) of `pid` in KiB, from `/proc/PID/smaps_rollup`.
pub(crate) fn rss_pss_kib(pid: u32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some((field_kb(&text, "Rss:")?, field_kb(&text, "Pss:")?))
}

/// The live (not zombie) processes whose process group is `pgid`.
pub(crate) fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(f) = stat_fields(pid) else { continue };
        // State is field 3 of proc(5), pgrp field 5: indexes 0 and 2 here.
        let zombie = f.first().is_some_and(|s| s == "Z" || s == "X");
        if !zombie && f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 if that fails).
pub(crate) fn clock_ticks_per_sec() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// "2 cores (MODEL), 23.5 GiB RAM, Linux RELEASE".
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| field_kb(&t, "MemTotal:"))
        .unwrap_or(0);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores ({model}), {:.1} GiB RAM, Linux {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}
