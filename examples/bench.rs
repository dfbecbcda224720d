//! The scenario program of `cargo xtask bench` ("ours"): `bench N WAIT_MS [SCALE_FILE]`,
//! or `bench watchdog TIMEOUT_MS` for the hung-worker watchdog figures.
//!
//! One service, `bench`, with N workers. Each worker prints `run bench ID PID` when
//! it enters `run()`, then waits to be stopped; SIGHUP makes it print
//! `reload bench ID PID` (it does not restart). Nothing else is printed: no logger
//! is installed, so cotyledon's own messages go nowhere. Every line is written with
//! one `write` and flushed, so lines from different workers never interleave.
//!
//! The manager uses cotyledon's defaults (respawn limiter on, graceful shutdown
//! 60 s) except `wait_interval`, set to WAIT_MS. On SIGHUP, if SCALE_FILE is given
//! and holds a number, the reload hook reconfigures the service to that many
//! workers. The Python and bare C subjects in `xtask/bench/` behave the same way.
//!
//! `bench watchdog TIMEOUT_MS` (1..=60000): one worker, cotyledon's defaults,
//! `heartbeat_timeout` TIMEOUT_MS. Each worker prints `run bench ID PID NS` (NS:
//! `CLOCK_MONOTONIC` in ns, as each figure below), beats every 10 ms, then stops
//! beating and prints `KIND bench ID PID NS`, NS the time of its last beat; which
//! KIND follows from how many workers died before it (counted by the master in
//! `on_dead_worker`, inherited at the fork), in turn:
//! - `hang`: after beating for 1 s (so that its death is no crash loop), sleeps
//!   for ever in `run()`, ignoring the stop: SIGABRT ends it;
//! - `freeze`: after 1 s too, stops itself (SIGSTOP): SIGABRT stays pending, only
//!   the SIGKILL that follows it ends the worker;
//! - `early`: as `hang`, after 50 ms of beats: it dies before it is 1 s old, so
//!   the crash-loop back-off delays its replacement.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cotyledon::{BoxError, Context, Service, ServiceManager, WorkerId};
use nix::sys::signal::{Signal, raise};
use nix::time::{ClockId, clock_gettime};

/// Workers dead so far: counted in the master, read by a worker after its fork.
static DEATHS: AtomicUsize = AtomicUsize::new(0);

/// The trivial bench worker; `watchdog` in the watchdog scenario.
#[derive(Service)]
#[service(name = "bench")]
struct Bench {
    id: WorkerId,
    watchdog: bool,
}

/// `CLOCK_MONOTONIC` in ns.
fn monotonic_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        (t.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec() as u64)
    })
}

/// Prints `WHAT bench ID PID[ NS]` in one write, flushed. The line is formatted in
/// a stack buffer, as the bare C subject does with `snprintf`: the measured path
/// makes no heap allocation of its own.
fn say(what: &str, id: WorkerId, ns: Option<u64>) {
    let mut buf = [0u8; 96];
    let mut line = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(line, "{what} bench {} {}", id.get(), std::process::id());
    if let Some(ns) = ns {
        let _ = write!(line, " {ns}");
    }
    let _ = writeln!(line);
    let len = usize::try_from(line.position()).unwrap_or(0);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf[..len]);
    let _ = out.flush();
}

impl cotyledon::Service for Bench {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        if self.watchdog {
            return stop_beating(self.id, ctx);
        }
        say("run", self.id, None);
        ctx.wait_for_stop();
        Ok(())
    }

    fn reload(&self) {
        say("reload", self.id, None);
    }
}

/// The watchdog scenario's worker: beats, then hangs or freezes (see the header).
fn stop_beating(id: WorkerId, ctx: &Context) -> Result<(), BoxError> {
    say("run", id, Some(monotonic_ns()));
    let (kind, beating) = match DEATHS.load(Ordering::SeqCst) % 3 {
        0 => ("hang", Duration::from_secs(1)),
        1 => ("freeze", Duration::from_secs(1)),
        _ => ("early", Duration::from_millis(50)),
    };
    let started = Instant::now();
    while started.elapsed() < beating {
        if ctx.wait_timeout(Duration::from_millis(10)) {
            return Ok(());
        }
        ctx.heartbeat();
    }
    // Read right after the last beat: the master's deadline is at most this + T.
    say(kind, id, Some(monotonic_ns()));
    if kind == "freeze" {
        let _ = raise(Signal::SIGSTOP);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The scenario's settings, from argv.
struct Args {
    workers: usize,
    wait_interval: Duration,
    scale_file: Option<String>,
    heartbeat_timeout: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    // Read before the manager exists: it rewrites the argv area for the title.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench N WAIT_MS [SCALE_FILE] | bench watchdog TIMEOUT_MS";
    if args.first().map(String::as_str) == Some("watchdog") {
        let timeout = args
            .get(1)
            .and_then(|a| a.parse().ok())
            .filter(|ms| (1..=60_000).contains(ms))
            .filter(|_| args.len() == 2)
            .ok_or(format!("{usage} (TIMEOUT_MS 1..=60000)"))?;
        return Ok(Args {
            workers: 1,
            wait_interval: cotyledon::ServiceManagerBuilder::DEFAULT_WAIT_INTERVAL,
            scale_file: None,
            heartbeat_timeout: Some(Duration::from_millis(timeout)),
        });
    }
    let workers = args
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or(usage.to_owned())?;
    let wait_ms = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .ok_or(usage.to_owned())?;
    Ok(Args {
        workers,
        wait_interval: Duration::from_millis(wait_ms),
        scale_file: args.get(2).cloned(),
        heartbeat_timeout: None,
    })
}

fn build(args: Args) -> Result<ServiceManager, BoxError> {
    let mut m = ServiceManager::builder()
        .wait_interval(args.wait_interval)
        .build()?;
    let watchdog = args.heartbeat_timeout.is_some();
    let id = m.add(move |id| Bench { id, watchdog }, args.workers)?;
    if let Some(timeout) = args.heartbeat_timeout {
        m.settings(id)?.heartbeat_timeout(timeout);
        m.on_dead_worker(|_, _, _, _| {
            DEATHS.fetch_add(1, Ordering::SeqCst);
        });
    }
    if let Some(path) = args.scale_file {
        m.on_reload(move |handle| -> Result<(), BoxError> {
            // No file yet: a plain reload.
            let Ok(text) = std::fs::read_to_string(&path) else {
                return Ok(());
            };
            handle.reconfigure(id, text.trim().parse()?)?;
            Ok(())
        });
    }
    Ok(m)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            std::process::exit(64);
        }
    };
    // run() only returns on failure.
    let error: BoxError = match build(args) {
        Ok(m) => match m.run() {
            Ok(never) => match never {},
            Err(e) => e.into(),
        },
        Err(e) => e,
    };
    eprintln!("bench: {error}");
    std::process::exit(3);
}
