//! The hung-worker watchdog figures (ours only; issue 10's targets): how long after
//! its last heartbeat a silent worker is dead, and how soon its replacement runs.
//!
//! `bench watchdog T` (examples/bench.rs) runs one worker with heartbeat timeout T
//! that beats every 10 ms and then stops, in turn: hangs (dies of the SIGABRT),
//! freezes (SIGSTOP: only the SIGKILL 200 ms later ends it), hangs early (dies
//! before it is 1 s old: the crash-loop back-off delays its replacement). Every
//! time is a `CLOCK_MONOTONIC` reading: the worker prints the time of its last beat
//! and the time it entered `run()`; the signal helper, which holds a pidfd on the
//! worker and waits at real-time priority (so that a busy machine does not delay
//! its wake-up), answers the time it saw the worker die. No pipe hop is in any
//! figure.

use std::time::{Duration, Instant};

use super::Table;
use super::figures::Bench;
use super::report::Stat;
use super::subject::{Kind, Proc};

/// The samples of one watchdog run, in ms.
#[derive(Default)]
pub(crate) struct Watchdog {
    /// Last beat → dead, workers that hung (SIGABRT kills them), early or not.
    pub(crate) hung: Vec<f64>,
    /// Last beat → dead, workers that froze (the SIGKILL after the grace kills them).
    pub(crate) frozen: Vec<f64>,
    /// Dead → the replacement in `run()`, after a worker that lived over 1 s.
    pub(crate) respawn: Vec<f64>,
    /// Dead → the replacement in `run()`, after a worker that died before 1 s
    /// (the crash-loop back-off's first delay).
    pub(crate) backoff: Vec<f64>,
    /// Respawns not measured: the helper saw the death after the replacement
    /// ran (woken late: it could not wait at real-time priority).
    pub(crate) late: Vec<String>,
}

/// How a worker stopped beating, as it said.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stall {
    Hang,
    Freeze,
    Early,
}

/// A watchdog scenario line: `WORD bench ID PID NS` → (word, pid, ns).
fn parse(text: &str) -> Option<(&str, u32, u64)> {
    let mut words = text.split_whitespace();
    let word = words.next()?;
    let _name = words.next()?;
    let _id: usize = words.next()?.parse().ok()?;
    let pid = words.next()?.parse().ok()?;
    let ns = words.next()?.parse().ok()?;
    Some((word, pid, ns))
}

/// The next line of `proc` that `f` accepts, before `deadline`.
fn expect<T>(
    proc: &mut Proc,
    deadline: Instant,
    what: &str,
    mut f: impl FnMut(&str, u32, u64) -> Option<T>,
) -> Result<T, String> {
    while let Some((_, text)) = proc.next_text(deadline)? {
        if let Some(found) = parse(&text).and_then(|(w, pid, ns)| f(w, pid, ns)) {
            return Ok(found);
        }
    }
    Err(format!("timeout: {what}"))
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// One master, `hangs` workers in a row that stop beating.
pub(crate) fn watchdog(b: &mut Bench, timeout_ms: u64, hangs: usize) -> Result<Watchdog, String> {
    let cmd = b.programs.watchdog_command(timeout_ms);
    let mut proc = Proc::spawn(Kind::Ours, cmd, &b.signaller)?;
    let patience = Duration::from_millis(timeout_ms) + Duration::from_secs(10);
    let run = |proc: &mut Proc, old: u32| {
        let deadline = Instant::now() + patience;
        expect(proc, deadline, "a worker in run()", |w, pid, ns| {
            (w == "run" && pid != old).then_some((pid, ns))
        })
    };
    let (mut pid, _) = run(&mut proc, 0)?;
    let mut w = Watchdog::default();
    let mut warned = false;
    for _ in 0..hangs {
        b.signaller.borrow_mut().watch(pid)?;
        let deadline = Instant::now() + patience;
        let (stall, last) = expect(&mut proc, deadline, "a worker stops beating", |w, p, ns| {
            let stall = match w {
                "hang" => Stall::Hang,
                "freeze" => Stall::Freeze,
                "early" => Stall::Early,
                _ => return None,
            };
            (p == pid).then_some((stall, ns))
        })?;
        let (dead, realtime) = b.signaller.borrow_mut().dead_at(patience)?;
        if !realtime && !warned {
            warned = true;
            eprintln!("bench: the signal helper cannot wait at real-time priority");
        }
        let (new, born) = run(&mut proc, pid)?;
        let killed = dead.checked_sub(last).ok_or("dead before its last beat")?;
        match stall {
            Stall::Freeze => w.frozen.push(ms(killed)),
            Stall::Hang | Stall::Early => w.hung.push(ms(killed)),
        }
        match (stall, born.checked_sub(dead)) {
            (_, None) => w.late.push(format!(
                "replacement in run() {} µs before the helper saw the death",
                (dead - born) / 1000
            )),
            (Stall::Early, Some(back)) => w.backoff.push(ms(back)),
            (_, Some(back)) => w.respawn.push(ms(back)),
        }
        pid = new;
    }
    Ok(w)
}

/// The watchdog rows, in table order: hung and frozen (last beat → dead, and
/// beyond T), then the respawns without and with the crash back-off.
pub(super) struct Rows([usize; 6]);

/// Issue 10: dead within T + 250 ms of the last beat.
const KILL_SLACK_MS: f64 = 250.0;
/// Issue 10: the replacement within 50 ms of the death.
const RESPAWN_MS: f64 = 50.0;

/// Adds the rows of `hangs` stalls with heartbeat timeout `t_ms`.
pub(super) fn rows(t: &mut Table, t_ms: u64, hangs: usize) -> Rows {
    // The scenario cycles through hang, freeze, early.
    let count = |k: usize| (0..hangs).filter(|i| i % 3 == k).count();
    let (hung, frozen, early) = (count(0) + count(2), count(1), count(2));
    let mut add = |figure: String, runs: usize, target: Option<f64>| {
        let row = t.add(figure, "ms", Stat::Median, format!("1 × {runs}"));
        t.rows[row].ours_only = true;
        t.rows[row].target = target;
        row
    };
    let head = format!("watchdog T={t_ms} ms");
    let limit = t_ms as f64 + KILL_SLACK_MS;
    Rows([
        add(format!("{head}, hung: last beat → dead"), hung, Some(limit)),
        add(
            format!("{head}, hung: dead beyond T"),
            hung,
            Some(KILL_SLACK_MS),
        ),
        add(
            format!("{head}, frozen: last beat → dead"),
            frozen,
            Some(limit),
        ),
        add(
            format!("{head}, frozen: dead beyond T"),
            frozen,
            Some(KILL_SLACK_MS),
        ),
        add(
            format!("{head}: dead → replacement in run()"),
            hung + frozen - early,
            Some(RESPAWN_MS),
        ),
        add(
            format!("{head}: dead → replacement, died < 1 s old (crash back-off)"),
            early,
            None,
        ),
    ])
}

/// Records one run's samples (or its error) in the rows.
pub(super) fn record(t: &mut Table, rows: &Rows, t_ms: u64, run: Result<Watchdog, String>) {
    let w = match run {
        Ok(w) => w,
        Err(e) => {
            for row in rows.0 {
                t.rows[row].record(Kind::Ours, Err(e.clone()));
            }
            return;
        }
    };
    let beyond = |v: &[f64]| v.iter().map(|x| x - t_ms as f64).collect::<Vec<_>>();
    let samples = [
        w.hung.clone(),
        beyond(&w.hung),
        w.frozen.clone(),
        beyond(&w.frozen),
        w.respawn,
        w.backoff,
    ];
    for (row, s) in rows.0.iter().zip(samples) {
        t.rows[*row].record(Kind::Ours, Ok(s));
    }
    for e in w.late {
        t.rows[rows.0[4]].record(Kind::Ours, Err(e));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scenario_lines() {
        assert_eq!(
            super::parse("hang bench 0 812 355014779303"),
            Some(("hang", 812, 355_014_779_303))
        );
        assert_eq!(super::parse("run bench 0 812"), None);
        assert_eq!(super::parse("run bench x 812 1"), None);
    }
}
