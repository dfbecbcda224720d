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
pub(crate) fn utc_now() -> String {
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
pub(crate) fn git_rev() -> String {
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
- **watchdog** (ours only: issue 10's targets, met when *every* sample is within
  them): `bench watchdog 500`, one worker, cotyledon's defaults and
  `heartbeat_timeout` 500 ms (T). The worker beats every 10 ms from `run()` on,
  then stops and prints the `CLOCK_MONOTONIC` time of its last beat, in turn:
  *hung* (after 1 s of beats, sleeps in `run()` ignoring the stop: the SIGABRT
  ends it), *frozen* (after 1 s, SIGSTOPs itself: the SIGABRT stays pending and
  the SIGKILL 200 ms later ends it, the worst case the target allows for), and
  *early* (hung after 50 ms: counted with hung). The signal helper holds a pidfd
  on the worker, waits on it at real-time priority (`SCHED_FIFO` 1, so that a
  busy CPU does not delay its wake-up) and answers the `CLOCK_MONOTONIC` time it
  saw the worker die; the replacement prints its time on entering `run()`: one
  clock, no pipe hop.
  Respawn rows: after a worker that lived over 1 s (the target's case), and after
  an early one, which died before it was 1 s old: a crash by the back-off's rule
  (any unasked abnormal death within 1 s of the fork), so its replacement waits
  the first crash back-off delay, 100 ms (doubling if it keeps dying), by design;
  with T ≥ 1 s a watchdog kill never counts as one. One master, 15 stalls (smoke:
  3) in a row.
- **Cleanup** after every run: SIGKILL to the subject's process group, reap the
  master, wait until no process of the group is left. The bench runs under a
  child subreaper (`bare reaper`) so that orphaned workers are reaped even where
  PID 1 does not reap.
";

const ANALYSIS: &str = "\
## Against the targets, and why

The targets of issue 11, read in this run (started at load 0.98 on an otherwise
idle machine; the bench's own 1000-worker runs raise the load as it goes):
start-up N=10/100/500/1000 at 1.35–1.47× threaded and 1.63–1.86× bare (targets
1.5× and 2×: met); shutdown N=10/100/1000 at 1.34–1.48× threaded and 1.71–1.80×
bare (met; N=500, not a target, 1.52× and 2.05×); respawn 1.43× bare (target
1.5×: met, threaded itself is 1.38×); idle master wake-ups 0; master RSS 2.2 MiB
(< 3 MiB); worker PSS 0.18 MiB (< 0.3 MiB). One row stays above its target:
**master SIGKILL → 200 workers gone, 16.4 ms** (target 15 ms; threaded 11.5,
bare 8.8; 13–16 ms in quieter runs of the same binary).

What moved (the same bench, no python column, run on the revision before this
work, d84ab96, then on this one; ours, and ours/threaded):

| figure | before | after |
|---|---:|---:|
| start-up N=100 | 20.2 ms, 1.50× | 13.1 ms, 1.42× |
| start-up N=1000 | 128 ms, 1.62× | 120 ms, 1.47× |
| respawn median | 0.492 ms (1.93× bare) | 0.476 ms (1.43× bare) |
| shutdown N=10 | 2.80 ms, 2.34× | 1.08 ms, 1.41× |
| shutdown N=100 | 13.1 ms, 1.92× | 7.96 ms, 1.48× |
| shutdown N=1000 | 132 ms, 2.27× | 83.6 ms, 1.34× |
| master SIGKILL → 200 gone | 20.0 ms, 2.03× | 16.4 ms, 1.42× |
| scale 1000→10 | 115 ms, 1.92× | 77.7 ms, 1.33× |

- **`terminate()` on the run thread when it is free** (run() returned, or
  returns within 50 ms of being woken from `wait_for_stop`/`wait_timeout` by
  the stop; a thread of its own only otherwise): the shutdown rows. `perf record
  -a -g` (20 kHz) over the SIGTERM of 3 × 200 workers puts a worker's exit at 293
  µs of CPU before (address-space teardown 39%, creating the `terminate()`
  thread and running it 21%, cross-CPU TLB-flush IPIs 5%), 190 µs after
  (teardown 53%, TLB-flush IPIs 5%, no thread created), threaded 146 µs.
- **The run thread started with `pthread_create` alone**: `std::thread` looks
  up `RUST_MIN_STACK` and `__pthread_get_minstack` (a symbol look-up that faults
  in libc's symbol tables in every worker, since the master never started a
  thread), calls `pthread_getattr_np` (whose allocation makes glibc create a
  malloc arena: four `mmap`-family calls, their TLB flushes, two more mappings
  to tear down) and maps a signal stack. A fork-then-thread micro-benchmark
  (500 forks, child CPU from `getrusage`) put that at about 50 µs of CPU per
  worker (std 205 µs, raw 150 µs, no thread 65 µs); in the bench it is most of
  the start-up gain and a tenth of a worker's CPU over its life (rusage of the
  whole run, N=1000: 481 → 427 µs per worker; threaded 313).
- The worker's loop no longer allocates per turn. Start-up work that causes
  copy-on-write faults after the run thread starts was looked for and not
  found to matter: `/proc/interrupts` counts about 10 TLB shootdowns for 1000
  start-ups (hundreds at shutdown); a worker takes 54 page faults up to its
  `run` line against threaded's 42, all but the shared-region slot before the
  run thread exists. Threads are pinned to nothing (no affinity is set).
- Tried and not kept: smaller stacks for the `terminate()` and `reload()`
  threads (no measurable difference, 64 KiB to 2 MiB: the mapping costs the same
  and only touched pages count; and both run user code, `reload()` of an async
  service a whole `block_on`); dropping the main thread's parent-death signal
  once the run thread has its own (one signal per worker instead of two at the
  master's death: 16.0 vs 16.3 ms over 21 alternated runs, noise).

**Master SIGKILL, above 15 ms.** On the master's death the kernel reparents the
workers and signals them (bare's whole cost, 8.8 ms for 200); every worker then
runs the SIGTERM path (\"Parent process has died…\", the stop, `terminate()`).
`perf record -a -g` over the kill of 3 × 200 workers: 188 µs of CPU per worker
against threaded's 139. The difference: tearing down a bigger address space
(`exit_mmap` +21 µs: the Rust binary's text mapped by fault-around, libgcc_s,
the shared region; worker RSS 1.8 MiB against 1.3), the self-pipe loop waking
from `poll` (+19 µs against `sigtimedwait`'s 8; DESIGN.md §6), waking the run
thread that exits (+5 µs of futex wake), the first clock read's page fault and
the clock reads of the timeouts (+6 µs). About 50 µs × 200 workers on 2 cores is
the 5 ms between ours and threaded. What is left is the worker contract (a
self-pipe loop, a kill-switch timer, a run thread that exits with `terminate()`'s
value), not work it could skip.

**Start-up and respawn, where the rest of the gap is.** The master's fork loop
is the critical path of start-up at N=500/1000: perf on the master puts about
150 µs of samples per fork (`_Fork` 96: `dup_mmap` 63, `copy_page_range` 23; and
33 of copy-on-write faults the master takes on the pages it writes between two
forks). The master was not changed here. A worker's own start, fork to `run`
line (perf `sched_process_fork` to its `write`, median of 25 respawns): ours
207 µs, threaded 170, bare 99: the run thread is most of the floor's cost; ours
adds the self-pipe, the kill-switch timer, the parent-death watch, the title and
the ready notice (about 20 more system calls) and 12 more page faults.

The 2-core machine is shared with other builds: rows move by ±30% between runs,
more at N=1000 and where another load overlapped a few runs (see the min–max).
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
        // The section `cargo xtask load --write` keeps there stays.
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let doc = crate::load::section::keep(&doc, &old);
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
