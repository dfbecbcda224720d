//! The lines of the example's log that `cargo xtask load` reads (`LEVEL [PID]
//! message`): a worker's `http worker ID serving` (it accepts connections) and
//! `http worker ID drained: N requests served` (terminate() finished); the
//! master's `Child PID exited with status N` / `Child PID killed by signal S`,
//! `Forking too fast, sleeping` and `Recycling worker NAME(ID) [PID]: REASON`.

use std::collections::HashSet;

/// How a worker left, from the master's log.
#[derive(Debug, PartialEq)]
pub(crate) enum Exit {
    Status(i32),
    Signal(String),
}

/// `INFO [PID] message` → (PID, message).
fn split(line: &str) -> Option<(u32, &str)> {
    let rest = line.split_once(" [")?.1;
    let (pid, message) = rest.split_once("] ")?;
    Some((pid.parse().ok()?, message))
}

/// The pids whose message `said` accepts.
fn pids_saying(lines: &[String], said: impl Fn(&str) -> bool) -> HashSet<u32> {
    lines
        .iter()
        .filter_map(|l| split(l))
        .filter(|(_, m)| said(m))
        .map(|(pid, _)| pid)
        .collect()
}

/// The pids that logged `http worker ID serving`.
pub(crate) fn serving_pids(lines: &[String]) -> HashSet<u32> {
    pids_saying(lines, |m| {
        m.starts_with("http worker ") && m.ends_with(" serving")
    })
}

/// A worker's exit logged by the master: (worker pid, how).
fn exit(line: &str) -> Option<(u32, Exit)> {
    let rest = split(line)?.1.strip_prefix("Child ")?;
    let (pid, how) = rest.split_once(' ')?;
    let pid = pid.parse().ok()?;
    if let Some(code) = how.strip_prefix("exited with status ") {
        Some((pid, Exit::Status(code.parse().ok()?)))
    } else {
        let sig = how.strip_prefix("killed by signal ")?;
        Some((pid, Exit::Signal(sig.to_owned())))
    }
}

/// The workers' exits logged by the master: (worker pid, how).
pub(crate) fn exits(lines: &[String]) -> Vec<(u32, Exit)> {
    lines.iter().filter_map(|l| exit(l)).collect()
}

/// The sum of `N` over `http worker ID drained: N requests served`.
pub(crate) fn served(lines: &[String]) -> u64 {
    lines
        .iter()
        .filter_map(|l| split(l))
        .filter_map(|(_, m)| {
            let n = m
                .split_once(" drained: ")?
                .1
                .strip_suffix(" requests served")?;
            n.parse::<u64>().ok()
        })
        .sum()
}

/// How many times the master paused forking ("Forking too fast, sleeping").
pub(crate) fn fork_pauses(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.ends_with("Forking too fast, sleeping"))
        .count()
}

/// A recycle the master started: `Recycling worker NAME(ID) [PID]: REASON`.
#[derive(Debug, PartialEq)]
pub(crate) struct Recycle {
    /// Its line, in the lines given.
    pub(crate) line: usize,
    pub(crate) worker: usize,
    pub(crate) pid: u32,
}

/// The recycles started, in order.
pub(crate) fn recycles(lines: &[String]) -> Vec<Recycle> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(line, text)| {
            let rest = split(text)?.1.strip_prefix("Recycling worker ")?;
            let (worker, rest) = rest.split_once('(')?.1.split_once(')')?;
            let pid = rest.strip_prefix(" [")?.split_once(']')?.0;
            Some(Recycle {
                line,
                worker: worker.parse().ok()?,
                pid: pid.parse().ok()?,
            })
        })
        .collect()
}

/// The pids that logged `http worker ID drained: ...`.
pub(crate) fn drained_pids(lines: &[String]) -> HashSet<u32> {
    pids_saying(lines, |m| {
        m.starts_with("http worker ") && m.contains(" drained: ")
    })
}

/// The line where `recycle` was over: the first `http worker ID serving` of
/// another process for its id, after the master logged the recycled worker's
/// exit. The example logs `serving` just before it tells the master it is ready.
pub(crate) fn replaced_at(lines: &[String], recycle: &Recycle) -> Option<usize> {
    let after = recycle.line + 1;
    let exited = after
        + lines
            .get(after..)?
            .iter()
            .position(|l| exit(l).is_some_and(|(p, _)| p == recycle.pid))?;
    let serving = format!("http worker {} serving", recycle.worker);
    let replaced = lines
        .get(exited + 1..)?
        .iter()
        .position(|l| split(l).is_some_and(|(pid, m)| pid != recycle.pid && m == serving))?;
    Some(exited + 1 + replaced)
}

/// Checks that each recycle started only once the previous one was over (see
/// [`replaced_at`]).
pub(crate) fn one_at_a_time(lines: &[String], recycles: &[Recycle]) -> Result<(), String> {
    for pair in recycles.windows(2) {
        let (done, next) = (&pair[0], &pair[1]);
        if replaced_at(lines, done).is_none_or(|at| at >= next.line) {
            return Err(format!(
                "worker {} [{}] recycled before worker {} [{}] had exited and been \
                 replaced",
                next.worker, next.pid, done.worker, done.pid
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn reads_the_example_log() {
        let log = lines(
            "INFO [1748] http_server on http://127.0.0.1:18080 with 4 workers
INFO [1750] http worker 0 serving
INFO [1754] http worker 1 serving
INFO [1758] Caught SIGTERM signal, graceful exiting of service http(2) [1758]
INFO [1758] http worker 2 drained: 71916 requests served
INFO [1750] http worker 0 drained: 12205 requests served
INFO [1748] Child 1758 exited with status 0
INFO [1748] Child 1750 killed by signal SIGKILL
INFO [1748] Forking too fast, sleeping",
        );
        assert_eq!(serving_pids(&log), HashSet::from([1750, 1754]));
        assert_eq!(
            exits(&log),
            [
                (1758, Exit::Status(0)),
                (1750, Exit::Signal("SIGKILL".to_owned()))
            ]
        );
        assert_eq!(served(&log), 71916 + 12205);
        assert_eq!(fork_pauses(&log), 1);
        assert_eq!(drained_pids(&log), HashSet::from([1758, 1750]));
    }

    #[test]
    fn reads_recycles_and_their_order() {
        let log = lines(
            "INFO [10] Recycling worker http(0) [11]: lifetime reached (1s)
INFO [11] http worker 0 drained: 5 requests served
INFO [10] Child 11 exited with status 0
INFO [15] http worker 0 serving
INFO [10] Recycling worker http(1) [12]: lifetime reached (1.125s)
INFO [10] Child 12 exited with status 0
INFO [10] Recycling worker http(2) [13]: lifetime reached (1.25s)",
        );
        let found = recycles(&log);
        let want = [(0, 0, 11), (4, 1, 12), (6, 2, 13)];
        let got: Vec<_> = found.iter().map(|r| (r.line, r.worker, r.pid)).collect();
        assert_eq!(got, want);
        assert_eq!(one_at_a_time(&log, &found[..2]), Ok(()));
        assert_eq!(replaced_at(&log, &found[0]), Some(3));
        assert_eq!(replaced_at(&log, &found[1]), None);
        // Worker 1's replacement never served before worker 2's recycle.
        let err = one_at_a_time(&log, &found).unwrap_err();
        assert!(
            err.starts_with("worker 2 [13] recycled before worker 1 [12]"),
            "{err}"
        );
    }
}
