//! What the checker reads from /proc: the master's children (state, start time,
//! process title), the master's open fds and RSS, and the members of its group.

use cotyledon_testing::cmdline;

/// The services of `chaos_app`, in registration order.
pub(crate) const SERVICES: [&str; 3] = ["light", "steady", "heavy"];

/// What a child of the master is, from its process title.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// `PROG: NAME worker(ID)`: `service` indexes [`SERVICES`].
    Worker { service: usize, id: usize },
    /// Still the master's title: forked, title not set yet.
    Starting,
    /// Anything else (an exiting process has an empty cmdline).
    Other(String),
}

/// One child of the master.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    pub(crate) pid: i32,
    /// Start time in clock ticks after boot: with the pid, names one process.
    pub(crate) start: u64,
    pub(crate) zombie: bool,
    pub(crate) role: Role,
}

impl Proc {
    /// A running (not zombie) worker: `(service, id)`.
    pub(crate) fn worker(&self) -> Option<(usize, usize)> {
        match self.role {
            Role::Worker { service, id } if !self.zombie => Some((service, id)),
            _ => None,
        }
    }
}

/// The fields of /proc/PID/stat the checker uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) state: char,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    pub(crate) start: u64,
}

/// /proc/PID/stat, parsed after the command name (which may hold anything).
pub(crate) fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3 of proc(5): state, ppid, pgrp, ..., starttime (22).
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Whether the master exists and is not a zombie.
pub(crate) fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z')
}

/// Every pid in /proc.
fn all_pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// The role of a process from its title.
pub(crate) fn role(pid: i32) -> Role {
    let title = cmdline(pid).unwrap_or_default();
    parse_title(&title)
}

/// `PROG: NAME worker(ID)` → a worker; `PROG: master process […]` → starting.
pub(crate) fn parse_title(title: &str) -> Role {
    let Some((_, rest)) = title.split_once(": ") else {
        return Role::Other(title.to_owned());
    };
    if rest.starts_with("master process") {
        return Role::Starting;
    }
    let worker = rest.split_once(' ').and_then(|(name, tail)| {
        let service = SERVICES.iter().position(|s| *s == name)?;
        let id = tail.strip_prefix("worker(")?.strip_suffix(')')?;
        Some(Role::Worker {
            service,
            id: id.parse().ok()?,
        })
    });
    worker.unwrap_or_else(|| Role::Other(title.to_owned()))
}

/// The master's children, as one scan of /proc sees them.
pub(crate) fn children(master: i32) -> Vec<Proc> {
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let st = stat(pid)?;
            (st.ppid == master).then(|| Proc {
                pid,
                start: st.start,
                zombie: st.state == 'Z',
                role: if st.state == 'Z' {
                    Role::Other(String::new())
                } else {
                    role(pid)
                },
            })
        })
        .collect()
}

/// Reads `pid` again: the same process (pid and start time), still a child of
/// `master`, not a zombie, with role `role`.
pub(crate) fn still(pid: i32, start: u64, master: i32, role_was: &Role) -> bool {
    stat(pid).is_some_and(|s| s.start == start && s.ppid == master && s.state != 'Z')
        && role(pid) == *role_was
}

/// Entries in /proc/PID/fd.
pub(crate) fn fd_count(pid: i32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// VmRSS of /proc/PID/status, in KiB.
pub(crate) fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Processes of group `pgid`, as `PID STATE TITLE`, for failure messages.
pub(crate) fn group_members(pgid: i32) -> Vec<String> {
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let st = stat(pid)?;
            (st.pgrp == pgid).then(|| {
                let title = cmdline(pid).unwrap_or_default();
                format!("{pid} {} {title}", st.state)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_titles() {
        assert_eq!(
            parse_title("scenarios: heavy worker(16)"),
            Role::Worker { service: 2, id: 16 }
        );
        assert_eq!(
            parse_title("scenarios: master process [/x/scenarios chaos_app]"),
            Role::Starting
        );
        assert!(matches!(
            parse_title("scenarios: light worker(1ss [/x"),
            Role::Other(_)
        ));
        assert!(matches!(parse_title(""), Role::Other(_)));
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        let st = stat(me).expect("own stat");
        assert!(st.state != 'Z' && st.ppid > 0);
        assert!(fd_count(me).is_some_and(|n| n >= 3));
        assert!(rss_kib(me).is_some_and(|k| k > 0));
        assert!(alive(me));
    }
}
