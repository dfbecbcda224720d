//! The scenario program of `cargo xtask bench` ("ours"): `bench N WAIT_MS [SCALE_FILE]`.
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

use std::io::Write;
use std::time::Duration;

use cotyledon::{BoxError, Context, Service, ServiceManager, WorkerId};

/// The trivial bench worker.
#[derive(Service)]
#[service(name = "bench")]
struct Bench {
    id: WorkerId,
}

/// Prints `WHAT bench ID PID` in one write, flushed. The line is formatted in a
/// stack buffer, as the bare C subject does with `snprintf`: the measured path
/// makes no heap allocation of its own.
fn say(what: &str, id: WorkerId) {
    let mut buf = [0u8; 64];
    let mut line = std::io::Cursor::new(&mut buf[..]);
    let _ = writeln!(line, "{what} bench {} {}", id.get(), std::process::id());
    let len = usize::try_from(line.position()).unwrap_or(0);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf[..len]);
    let _ = out.flush();
}

impl cotyledon::Service for Bench {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        say("run", self.id);
        ctx.wait_for_stop();
        Ok(())
    }

    fn reload(&self) {
        say("reload", self.id);
    }
}

/// The scenario's settings, from argv.
struct Args {
    workers: usize,
    wait_interval: Duration,
    scale_file: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    // Read before the manager exists: it rewrites the argv area for the title.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench N WAIT_MS [SCALE_FILE]";
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
    })
}

fn build(args: Args) -> Result<ServiceManager, BoxError> {
    let mut m = ServiceManager::builder()
        .wait_interval(args.wait_interval)
        .build()?;
    let id = m.add(|id| Bench { id }, args.workers)?;
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
