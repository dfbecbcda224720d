//! A first example: two services, stopped cleanly with Ctrl-C.
//!
//! `cargo run --example demo` starts a master with three workers: two `ticker`
//! workers that report every second and one `janitor` that sweeps every 3 seconds.
//! Ctrl-C (SIGINT) stops everything at once; `kill -TERM <master pid>` stops it
//! gracefully, each worker saying goodbye. Kill a worker with `kill -9` and watch
//! the master start a new one with the same id. With `COTYLEDON_CONTROL_SOCKET`
//! set, `cargo run --bin cotyledonctl -- status` (or `top`) shows its workers.

#[path = "support/pid_logger.rs"]
mod pid_logger;

use std::time::Duration;

use cotyledon::{BoxError, Context, Service, ServiceManager, WorkerId};
use log::info;

#[derive(Service)]
#[service(name = "ticker", graceful_shutdown_timeout = 5)]
struct Ticker {
    id: WorkerId,
}

impl cotyledon::Service for Ticker {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        let mut ticks = 0u64;
        // wait_timeout is an interruptible sleep: it returns true once stopping.
        while !ctx.wait_timeout(Duration::from_secs(1)) {
            ticks += 1;
            info!("ticker {} tick {ticks}", self.id);
        }
        Ok(())
    }

    fn terminate(&self) -> i32 {
        info!("ticker {} says goodbye", self.id);
        0
    }
}

#[derive(Service)]
#[service(name = "janitor")]
struct Janitor;

impl cotyledon::Service for Janitor {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        while !ctx.wait_timeout(Duration::from_secs(3)) {
            info!("janitor sweeps");
        }
        Ok(())
    }

    fn reload(&self) {
        info!("janitor reloads its configuration");
    }
}

fn main() -> Result<(), BoxError> {
    pid_logger::init()?;

    // With COTYLEDON_CONTROL_SOCKET set, the control endpoint on that socket
    // (`cotyledonctl status` reads the same variable).
    let mut builder = ServiceManager::builder();
    if let Some(path) = std::env::var_os(cotyledon::ctl::SOCKET_ENV) {
        builder = builder.control_socket(path);
    }
    let mut manager = builder.build()?;
    let ticker = manager.add(|id| Ticker { id }, 2)?;
    manager.add(|_| Janitor, 1)?;
    manager.on_terminate(|_| info!("master: shutting down"));
    manager.on_dead_worker(move |_, service, worker, exit| {
        let name = if service == ticker {
            "ticker"
        } else {
            "janitor"
        };
        info!("master: {name} worker {worker} {exit}");
    });
    info!(
        "master started: Ctrl-C to stop, kill -HUP {} to reload",
        std::process::id()
    );
    manager.run()?;
    Ok(())
}
