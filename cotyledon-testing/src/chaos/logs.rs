//! Reading the manager's log lines during a chaos run: a second, race-free check
//! that no worker id ever has two processes (the master logs a child's death before
//! it forks the replacement, and the replacement logs "Run service" after, so in
//! the one stdout pipe they come in that order), counts of spawns and deaths, the
//! manager's own errors and warnings, and the last lines as evidence.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// How many recent lines are kept as evidence.
const TAIL: usize = 40;
/// How many notable lines (cotyledon's errors and warnings) are kept.
const NOTABLE: usize = 20;

/// Everything learnt from the log lines so far.
#[derive(Debug, Default)]
pub(crate) struct LogTracker {
    /// `(service, id)` → the pid that logged "Run service" and has not died yet.
    live: HashMap<(String, usize), i32>,
    by_pid: HashMap<i32, (String, usize)>,
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
}

impl LogTracker {
    /// Takes one line into account.
    pub(crate) fn line(&mut self, line: &str) {
        self.lines += 1;
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
        if let Some(rest) = line.strip_prefix("DEBUG:cotyledon::worker:Run service ") {
            self.run(rest, line);
        } else if let Some(rest) = line.strip_prefix("INFO:cotyledon::manager:Child ") {
            self.death(rest);
        } else if let Some(rest) = line.strip_prefix("WARN:cotyledon::manager:Child ") {
            // "Child PID was reaped by someone else"
            self.death(rest);
        }
        if line.contains("keeps dying right after start") {
            self.backoffs += 1;
        }
        if line.starts_with("ERROR:cotyledon") || line.starts_with("WARN:cotyledon") {
            self.notable_count += 1;
            if self.notable.len() < NOTABLE {
                self.notable.push(line.to_owned());
            }
        }
    }

    /// `NAME(ID) [PID]`.
    fn run(&mut self, rest: &str, line: &str) {
        self.spawns += 1;
        let Some((name, tail)) = rest.split_once('(') else {
            return;
        };
        let Some((id, tail)) = tail.split_once(") [") else {
            return;
        };
        let (Ok(id), Ok(pid)) = (
            id.parse::<usize>(),
            tail.trim_end_matches(']').parse::<i32>(),
        ) else {
            return;
        };
        let key = (name.to_owned(), id);
        if let Some(old) = self.live.insert(key.clone(), pid) {
            self.by_pid.remove(&old);
            self.duplicates.push(format!(
                "log: {name}({id}) started as {pid} while {old} had not died: {line}"
            ));
        }
        self.by_pid.insert(pid, key);
    }

    /// `PID exited with status N` | `PID killed by signal S` | `PID was reaped …`.
    fn death(&mut self, rest: &str) {
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
        if let Some(key) = self.by_pid.remove(&pid)
            && self.live.get(&key) == Some(&pid)
        {
            self.live.remove(&key);
        }
    }

    /// The last lines read, for a failure message.
    pub(crate) fn tail(&self, n: usize) -> String {
        let skip = self.tail.len().saturating_sub(n);
        let lines: Vec<&str> = self.tail.iter().skip(skip).map(String::as_str).collect();
        lines.join("\n    ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_respawn_after_the_death_is_fine_before_it_is_not() {
        let mut t = LogTracker::default();
        t.line("DEBUG:cotyledon::worker:Run service light(3) [100]");
        t.line("INFO:cotyledon::manager:Child 100 killed by signal SIGKILL");
        t.line("DEBUG:cotyledon::worker:Run service light(3) [101]");
        assert!(t.duplicates.is_empty());
        t.line("DEBUG:cotyledon::worker:Run service light(3) [102]");
        assert_eq!(t.duplicates.len(), 1);
        t.line("INFO:cotyledon::manager:Child 101 exited with status 0");
        t.line("WARN:cotyledon::manager:Child 102 was reaped by someone else");
        t.line("INFO:cotyledon::manager:Worker light(3) keeps dying right after start, respawning it in 100ms");
        assert_eq!(t.backoffs, 1);
        assert_eq!(t.spawns, 3);
        assert_eq!(t.deaths.get("SIGKILL"), Some(&1));
        assert_eq!(t.deaths.get("exit 0"), Some(&1));
        assert_eq!(t.notable_count, 1);
        assert!(t.live.is_empty());
        assert!(t.tail(2).contains("Child 102"));
    }
}
