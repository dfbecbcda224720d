//! The README's "A complete service", as a program: two `consumer` workers
//! that log every second and drain on SIGTERM.
//!
//! Between the README's lines, this file adds only a logger (the README's code
//! installs none, so as pasted it prints nothing): each record as one line
//! `LEVEL:TARGET:MESSAGE` on stdout, DEBUG and up, so that cotyledon's own lines
//! show too (`DEBUG:cotyledon::worker:Run service consumer(0) [PID]`).
//! `cargo run -p cotyledon-core --example readme_service` runs it; the test
//! `cotyledon-testing/tests/readme_service.rs` runs it with the harness, the way
//! you would test your own program, and checks that this file still holds the
//! README's code line for line.

use std::time::Duration;

use cotyledon::{BoxError, Context, Service, ServiceManager, WorkerId};

// Metadata: the name in logs and process titles, and how long terminate() may take.
#[derive(Service)]
#[service(name = "consumer", graceful_shutdown_timeout = 10)]
struct Consumer {
    id: WorkerId,
}

// Behaviour: every method is optional (run waits for stop, terminate exits 0,
// reload restarts the worker).
impl cotyledon::Service for Consumer {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        // wait_timeout is an interruptible sleep: true once the worker is stopping.
        while !ctx.wait_timeout(Duration::from_secs(1)) {
            log::info!("worker {} polls its queue", self.id);
        }
        Ok(())
    }

    fn terminate(&self) -> i32 {
        log::info!("worker {} drains and leaves", self.id);
        0 // the worker's exit status
    }
}

fn main() -> Result<(), BoxError> {
    logger::install(); // added: the README's code has no logger
    let mut manager = ServiceManager::new()?;
    // The factory runs in each worker process, after the fork.
    manager.add(|id| Consumer { id }, 2)?;
    manager.run()?; // never returns: the process exits at shutdown
    Ok(())
}

/// The one addition to the README's code: a logger that prints every record of
/// level DEBUG and up as `LEVEL:TARGET:MESSAGE` on stdout, flushed at once.
mod logger {
    use std::io::Write;

    use log::{LevelFilter, Log, Metadata, Record};

    struct Lines;

    impl Log for Lines {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn log(&self, record: &Record<'_>) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{}:{}:{}",
                record.level(),
                record.target(),
                record.args()
            );
            let _ = out.flush();
        }

        fn flush(&self) {
            let _ = std::io::stdout().flush();
        }
    }

    /// Installs the logger, level DEBUG.
    pub(crate) fn install() {
        if log::set_logger(&Lines).is_ok() {
            log::set_max_level(LevelFilter::Debug);
        }
    }
}
