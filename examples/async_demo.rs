//! An async service: a queue consumer on tokio, drained on SIGTERM.
//!
//! `cargo run -p cotyledon-core --example async_demo --features tokio` starts a
//! master with two `consumer` workers. Each worker builds its own tokio runtime
//! (after the fork: the master never has one), "connects" to its queue, says it is
//! ready, then takes a message every 500 ms and handles each in a task of its own
//! that takes a second.
//!
//! `kill -TERM <master pid>` is the graceful stop: every worker stops taking
//! messages at once, finishes the ones in flight, says goodbye and exits 0.
//! Ctrl-C (SIGINT) stops everything at once. `kill -HUP <master pid>` restarts the
//! workers gracefully (the default reload), each draining as on SIGTERM.

#[path = "support/pid_logger.rs"]
mod pid_logger;

use std::time::Duration;

use cotyledon::{AsyncService, BoxError, Context, Service, ServiceManager, Tokio, WorkerId};
use log::info;
use tokio::task::JoinSet;

/// The metadata, as for any service: the name, and how long the drain may take
/// after SIGTERM before the worker is made to exit (status 1).
#[derive(Service)]
#[service(name = "consumer", graceful_shutdown_timeout = 10)]
struct Consumer {
    id: WorkerId,
}

/// Handling one message: a second of (simulated) work.
async fn handle(worker: WorkerId, message: u64) {
    info!("consumer {worker} handles message {message}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    info!("consumer {worker} done with message {message}");
}

impl AsyncService for Consumer {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        // Connecting takes a while; the manager counts the worker as started
        // only from ctx.ready() on if the service asks for Readiness::Explicit.
        tokio::time::sleep(Duration::from_millis(200)).await;
        ctx.ready();
        info!("consumer {} connected, consuming", self.id);

        let mut poll = tokio::time::interval(Duration::from_millis(500));
        let mut in_flight = JoinSet::new();
        let mut next = 0;
        loop {
            tokio::select! {
                // The stop: fires as the worker handles SIGTERM.
                () = ctx.stopped() => break,
                _ = poll.tick() => {
                    next += 1;
                    in_flight.spawn(handle(self.id, next));
                }
                // Collect finished tasks as we go (a panic in one is an error).
                Some(finished) = in_flight.join_next() => finished?,
            }
        }

        // The drain: no new message is taken; the ones in flight finish.
        info!(
            "consumer {} stops taking messages, {} in flight",
            self.id,
            in_flight.len()
        );
        while let Some(finished) = in_flight.join_next().await {
            finished?;
        }
        Ok(())
    }

    /// Runs once run() has returned; its value is the worker's exit status.
    async fn terminate(&self) -> i32 {
        info!("consumer {} drained, goodbye", self.id);
        0
    }
}

fn main() -> Result<(), BoxError> {
    pid_logger::init()?;

    let mut manager = ServiceManager::new()?;
    // Tokio::new: the service runs on a current-thread runtime that each worker
    // builds for itself after the fork. No #[tokio::main]: the master stays free
    // of any runtime, which would not survive fork().
    manager.add(|id| Tokio::new(Consumer { id }), 2)?;
    info!(
        "master started: kill -TERM {} to drain and stop, Ctrl-C to stop at once",
        std::process::id()
    );
    manager.run()?;
    Ok(())
}
