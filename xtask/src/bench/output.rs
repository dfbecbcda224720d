//! The bench's output: the markdown document (printed, and written to
//! `BENCHMARKS.md` with `--write`) or JSON (`--json`), with the date, the machine,
//! the command and the method.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Options;
use super::procfs;
use super::report::{self, Notes, Row};
use super::subject::SUBJECTS;
use crate::project_root;

/// What the report says about the run besides the rows.
pub(crate) struct Info {
    pub(crate) command: String,
    /// "Python 3.11.7, cotyledon 2.2.0", if the python column ran.
    pub(crate) python: Option<String>,
    pub(crate) elapsed: Duration,
    pub(crate) smoke: bool,
}

/// `YYYY-MM-DD HH:MM UTC` (from the Unix time, proleptic Gregorian calendar).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `git describe --always --dirty` of the workspace, or "unknown".
fn git_rev() -> String {
    Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(project_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

const METHOD: &str = "\
## Method

- **Subjects.** The same scenario four times: one service, N trivial workers whose
  `run()` prints `run bench ID PID` and waits to be stopped, whose `reload()` prints
  `reload bench ID PID` (no restart); on SIGHUP a reload hook reconfigures the
  service from a file when one is given. *ours*: `examples/bench.rs` (release build,
  no logger); *python*: `xtask/bench/python/scenario.py` in `target/bench-venv`;
  *bare*: `xtask/bench/bare.c` (`cc -O2 -pthread`, `bare serve`): fork,
  `sigwaitinfo`, `waitpid`, no framework, single-threaded workers; *threaded*: the
  same program (`bare threaded`) whose workers each start one pthread (default
  attributes) that prints the `run` line and then blocks on a condition variable,
  the idle run thread every cotyledon worker has (SIGTERM still `_exit`s from the
  main thread). Every subject prints one line per event, with one `write`.
- **Settings.** cotyledon's defaults (respawn limiter on, graceful shutdown 60 s)
  in ours and python except `wait_interval`: 0 in every row but the start-up rows
  that say 10 ms (the default) and the idle/footprint rows (default). bare and
  threaded have no limiter and sleep `wait_interval` between two forks.
- **Runs alternate** ours, python, bare, threaded, ours, python, … in one
  invocation. A cell is the median (min–max) over the samples; ratios divide
  medians (ours/bare and ours/threaded: ours against each floor).
- **Timing.** Start: an `Instant` just before `spawn()`, or just before the signal
  request is written to a helper process that calls `kill(2)` (a pipe hop, the
  same for every subject). End: the `Instant` a reader thread got the line from
  the subject's stdout pipe, or the `Instant` `Child::wait` returned in a blocking
  thread (master exit). Nothing is polled except the scale-down (below).
- **start-up**: process start → every id `0..N` printed its `run` line.
- **respawn**: N workers (N in the row); 1.1 s after start-up (every worker older
  than 1 s, so that ours' crash-loop back-off does not apply) one SIGHUP resets the
  fork history of both limiters (they allow N+1 forks within N s, so the kills of a
  run, fewer than N, never trip them); then ids 0, 1, 2, … are SIGKILLed one at a
  time, each sample being kill → the replacement's `run` line, 20 ms apart. Median
  and p95 pool all kills. `wait_interval` is 0: with python's default, each fork
  would wait 10 ms first (ours only spaces two forks).
- **shutdown**: in the `wait_interval 0` start-up runs, 200 ms after the last `run`
  line: SIGTERM → master exited (status 0 required).
- **master SIGKILL**: N workers (`wait_interval` 0), 200 ms after start-up the
  signal helper opens a pidfd on each worker, SIGKILLs the master and times, itself
  (no pipe hop), from just before `kill(2)` to the last worker's exit (its pidfd
  readable). Each subject's workers notice the master's death their own way
  (ours: a pipe's EOF and `PR_SET_PDEATHSIG`; bare and threaded:
  `PR_SET_PDEATHSIG` with SIGTERM).
- **reload**: SIGHUP → all N `reload` lines, 50 ms between two SIGHUPs.
- **idle**: 1 s after start-up, over the idle window: the master's utime+stime
  (`/proc/PID/stat`, clock ticks), its CPU time from `schedstat` (ns, summed over
  its threads) and `voluntary_ctxt_switches` summed over `/proc/PID/task/*/status`.
- **footprint**: right after the idle window, `Rss` and `Pss` from
  `/proc/PID/smaps_rollup`; worker = mean over the N workers.
- **scale**: `wait_interval` 0; the count is written to a file, then SIGHUP.
  Down is done when the master has N children left (`/proc/PID/task/*/children`
  read every 1 ms: workers are not the bench's children); up when ids N..BIG
  printed `run`. Check, 300 ms later: the master's children are exactly BIG
  processes whose `run` lines give ids 0..BIG-1 once each, and no `run` line was
  printed beyond the expected ones (no respawn storm).
- **Cleanup** after every run: SIGKILL to the subject's process group, reap the
  master, wait until no process of the group is left. The bench runs under a
  child subreaper (`bare reaper`) so that orphaned workers are reaped even where
  PID 1 does not reap.
";

const ANALYSIS: &str = "\
## Where ours is above 2× bare, and why

Profiled with `strace -c -f` on the master and workers and `perf record -a -g`
(2026-11-30). The master is not the cost: per worker death it makes three system
calls (`kill`, a `waitid(WNOWAIT)` peek, `wait4`) against bare's two, and perf puts
about 2% of the CPU in it. The gap is in the workers. The *threaded* floor splits
it in two: what a worker pays for holding the run thread the contract requires
(threaded over bare), and what ours does beyond that (ours over threaded).

- **shutdown, scale-down** (about 1.9–2.6× bare, 1.6–2.1× threaded): an idle
  thread slows the exit little (threaded is 1.0–1.3× bare), so most of the gap is
  ours' own work. On SIGTERM a bare worker just dies; ours logs, marks its
  `Context` as stopping (which wakes and ends the `run()` thread), starts a
  `terminate()` thread and exits from it with `terminate()`'s status. The extra
  thread creation (stack and sigaltstack mappings, a malloc arena on the first
  allocation) and the teardown of a 3-thread process with ~36 mappings (bare:
  1 thread, ~24) show up in perf as `unmap_page_range`, page faults and /proc
  teardown: roughly 100 µs of CPU per worker, which on 2 cores and 1000 workers is
  the difference.
- **start-up, scale-up** at N=100/1000 (about 1.8–2.1× bare, 1.4–1.6× threaded):
  starting the run thread is about half of it (threaded is 1.2–1.5× bare there);
  each worker of ours also builds its service. The per-spawn work in the master
  was already cut to the fork itself (argv area read once, no per-spawn /proc
  reads, one spawn per loop turn with the signal pipe checked in between).
- **footprint** (PSS about 2.3× bare, 1.6–2× threaded): small in absolute terms,
  about 0.2 MiB for the master and per worker; not profiled.
- The 2-core machine is shared with other builds: rows move by ±30% between runs,
  more at N=1000 and where a build overlapped a few runs (see the min–max; the
  respawn p95 and the start-up N=1 rows took such outliers).

What moved in the runs of 2026-11-30 (median, ours/bare): reload round-trip 2.35×
→ 1.68× (one reload thread per worker, reused for every SIGHUP, instead of a thread
per SIGHUP); scale-down 1000→10 3.75× → 2.4–2.6× (workers scaled away by a reload
hook get SIGTERM at once instead of a SIGHUP first); shutdown N=100 2.78× →
2.3× (the `terminate()` thread exits the process itself; a `run()` that returns
`Ok` no longer wakes the main thread). Before the first measurement, reaping was
made O(1) per death (a `waitid` peek) instead of a `waitpid` on every worker, which
made shutdown at N=1000 quadratic.
";

const PYTHON_NOTES: &str = "\
## Python cotyledon's failures (observed with cotyledon 2.2.0)

- Workers wait in `select.select()`, which cannot watch a file descriptor ≥ 1024
  (FD_SETSIZE). Each worker inherits the master's descriptors (about two per
  worker already started), so from roughly the 500th worker on, new workers die
  right after start (their `run()` thread may still print) with `ValueError:
  filedescriptor out of range in select()`; the respawns then trip the limiter
  (5 s pauses). N=1000 never comes up: the rows that need it are skipped.
- `sm.reconfigure()` from an `on_reload` hook only records the new count: workers
  are added or stopped by the supervisor thread, which only wakes on SIGCHLD. With
  a `reload()` that does not restart the worker, nothing happens.
";

pub(crate) fn emit(
    info: &Info,
    rows: &[Row],
    available: [bool; SUBJECTS],
    opts: Options,
) -> Result<(), String> {
    let mut notes = Notes::default();
    let table = report::table(rows, available, &mut notes);
    let python = info.python.clone().unwrap_or_else(|| {
        if info.smoke {
            "not run (--smoke)"
        } else {
            "unavailable or not run"
        }
        .to_owned()
    });
    let mut doc = format!(
        "# Benchmarks\n\n\
         Whole-process figures of cotyledon-rs (*ours*) next to Python cotyledon \
         (*python*) and two floors: a bare C program (*bare*) and the same whose \
         workers each hold one idle thread (*threaded*, the cost of the run thread \
         every cotyledon worker has). Generated by `cargo xtask bench`; see the \
         method below.\n\n\
         - Date: {}\n- Machine: {}\n- Command: `{}`\n- Revision: {}\n\
         - Python: {python}\n- Duration of the run: {:.0} s\n\n## Results\n\n{table}",
        utc_now(),
        procfs::machine(),
        info.command,
        git_rev(),
        info.elapsed.as_secs_f64(),
    );
    if !notes.0.is_empty() {
        doc.push('\n');
        for (i, note) in notes.0.iter().enumerate() {
            doc.push_str(&format!("[^{}]: {}\n", i + 1, note.replace('\n', " ")));
        }
    }
    doc.push('\n');
    doc.push_str(ANALYSIS);
    doc.push('\n');
    doc.push_str(METHOD);
    let python_failed = available[1] && rows.iter().any(|r| !r.cells[1].errors.is_empty());
    if python_failed {
        doc.push('\n');
        doc.push_str(PYTHON_NOTES);
    }

    if opts.json {
        let json = format!(
            "{{\n  \"date\": {},\n  \"machine\": {},\n  \"command\": {},\n  \"revision\": {},\n  \
             \"python\": {},\n  \"elapsed_s\": {:.1},\n  \"rows\": {}\n}}",
            report::json_str(&utc_now()),
            report::json_str(&procfs::machine()),
            report::json_str(&info.command),
            report::json_str(&git_rev()),
            report::json_str(&python),
            info.elapsed.as_secs_f64(),
            report::json_rows(rows, available)
        );
        println!("{json}");
    } else {
        println!("{doc}");
    }
    if opts.write {
        let path = project_root().join("BENCHMARKS.md");
        std::fs::write(&path, doc).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_shape() {
        let d = super::utc_now();
        assert_eq!(d.len(), "2025-01-01 00:00 UTC".len());
        assert!(d.starts_with("20"));
    }
}
