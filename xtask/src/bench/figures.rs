//! One run of each figure against one subject: start it, drive it with signals,
//! time it from its stdout lines and its exit, read `/proc`. The subject is killed
//! (process group) when the run's [`Proc`] is dropped, error or not.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::procfs;
use super::signaller::{SIGHUP, SIGKILL, SIGTERM, Signaller};
use super::subject::{Kind, Proc, Programs};

/// Pause before signalling a subject whose workers all entered `run()`, so that
/// the master has finished its own bookkeeping.
const SETTLE: Duration = Duration::from_millis(200);

/// Everything a run needs, plus the subjects that failed to start N workers (not
/// tried again with N workers).
pub(crate) struct Bench {
    pub(crate) programs: Programs,
    pub(crate) signaller: Rc<RefCell<Signaller>>,
    pub(crate) scratch: PathBuf,
    broken: HashMap<(Kind, usize), String>,
}

/// A subject whose N workers have all entered `run()`.
pub(crate) struct Up {
    pub(crate) proc: Proc,
    pub(crate) ready: Instant,
    /// Worker id → pid of its latest `run` line.
    pub(crate) pids: HashMap<usize, u32>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Bench {
    pub(crate) fn new(programs: Programs, scratch: PathBuf) -> Bench {
        let signaller = Rc::new(RefCell::new(Signaller::start(programs.bare.as_ref())));
        Bench {
            programs,
            signaller,
            scratch,
            broken: HashMap::new(),
        }
    }

    pub(crate) fn available(&self, kind: Kind) -> bool {
        match kind {
            Kind::Ours => true,
            Kind::Python => self.programs.python.is_some(),
            Kind::Bare | Kind::Threaded => self.programs.bare.is_some(),
        }
    }

    /// Starts `kind` with `n` workers and waits until each id `0..n` entered run().
    pub(crate) fn start(
        &mut self,
        kind: Kind,
        n: usize,
        wait_ms: u64,
        scale: Option<&Path>,
    ) -> Result<Up, String> {
        if let Some(why) = self.broken.get(&(kind, n)) {
            return Err(format!(
                "skipped: an earlier start of {n} workers failed ({why})"
            ));
        }
        let cmd = self
            .programs
            .command(kind, n, wait_ms, scale)
            .ok_or("subject unavailable")?;
        let mut proc = Proc::spawn(kind, cmd, &self.signaller)?;
        let deadline = proc.started + Duration::from_millis(10_000 + 3 * wait_ms * n as u64);
        let mut pids = HashMap::new();
        let what = format!("{n} workers in run()");
        let ready = proc.until(deadline, &what, |l| {
            if !l.reload && l.id < n {
                pids.insert(l.id, l.pid);
            }
            pids.len() == n
        });
        match ready {
            Ok(ready) => Ok(Up { proc, ready, pids }),
            Err(e) => {
                let short = format!("{} of {n} worker ids printed `run`", pids.len());
                self.broken.insert((kind, n), short.clone());
                Err(format!("{e} ({short})"))
            }
        }
    }
}

/// Start-up (process start → every worker in run()), then, if asked, shutdown
/// (SIGTERM → master exited).
pub(crate) fn startup(
    b: &mut Bench,
    kind: Kind,
    n: usize,
    wait_ms: u64,
    shutdown: bool,
) -> (Result<f64, String>, Result<f64, String>) {
    let mut up = match b.start(kind, n, wait_ms, None) {
        Ok(up) => up,
        Err(e) => return (Err(e.clone()), Err(e)),
    };
    let start = ms(up.ready - up.proc.started);
    if !shutdown {
        return (Ok(start), Err("not measured".into()));
    }
    std::thread::sleep(SETTLE);
    let stop = (|| {
        let sent = up.proc.signal(SIGTERM)?;
        let (exited, status) = up.proc.wait_exit(sent + Duration::from_secs(90))?;
        if status != "exit status: 0" {
            return Err(format!("master ended with {status}"));
        }
        Ok(ms(exited - sent))
    })();
    (Ok(start), stop)
}

/// Master SIGKILL → every worker gone: the helper watches each worker (a pidfd)
/// and times from just before `kill(2)` to the last worker's exit.
pub(crate) fn master_kill(b: &mut Bench, kind: Kind, n: usize) -> Result<f64, String> {
    let up = b.start(kind, n, 0, None)?;
    std::thread::sleep(SETTLE);
    let mut signaller = b.signaller.borrow_mut();
    for pid in up.pids.values() {
        signaller.watch(*pid)?;
    }
    let took = signaller.kill_and_wait(SIGKILL, up.proc.pid, Duration::from_secs(10))?;
    drop(signaller);
    Ok(ms(took))
}

/// Respawn latency: SIGKILL a worker → its replacement (same id) is in run().
/// Every killed worker has lived over 1 s (so no crash-loop back-off applies) and a
/// SIGHUP first resets the fork-rate history, so that the limiter (on in ours and
/// python, cotyledon's default) does not trip for fewer than N + 1 forks.
pub(crate) fn respawn(
    b: &mut Bench,
    kind: Kind,
    n: usize,
    kills: usize,
) -> Result<Vec<f64>, String> {
    let Up {
        mut proc, mut pids, ..
    } = b.start(kind, n, 0, None)?;
    std::thread::sleep(Duration::from_millis(1100));
    let sent = proc.signal(SIGHUP)?;
    let mut reloaded = HashSet::new();
    proc.until(sent + Duration::from_secs(10), "reload lines", |l| {
        l.reload && reloaded.insert(l.id) && reloaded.len() == n
    })?;
    std::thread::sleep(Duration::from_millis(50));
    let mut latencies = Vec::new();
    for k in 0..kills {
        let id = k % n;
        let old = pids[&id];
        let sent = proc.signal_pid(SIGKILL, old)?;
        let mut new = old;
        let back = proc.until(sent + Duration::from_secs(10), "respawn", |l| {
            if !l.reload && l.id == id && l.pid != old {
                new = l.pid;
            }
            new != old
        })?;
        pids.insert(id, new);
        latencies.push(ms(back - sent));
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(latencies)
}

/// Reload round-trip: SIGHUP → every worker has printed its reload line.
pub(crate) fn reload(
    b: &mut Bench,
    kind: Kind,
    n: usize,
    count: usize,
) -> Result<Vec<f64>, String> {
    let Up { mut proc, .. } = b.start(kind, n, 0, None)?;
    std::thread::sleep(SETTLE);
    let mut trips = Vec::new();
    for _ in 0..count {
        let sent = proc.signal(SIGHUP)?;
        let mut seen = HashSet::new();
        let done = proc.until(sent + Duration::from_secs(10), "reload lines", |l| {
            l.reload && seen.insert(l.id) && seen.len() == n
        })?;
        trips.push(ms(done - sent));
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(trips)
}

/// The idle and footprint figures of one run.
pub(crate) struct Idle {
    pub(crate) cpu_ms: f64,
    pub(crate) sched_us: f64,
    pub(crate) switches: f64,
    pub(crate) master_rss: f64,
    pub(crate) master_pss: f64,
    pub(crate) worker_rss: f64,
    pub(crate) worker_pss: f64,
}

/// Idle cost of the master over `secs` with `n` workers (default settings), then
/// the footprint of master and workers.
pub(crate) fn idle(b: &mut Bench, kind: Kind, n: usize, secs: u64) -> Result<Idle, String> {
    let up = b.start(kind, n, 10, None)?;
    std::thread::sleep(Duration::from_secs(1));
    let pid = up.proc.pid;
    let gone = || format!("cannot read /proc/{pid}");
    let (c0, s0, v0) = (
        procfs::cpu_ticks(pid).ok_or_else(gone)?,
        procfs::sched_ns(pid).ok_or_else(gone)?,
        procfs::voluntary_switches(pid).ok_or_else(gone)?,
    );
    std::thread::sleep(Duration::from_secs(secs));
    let (c1, s1, v1) = (
        procfs::cpu_ticks(pid).ok_or_else(gone)?,
        procfs::sched_ns(pid).ok_or_else(gone)?,
        procfs::voluntary_switches(pid).ok_or_else(gone)?,
    );
    let (master_rss, master_pss) = procfs::rss_pss_kib(pid).ok_or_else(gone)?;
    let (mut rss, mut pss) = (0, 0);
    for worker in up.pids.values() {
        let (r, p) = procfs::rss_pss_kib(*worker).ok_or_else(gone)?;
        rss += r;
        pss += p;
    }
    let tick_ms = 1000.0 / procfs::clock_ticks_per_sec() as f64;
    Ok(Idle {
        cpu_ms: (c1 - c0) as f64 * tick_ms,
        sched_us: (s1.saturating_sub(s0)) as f64 / 1e3,
        switches: v1.saturating_sub(v0) as f64,
        master_rss: master_rss as f64,
        master_pss: master_pss as f64,
        worker_rss: rss as f64 / n as f64,
        worker_pss: pss as f64 / n as f64,
    })
}

/// The scale figures of one run.
pub(crate) struct Scale {
    pub(crate) down_ms: f64,
    pub(crate) up_ms: f64,
    pub(crate) total_ms: f64,
    pub(crate) check: Result<(), String>,
}

/// Reconfigure `big` → `small` → `big` through SIGHUP and the reload hook.
/// Down is done when the master has `small` children left (read from /proc every
/// millisecond: workers are not our children, so their exits cannot be waited
/// for); up when ids `small..big` have entered run() again.
pub(crate) fn scale(b: &mut Bench, kind: Kind, big: usize, small: usize) -> Result<Scale, String> {
    let file = b.scratch.join(format!("scale-{}", kind.name()));
    let _ = std::fs::remove_file(&file);
    let Up { mut proc, pids, .. } = b.start(kind, big, 0, Some(&file))?;
    let mut pid_ids: HashMap<u32, usize> = pids.iter().map(|(id, pid)| (*pid, *id)).collect();
    let mut runs = 0;
    let mut note = |l: super::subject::Line, runs: &mut usize| {
        if !l.reload {
            pid_ids.insert(l.pid, l.id);
            *runs += 1;
        }
    };
    std::thread::sleep(SETTLE);
    let write = |n: usize| std::fs::write(&file, n.to_string()).map_err(|e| e.to_string());

    write(small)?;
    let sent = proc.signal(SIGHUP)?;
    let deadline = sent + Duration::from_secs(30);
    let down = loop {
        let left = procfs::children(proc.pid).len();
        if left <= small {
            break Instant::now();
        }
        while let Some((_, l)) = proc.next_line(Instant::now())? {
            note(l, &mut runs);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "timeout: scale-down, {left} workers left after 30 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    };

    write(big)?;
    let sent_up = proc.signal(SIGHUP)?;
    let mut seen = HashSet::new();
    let upped = proc.until(sent_up + Duration::from_secs(30), "scale-up", |l| {
        note(l, &mut runs);
        !l.reload && (small..big).contains(&l.id) && seen.insert(l.id) && seen.len() == big - small
    })?;

    std::thread::sleep(Duration::from_millis(300));
    while let Some((_, l)) = proc.next_line(Instant::now())? {
        note(l, &mut runs);
    }
    let check = check_ids(
        &procfs::children(proc.pid),
        &pid_ids,
        big,
        runs.saturating_sub(big - small),
    );
    Ok(Scale {
        down_ms: ms(down - sent),
        up_ms: ms(upped - sent_up),
        total_ms: ms(upped - sent),
        check,
    })
}

/// The master's children must run ids `0..big`, each exactly once, with no extra
/// `run` line during the round trip.
fn check_ids(
    children: &[u32],
    pid_ids: &HashMap<u32, usize>,
    big: usize,
    extra_runs: usize,
) -> Result<(), String> {
    let mut ids = HashSet::new();
    let mut unknown = 0;
    let mut dup = 0;
    for pid in children {
        match pid_ids.get(pid) {
            Some(id) if *id < big => {
                if !ids.insert(*id) {
                    dup += 1;
                }
            }
            _ => unknown += 1,
        }
    }
    if children.len() == big && ids.len() == big && extra_runs == 0 {
        Ok(())
    } else {
        Err(format!(
            "{} children, {} distinct ids, {dup} duplicates, {unknown} unknown, \
             {extra_runs} extra run lines",
            children.len(),
            ids.len()
        ))
    }
}
