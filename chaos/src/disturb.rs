//! The disturbances: SIGKILL or SIGTERM to a worker, SIGSTOP of a worker (SIGCONT
//! after at most 200 ms), a burst of SIGHUPs to the master, and a reconfigure
//! (new counts written to the scale file, then one SIGHUP to the master). The
//! disturber notes when it sent the SIGHUPs, changed the counts and SIGKILLed a
//! worker, for the accounting of signals and of recoveries.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::ledger::Group;
use super::procfs::{self, Proc};
use super::rng::Rng;

/// Longest SIGSTOP before the SIGCONT.
const MAX_STOP_MS: u64 = 200;

/// How many of each disturbance were delivered.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    pub(crate) sigkill: usize,
    pub(crate) sigterm: usize,
    pub(crate) sigstop: usize,
    pub(crate) hup_bursts: usize,
    pub(crate) hups: usize,
    pub(crate) reconfigures: usize,
}

/// A disturbance the recovery tracker must hear of, with its time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Done {
    /// New desired counts, about to be written to the scale file.
    Desired(Instant, [usize; 3]),
    /// A SIGKILL to this worker pid, about to be sent.
    Killed(i32, Instant),
}

/// The disturber: chooses and delivers disturbances, remembers the stopped
/// workers and the counts it last asked for.
#[derive(Debug)]
pub(crate) struct Disturber {
    pub(crate) rng: Rng,
    master: i32,
    scale_file: PathBuf,
    range: (usize, usize),
    burst: usize,
    /// What was last written to the scale file and signalled.
    pub(crate) desired: [usize; 3],
    /// Stopped workers: `(pid, start time, when to continue them)`.
    stopped: Vec<(i32, u64, Instant)>,
    pub(crate) counts: Counts,
    /// What the recovery tracker has not been told yet, in order.
    pub(crate) done: Vec<Done>,
    /// The SIGHUPs sent to the master: bursts, and singles of reconfigures.
    pub(crate) hup_groups: Vec<Group>,
}

impl Disturber {
    /// A disturber for `master`, scaling each service within `range` (inclusive),
    /// whose services start with `range.1` workers each.
    pub(crate) fn new(
        rng: Rng,
        master: i32,
        scale_file: &Path,
        range: (usize, usize),
        burst: usize,
    ) -> Self {
        let desired = [range.1; 3];
        Disturber {
            rng,
            master,
            scale_file: scale_file.to_owned(),
            range,
            burst,
            desired,
            stopped: Vec::new(),
            counts: Counts::default(),
            done: Vec::new(),
            hup_groups: Vec::new(),
        }
    }

    /// One random disturbance. `workers` are live workers of a recent sample; the
    /// one signalled is removed from it, so that it is not chosen twice.
    pub(crate) fn act(&mut self, workers: &mut Vec<Proc>, now: Instant) {
        match self.rng.below(100) {
            0..35 => self.hit(workers, Signal::SIGKILL),
            35..60 => self.hit(workers, Signal::SIGTERM),
            60..80 => self.stop(workers, now),
            80..86 => self.hup_burst(),
            _ => self.reconfigure(),
        }
    }

    /// Picks a worker of the sample that is still the same live child of the
    /// master (a pid is never signalled after it may have been reused).
    fn pick(&mut self, workers: &mut Vec<Proc>) -> Option<Proc> {
        while let Some(i) = self.rng.index(workers.len()) {
            let p = workers.swap_remove(i);
            if procfs::still(p.pid, p.start, self.master, &p.role) {
                return Some(p);
            }
        }
        None
    }

    fn hit(&mut self, workers: &mut Vec<Proc>, signal: Signal) {
        let Some(p) = self.pick(workers) else { return };
        let at = Instant::now();
        if kill(Pid::from_raw(p.pid), signal).is_ok() {
            if signal == Signal::SIGKILL {
                self.done.push(Done::Killed(p.pid, at));
            }
            match signal {
                Signal::SIGKILL => self.counts.sigkill += 1,
                _ => self.counts.sigterm += 1,
            }
        }
    }

    fn stop(&mut self, workers: &mut Vec<Proc>, now: Instant) {
        let Some(p) = self.pick(workers) else { return };
        if kill(Pid::from_raw(p.pid), Signal::SIGSTOP).is_ok() {
            self.counts.sigstop += 1;
            let ms = self.rng.between(10, MAX_STOP_MS);
            self.stopped
                .push((p.pid, p.start, now + Duration::from_millis(ms)));
        }
    }

    /// One SIGHUP to the master: the time just before `kill(2)`, if it worked (the
    /// master, woken, may log before `kill(2)` even returns to us).
    fn sighup(&self) -> Option<Instant> {
        let at = Instant::now();
        kill(Pid::from_raw(self.master), Signal::SIGHUP)
            .is_ok()
            .then_some(at)
    }

    fn hup_burst(&mut self) {
        let (mut sent, mut last) = (0, None);
        for _ in 0..self.burst {
            if let Some(at) = self.sighup() {
                (sent, last) = (sent + 1, Some(at));
            }
        }
        self.counts.hup_bursts += 1;
        self.counts.hups += sent;
        if let Some(sent_at) = last {
            self.hup_groups.push(Group {
                sent_at,
                count: sent,
            });
        }
    }

    /// New random counts: written (atomically, by rename) before the SIGHUP, so
    /// that the reload hook that handles this SIGHUP reads them.
    fn reconfigure(&mut self) {
        let (lo, hi) = self.range;
        let mut counts = [0; 3];
        for c in &mut counts {
            *c = self.rng.between(lo as u64, hi as u64) as usize;
        }
        let at = Instant::now();
        if write_scale(&self.scale_file, &counts).is_err() {
            return;
        }
        self.desired = counts;
        self.done.push(Done::Desired(at, counts));
        if let Some(sent_at) = self.sighup() {
            self.counts.hups += 1;
            self.hup_groups.push(Group { sent_at, count: 1 });
        }
        self.counts.reconfigures += 1;
    }

    /// SIGCONT to every stopped worker due by `now` (all of them if `None`).
    pub(crate) fn cont_due(&mut self, now: Option<Instant>) {
        let master = self.master;
        self.stopped.retain(|&(pid, start, at)| {
            if now.is_some_and(|n| n < at) {
                return true;
            }
            // Only the very process that was stopped (it may be dead already).
            if procfs::stat(pid).is_some_and(|s| s.start == start && s.ppid == master) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            }
            false
        });
    }

    /// When the next stopped worker is due to continue.
    pub(crate) fn next_cont(&self) -> Option<Instant> {
        self.stopped.iter().map(|&(_, _, at)| at).min()
    }
}

/// Writes `a b c` to `path` through a temporary file and a rename, so that a
/// reader never sees half of it.
pub(crate) fn write_scale(path: &Path, counts: &[usize; 3]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{} {} {}\n", counts[0], counts[1], counts[2]))?;
    std::fs::rename(&tmp, path)
}
