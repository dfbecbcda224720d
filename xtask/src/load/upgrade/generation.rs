//! Following a master through binary upgrades: which master serves now and its
//! workers, one SIGUSR2 and what must hold after it (the new build answers, the
//! master pid changed, nothing of the old generation is left), and asking the
//! service which build answers.
//!
//! The new master is a child of the old one, which exits once it has handed
//! over: from then on the new master is an orphan of init (or of the nearest
//! child subreaper). A process that is gone or a zombie counts as gone: a zombie
//! has released everything but its pid, and init may not reap (PID 1 of some
//! containers does not).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::bench::procfs::{children, group_members};
use crate::load::procfs::alive;
use crate::load::server::{self, Exit, Server, WORKERS};

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(5);

/// The master that serves, and its workers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Generation {
    pub(crate) master: u32,
    pub(crate) workers: Vec<u32>,
}

impl Generation {
    /// `master` once it has [`WORKERS`] children, every one logging `serving`.
    pub(crate) fn settled(server: &Server, master: u32, within: Duration) -> Result<Self, String> {
        let deadline = Instant::now() + within;
        loop {
            let workers = children(master);
            let serving = server::serving_pids(&server.lines_since(0));
            if workers.len() == WORKERS && workers.iter().all(|p| serving.contains(p)) {
                return Ok(Generation { master, workers });
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "master {master}: workers {workers:?} not all serving after {within:?}"
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Every process of this generation, master first.
    pub(crate) fn pids(&self) -> Vec<u32> {
        std::iter::once(self.master)
            .chain(self.workers.iter().copied())
            .collect()
    }
}

/// What one upgrade showed.
#[derive(Debug)]
pub(crate) struct Upgraded {
    pub(crate) new: Generation,
    /// From the SIGUSR2 to the old master's hand-over line.
    pub(crate) took: Duration,
    /// The old workers whose exit the old master logged with a status other
    /// than 0 (or did not log).
    pub(crate) unclean: Vec<u32>,
    /// What answered once the old generation was gone.
    pub(crate) answer: String,
}

/// SIGUSR2 to `old.master`, which must hand over to a new master within
/// `within`; then waits for every process of `old` to be gone and asks the
/// service who answers. `Err` says what did not happen.
pub(crate) fn upgrade(
    server: &Server,
    old: &Generation,
    port: u16,
    within: Duration,
) -> Result<Upgraded, String> {
    let mark = server.mark();
    let start = Instant::now();
    server.signal("USR2", old.master)?;
    let handed = format!("[{}] Upgrade: new master [", old.master);
    server
        .wait_lines(mark, 1, within, |l| {
            l.contains(&handed) && l.contains("this master hands over and leaves")
        })
        .map_err(|e| format!("no hand-over from master {}: {e}", old.master))?;
    let took = start.elapsed();
    let lines = server.lines_since(mark);
    let master = lines
        .iter()
        .find_map(|l| new_master(l, old.master))
        .ok_or("no `Upgrade: new master [PID] is ready` line")?;
    if master == old.master {
        return Err(format!("the master pid did not change ({master})"));
    }
    wait_gone(&old.pids(), within)?;
    // The old master logged its workers' exits before it left; the log may lag.
    let theirs = |l: &str| {
        old.workers
            .iter()
            .any(|w| l.contains(&format!("] Child {w} ")))
    };
    let _ = server.wait_lines(mark, old.workers.len(), Duration::from_secs(2), theirs);
    let lines = server.lines_since(mark);
    let exits = server::exits(&lines);
    let unclean = old
        .workers
        .iter()
        .copied()
        .filter(|w| !exits.contains(&(*w, Exit::Status(0))))
        .collect();
    let new = Generation::settled(server, master, within)?;
    // Nothing else in the process group, which every generation inherits.
    wait_group(server.pid, &new.pids(), within)?;
    let answer = ask(port)?;
    Ok(Upgraded {
        new,
        took,
        unclean,
        answer,
    })
}

/// The new master's pid in the old master's `Upgrade: new master [PID] is
/// ready` line.
fn new_master(line: &str, old: u32) -> Option<u32> {
    let rest = line
        .split_once(&format!("[{old}] Upgrade: new master ["))?
        .1;
    let (pid, rest) = rest.split_once(']')?;
    rest.starts_with(" is ready").then_some(())?;
    pid.parse().ok()
}

/// Waits until none of `pids` is alive (gone or a zombie).
pub(crate) fn wait_gone(pids: &[u32], within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("still alive after {within:?}: {left:?}"));
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until the live processes of the group `pgid` are `pids`, no more.
pub(crate) fn wait_group(pgid: u32, pids: &[u32], within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let mut want = pids.to_vec();
    want.sort_unstable();
    loop {
        let mut members = group_members(pgid);
        members.sort_unstable();
        if members == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "process group {pgid}: {members:?} after {within:?}, not {want:?}"
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// `GET /` on a new connection: the body, `worker ID pid PID version V`.
pub(crate) fn ask(port: u16) -> Result<String, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| format!("read: {e}"))?;
    body(&text).ok_or_else(|| format!("not a 200 with a body: {text:?}"))
}

fn body(response: &str) -> Option<String> {
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200 ")
        .then(|| body.trim_end().to_owned())
}

/// The version in an answer: `worker 2 pid 77 version b` → `b`.
pub(crate) fn version_of(answer: &str) -> Option<&str> {
    answer.rsplit_once(" version ").map(|(_, v)| v)
}

/// The worker pid in an answer: `worker 2 pid 77 version b` → 77.
pub(crate) fn pid_of(answer: &str) -> Option<u32> {
    answer.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_new_master_and_the_answers() {
        let line = "INFO [10] Upgrade: new master [42] is ready; this master hands over \
                    and leaves (graceful exit of its workers)";
        assert_eq!(new_master(line, 10), Some(42));
        assert_eq!(new_master(line, 11), None);
        let started = "INFO [10] Upgrade: new master [42] started; waiting up to 60s";
        assert_eq!(new_master(started, 10), None);
        let response = "HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nworker 2 pid 77 version b\n";
        let answer = body(response).unwrap();
        assert_eq!(
            (version_of(&answer), pid_of(&answer)),
            (Some("b"), Some(77))
        );
        assert_eq!(body("HTTP/1.1 503 Service Unavailable\r\n\r\nbusy"), None);
        assert_eq!(version_of("worker 2 pid 77"), None);
    }

    #[test]
    fn this_process_is_alive_and_its_exited_child_is_gone() {
        assert!(wait_gone(&[std::process::id()], Duration::ZERO).is_err());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // A zombie until it is reaped below: gone already.
        wait_gone(&[pid], Duration::from_secs(10)).unwrap();
        child.wait().unwrap();
        assert!(!alive(pid));
    }
}
