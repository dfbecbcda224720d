//! Looking at processes through /proc and `kill(pid, 0)`, reading pids in
//! cotyledon's log lines, and becoming the reaper of orphaned workers.

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// Whether a process (zombies included) with this pid exists.
pub fn is_alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

/// `/proc/PID/cmdline` with NULs turned to spaces and trailing NULs removed.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = String::from_utf8_lossy(&raw);
    Some(text.trim_end_matches('\0').replace('\0', " "))
}

/// `/proc/PID/comm` without its newline.
pub fn comm(pid: i32) -> Option<String> {
    let raw = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(raw.trim_end_matches('\n').to_owned())
}

/// The children of a process (from /proc/PID/task/*/children).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// The state letter of a process (`R`, `S`, `Z`…), from /proc/PID/stat.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// One entry of a process's fd table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdEntry {
    /// The descriptor number.
    pub fd: u32,
    /// What it points to (`pipe:[1234]`, `/dev/null`, …).
    pub target: String,
    /// Whether it is close-on-exec (`O_CLOEXEC` in /proc/PID/fdinfo).
    pub cloexec: bool,
}

/// The fd table of a process, sorted by number (entries that vanish while it is
/// read are skipped).
pub fn fds(pid: i32) -> Vec<FdEntry> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .unwrap_or(0);
        out.push(FdEntry {
            fd,
            target: target.display().to_string(),
            cloexec: flags & 0o2_000_000 != 0,
        });
    }
    out.sort_by_key(|e| e.fd);
    out
}

/// `(process group, session)` of a process, from /proc/PID/stat.
pub fn group_and_session(pid: i32) -> Option<(i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After the name: state (3), ppid (4), pgrp (5), session (6).
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// The `KEY=VALUE` entries of `/proc/PID/environ`.
pub fn environ(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .filter(|e| !e.is_empty())
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect(),
    )
}

/// Replaces pids in cotyledon's messages with `XXXX`: `[1234]` and `Child 1234 `.
pub fn mask_pids(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        let (head, tail) = rest.split_at(i);
        let n = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (digits, after) = tail.split_at(n);
        let bracketed = head.ends_with('[') && after.starts_with(']');
        let child = head.ends_with("Child ") && after.starts_with(' ');
        out.push_str(head);
        out.push_str(if bracketed || child { "XXXX" } else { digits });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The number between `[` and `]` right after `prefix` (which ends with `[`) in
/// `line`, wherever the logger put the message in its line and whatever it
/// wrote after it.
pub(crate) fn pid_after(line: &str, prefix: &str) -> Option<i32> {
    let start = line.find(prefix)? + prefix.len();
    let end = start + line[start..].find(']')?;
    line[start..end].parse().ok()
}

/// Processes whose process group is `pgid` (from /proc), for failure messages.
pub(crate) fn group_members(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // Fields after the name: state (3), ppid (4), pgrp (5).
        if fields.get(2).and_then(|p| p.parse::<i32>().ok()) == Some(pgid) {
            found.push(format!("{pid} {} {}", fields[0], &stat[..=close]));
        }
    }
    found
}

/// Makes this test process the reaper of orphaned workers, so that zombies of a
/// SIGKILLed manager's workers are reaped here (and never linger under a PID 1
/// that does not reap).
pub(crate) fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_only_pids() {
        assert_eq!(
            mask_pids(
                "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service heavy(0) [4242]"
            ),
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service heavy(0) [XXXX]"
        );
        assert_eq!(
            mask_pids("INFO:cotyledon::manager:Child 77 exited with status 42"),
            "INFO:cotyledon::manager:Child XXXX exited with status 42"
        );
    }

    #[test]
    fn the_pid_is_read_right_after_the_prefix() {
        let prefix = "Run service light(3) [";
        assert_eq!(pid_after("Run service light(3) [991]", prefix), Some(991));
        assert_eq!(
            pid_after(
                "2026-01-01T00:00:00Z DEBUG [cotyledon::worker] Run service light(3) [991] [main.rs:42]",
                prefix
            ),
            Some(991)
        );
        assert_eq!(pid_after("Run service light(3) [x]", prefix), None);
        assert_eq!(pid_after("Run service light(3) [991", prefix), None);
        assert_eq!(pid_after("Run service light(4) [991]", prefix), None);
    }
}
