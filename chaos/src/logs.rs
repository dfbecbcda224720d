//! Reading the manager's log lines during a chaos run: a second, race-free check
//! that no worker id ever has two processes (the master logs a child's death before
//! it forks the replacement, and the replacement logs "Run service" after, so in
//! the one stdout pipe they come in that order), counts of spawns and deaths, the
//! id-recovery latencies ([`Recovery`]), when the master logged the signals it
//! caught, the manager's own errors and warnings, and the last lines as evidence.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use super::procfs::SERVICES;
use super::recovery::Recovery;

/// How many recent lines are kept as evidence.
const TAIL: usize = 40;
/// How many notable lines (cotyledon's errors and warnings) are kept.
const NOTABLE: usize = 20;

/// The master's line for a SIGHUP it serves, and for the SIGTERM.
const CAUGHT_SIGHUP: &str = "DEBUG:cotyledon::manager:Caught SIGHUP signal, reloading services";
const CAUGHT_SIGTERM: &str =
    "INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master process";

/// Everything learnt from the log lines so far.
#[derive(Debug)]
pub(crate) struct LogTracker {
    /// `(service, id)` → the pid that logged "Run service" and has not died yet.
    live: HashMap<(usize, usize), i32>,
    by_pid: HashMap<i32, (usize, usize)>,
    tail: VecDeque<String>,
    /// "Run service" lines.
    pub(crate) spawns: usize,
    /// "Child PID exited with status N" by N, "killed by signal S" by S.
    pub(crate) deaths: BTreeMap<String, usize>,
    /// An id run by a second pid while the first had not died.
    pub(crate) duplicates: Vec<String>,
    /// ERROR and WARN lines of cotyledon's own targets (the first few).
    pub(crate) notable: Vec<String>,
    pub(crate) notable_count: usize,
    /// "keeps dying right after start" lines: respawns delayed by the back-off.
    pub(crate) backoffs: usize,
    pub(crate) lines: usize,
    /// Deaths and respawns, timed.
    pub(crate) recovery: Recovery,
    /// When the master's "Caught SIGHUP" and "Caught SIGTERM" lines were read.
    pub(crate) hup_lines: Vec<Instant>,
    pub(crate) term_lines: Vec<Instant>,
}

impl LogTracker {
    /// A tracker for services that start with `desired` workers.
    pub(crate) fn new(desired: [usize; 3]) -> Self {
        LogTracker {
            live: HashMap::new(),
            by_pid: HashMap::new(),
            tail: VecDeque::new(),
            spawns: 0,
            deaths: BTreeMap::new(),
            duplicates: Vec::new(),
            notable: Vec::new(),
            notable_count: 0,
            backoffs: 0,
            lines: 0,
            recovery: Recovery::new(desired),
            hup_lines: Vec::new(),
            term_lines: Vec::new(),
        }
    }

    /// Takes into account one line, read at `at`.
    pub(crate) fn line(&mut self, at: Instant, line: &str) {
        self.lines += 1;
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
        if let Some(rest) = line.strip_prefix("DEBUG:cotyledon::worker:Run service ") {
            self.run(at, rest, line);
        } else if let Some(rest) = line.strip_prefix("INFO:cotyledon::manager:Child ") {
            self.death(at, rest);
        } else if let Some(rest) = line.strip_prefix("WARN:cotyledon::manager:Child ") {
            // "Child PID was reaped by someone else"
            self.death(at, rest);
        } else if let Some(rest) = line.strip_prefix("INFO:cotyledon::manager:Worker ")
            && let Some((who, _)) = rest.split_once(" keeps dying right after start")
        {
            self.backoffs += 1;
            if let Some((key, _)) = worker_key(who) {
                self.recovery.backoff(key);
            }
        } else if line == CAUGHT_SIGHUP {
            self.hup_lines.push(at);
        } else if line == CAUGHT_SIGTERM {
            self.term_lines.push(at);
        }
        if line.starts_with("ERROR:cotyledon") || line.starts_with("WARN:cotyledon") {
            self.notable_count += 1;
            if self.notable.len() < NOTABLE {
                self.notable.push(line.to_owned());
            }
        }
    }

    /// `NAME(ID) [PID]`.
    fn run(&mut self, at: Instant, rest: &str, line: &str) {
        self.spawns += 1;
        let Some((key, tail)) = worker_key(rest) else {
            return;
        };
        let Some(Ok(pid)) = tail
            .strip_prefix(" [")
            .map(|t| t.trim_end_matches(']').parse::<i32>())
        else {
            return;
        };
        self.recovery.run(at, key);
        let (name, id) = (SERVICES[key.0], key.1);
        if let Some(old) = self.live.insert(key, pid) {
            self.by_pid.remove(&old);
            self.duplicates.push(format!(
                "log: {name}({id}) started as {pid} while {old} had not died: {line}"
            ));
        }
        self.by_pid.insert(pid, key);
    }

    /// `PID exited with status N` | `PID killed by signal S` | `PID was reaped …`.
    fn death(&mut self, at: Instant, rest: &str) {
        let mut words = rest.split_whitespace();
        let Some(Ok(pid)) = words.next().map(str::parse::<i32>) else {
            return;
        };
        let how: Vec<&str> = words.collect();
        let what = match how.as_slice() {
            ["exited", "with", "status", n] => format!("exit {n}"),
            ["killed", "by", "signal", s] => (*s).to_owned(),
            _ => "reaped by someone else".to_owned(),
        };
        *self.deaths.entry(what).or_default() += 1;
        let key = self.by_pid.remove(&pid);
        if let Some(key) = key
            && self.live.get(&key) == Some(&pid)
        {
            self.live.remove(&key);
        }
        self.recovery.death(at, pid, key);
    }

    /// The last lines read, for a failure message.
    pub(crate) fn tail(&self, n: usize) -> String {
        let skip = self.tail.len().saturating_sub(n);
        let lines: Vec<&str> = self.tail.iter().skip(skip).map(String::as_str).collect();
        lines.join("\n    ")
    }
}

/// `NAME(ID)…` of a service of `chaos_app`: `((service, id), the rest)`.
fn worker_key(text: &str) -> Option<((usize, usize), &str)> {
    let (name, tail) = text.split_once('(')?;
    let (id, rest) = tail.split_once(')')?;
    let service = SERVICES.iter().position(|s| *s == name)?;
    Some(((service, id.parse().ok()?), rest))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_respawn_after_the_death_is_fine_before_it_is_not() {
        let at = Instant::now();
        let mut t = LogTracker::new([5, 5, 5]);
        t.line(at, "DEBUG:cotyledon::worker:Run service light(3) [100]");
        t.line(
            at,
            "INFO:cotyledon::manager:Child 100 killed by signal SIGKILL",
        );
        t.line(at, "DEBUG:cotyledon::worker:Run service light(3) [101]");
        assert!(t.duplicates.is_empty());
        t.line(at, "DEBUG:cotyledon::worker:Run service light(3) [102]");
        assert_eq!(t.duplicates.len(), 1);
        t.line(at, "INFO:cotyledon::manager:Child 101 exited with status 0");
        t.line(
            at,
            "WARN:cotyledon::manager:Child 102 was reaped by someone else",
        );
        t.line(at, "INFO:cotyledon::manager:Worker light(3) keeps dying right after start, respawning it in 100ms");
        assert_eq!(t.backoffs, 1);
        assert_eq!(t.spawns, 3);
        assert_eq!(t.deaths.get("SIGKILL"), Some(&1));
        assert_eq!(t.deaths.get("exit 0"), Some(&1));
        assert_eq!(t.notable_count, 1);
        assert!(t.live.is_empty());
        assert!(t.tail(2).contains("Child 102"));
    }

    #[test]
    fn times_recoveries_and_the_signals_the_master_caught() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = LogTracker::new([5, 5, 5]);
        t.line(t0, "DEBUG:cotyledon::worker:Run service heavy(1) [100]");
        t.line(t0, "DEBUG:cotyledon::worker:Run service steady(4) [101]");
        t.line(t0 + ms(1), CAUGHT_SIGHUP);
        t.line(
            t0 + ms(2),
            "INFO:cotyledon::manager:Child 100 exited with status 42",
        );
        t.line(t0 + ms(2), "INFO:cotyledon::manager:Worker heavy(1) keeps dying right after start, respawning it in 100ms");
        t.line(
            t0 + ms(3),
            "INFO:cotyledon::manager:Child 101 killed by signal SIGKILL",
        );
        t.line(
            t0 + ms(5),
            "DEBUG:cotyledon::worker:Run service steady(4) [102]",
        );
        t.line(
            t0 + ms(9),
            "DEBUG:cotyledon::worker:Run service heavy(1) [103]",
        );
        // A worker's own SIGTERM line is not the master's.
        t.line(
            t0 + ms(10),
            "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service heavy(1)",
        );
        t.line(t0 + ms(11), CAUGHT_SIGTERM);
        assert_eq!(t.recovery.normal, vec![ms(2)]);
        assert_eq!(t.recovery.delayed, vec![ms(7)]);
        assert_eq!(
            (t.hup_lines.clone(), t.term_lines.clone()),
            (vec![t0 + ms(1)], vec![t0 + ms(11)])
        );
    }
}
