//! The README's "A complete service", as a program: two `consumer` workers
//! that log every second and drain on SIGTERM. It is the README's code exactly;
//! its logger is `cotyledon::logger` (feature `logger`): `LEVEL:TARGET:MESSAGE`
//! lines on stderr, at the level of `COTYLEDON_LOG` (`debug` shows cotyledon's
//! own DEBUG lines too). Run it with
//! `cargo run -p cotyledon-core --features logger --example readme_service`.
//! The test `cotyledon-testing/tests/readme_service.rs` runs it with the
//! harness, the way you would test your own program, and checks that this file
//! still holds the README's code line for line.

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
    // One `LEVEL:TARGET:MESSAGE` line per record on stderr, at the level of
    // COTYLEDON_LOG (default info). Before the manager: workers inherit it.
    cotyledon::logger::init()?;
    let mut manager = ServiceManager::new()?;
    // The factory runs in each worker process, after the fork.
    manager.add(|id| Consumer { id }, 2)?;
    manager.run()?; // never returns: the process exits at shutdown
    Ok(())
}
