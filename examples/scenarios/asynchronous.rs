//! Scenarios of async services (built with the `tokio` feature): the stop as a
//! future and as a token, the drain of work in flight, a run that ignores the
//! stop, and a master that (wrongly) runs inside a tokio runtime.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cotyledon::{
    AsyncService, BoxError, Context, Error, Readiness, Reload, Service, ServiceManager, Tokio,
    WorkerId,
};
use log::error;
use tokio::task::JoinSet;

use super::{env_or, manager};

/// Starts a job every 100 ms, each taking 300 ms (so two or three are always in
/// flight); on the stop takes no new job and waits for those in flight. Logs when
/// the stop future and the cancellation token fire. terminate() returns
/// `SCENARIO_EXIT_CODE` (0).
#[derive(Service)]
#[service(name = "drain", graceful_shutdown_timeout = 5)]
struct Drain(WorkerId);

/// One job: 300 ms of work, then its number leaves the in-flight set.
async fn job(id: WorkerId, n: u64, in_flight: Arc<Mutex<BTreeSet<u64>>>) {
    error!("drain job {n} start id={id}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    error!("drain job {n} done id={id}");
    in_flight.lock().expect("in-flight set").remove(&n);
}

impl AsyncService for Drain {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        let id = self.0;
        error!("drain run id={id}");
        let stopped = ctx.stopped();
        let future_fired = tokio::spawn(async move {
            stopped.await;
            error!("drain stop future fired id={id}");
        });
        let token = ctx.cancellation_token();
        let token_fired = tokio::spawn(async move {
            token.cancelled().await;
            error!("drain token fired id={id}");
        });
        // Logged before telling too: that line is written before the master can
        // act on the readiness, so tests may order other lines after it.
        error!("drain telling ready id={id}");
        ctx.ready();
        error!("drain ready id={id}");

        let in_flight = Arc::new(Mutex::new(BTreeSet::new()));
        let mut jobs = JoinSet::new();
        let mut every = tokio::time::interval(Duration::from_millis(100));
        let mut n = 0;
        loop {
            tokio::select! {
                () = ctx.stopped() => break,
                _ = every.tick() => {
                    n += 1;
                    in_flight.lock().expect("in-flight set").insert(n);
                    jobs.spawn(job(id, n, in_flight.clone()));
                }
                Some(finished) = jobs.join_next() => finished?,
            }
        }
        let snapshot: Vec<String> = in_flight
            .lock()
            .expect("in-flight set")
            .iter()
            .map(u64::to_string)
            .collect();
        error!("drain stop seen id={id} in flight: {}", snapshot.join(" "));
        while let Some(finished) = jobs.join_next().await {
            finished?;
        }
        future_fired.await?;
        token_fired.await?;
        error!("drain run returns id={id}");
        Ok(())
    }

    async fn terminate(&self) -> i32 {
        error!("drain terminate id={}", self.0);
        env_or("SCENARIO_EXIT_CODE", 0)
    }
}

/// drain × `SCENARIO_WORKERS` (1), ready only when it says so, rolling reloads
/// one at a time. `SCENARIO_RUNTIME=multi`: a multi-thread runtime of two
/// threads named `async-rt` (else `Tokio::new`'s current-thread one).
pub(super) fn drain_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    let workers = env_or("SCENARIO_WORKERS", 1);
    let drain = if std::env::var("SCENARIO_RUNTIME").is_ok_and(|v| v == "multi") {
        m.add(
            |id| {
                Tokio::with_runtime(Drain(id), || {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .thread_name("async-rt")
                        .enable_all()
                        .build()
                })
            },
            workers,
        )?
    } else {
        m.add(|id| Tokio::new(Drain(id)), workers)?
    };
    m.settings(drain)?
        .readiness(Readiness::Explicit)
        .reload(Reload::Rolling { batch: 1 });
    Ok(m)
}

/// run() ignores the stop; the 1 s graceful timeout must end the worker.
#[derive(Service)]
#[service(name = "stuck_async", graceful_shutdown_timeout = 1)]
struct StuckAsync;

impl AsyncService for StuckAsync {
    async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
        error!("stuck_async run");
        std::future::pending::<()>().await;
        Ok(())
    }

    async fn terminate(&self) -> i32 {
        error!("stuck_async terminate");
        0
    }
}

/// stuck_async × 1.
pub(super) fn stuck_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Tokio::new(StuckAsync), 1)?;
    Ok(m)
}

/// An async service with every default.
#[derive(Service)]
#[service(name = "idle_async")]
struct IdleAsync;

impl AsyncService for IdleAsync {}

/// idle_async × 1 under a master that runs inside a current-thread tokio runtime,
/// as `#[tokio::main]` would make it (wrong: the master logs an ERROR). Returns
/// only if the manager fails.
pub(super) fn master_runtime_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Tokio::new(IdleAsync), 1)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::SignalSetup)?;
    let Err(e) = runtime.block_on(async move { m.run() });
    Err(e)
}
