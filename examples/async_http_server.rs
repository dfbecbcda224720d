//! The async twin of `http_server.rs`: a pre-fork HTTP/1.1 server whose workers
//! serve with hyper-util on tokio, an [`AsyncService`] run by [`cotyledon::Tokio`].
//! Reloads and stops drop no request. Feature `drain`.
//!
//! ```text
//! cargo run --release -p cotyledon-core --features drain --example async_http_server -- \
//!     --listen 127.0.0.1:8080 --workers 4
//! curl http://127.0.0.1:8080/        # worker 2 pid 12345 version 0.1.0
//! kill -HUP <master pid>             # rolling restart of the workers
//! kill -USR2 <master pid>            # binary upgrade: a new master, same socket
//! kill -TERM <master pid>            # drain in-flight requests, exit 0
//! ```
//!
//! The command line, the log lines and the master are `http_server`'s (shared in
//! `http_server/cli.rs`): `--listen ADDR` (default 127.0.0.1:8080), `--workers N`
//! (default 4), `--boot-delay-ms MS` (each worker takes that long before it is
//! ready; default 0), `--reload rolling|all-at-once` (what SIGHUP does;
//! default rolling, one worker at a time, the next once the replacement is
//! ready), `--max-lifetime-ms MS` (recycle each worker after about that long),
//! `--upgrade-timeout-ms MS` (how long the new master of a binary upgrade,
//! SIGUSR2, may take to get every worker ready; default 60 s) and `--version-tag
//! TAG` (the version string of the responses, `worker ID pid PID version V`: the
//! flag, else the environment's `HTTP_SERVER_VERSION`, else the one compiled in,
//! else the package version; only the compiled-in one differs between the two
//! masters of an upgrade, which get the same arguments and environment).
//! `--single-process` is `http_server`'s only. `cargo xtask load --example
//! async_http_server` runs it under wrk, `... --phase upgrade` through 10 binary
//! upgrades between two builds.
//!
//! Each worker builds its tokio runtime after the fork: a current-thread one
//! ([`Tokio::new`]), one event loop per worker process. That is the pre-fork
//! model (scale with `--workers`, one process per core or two) and a fair match
//! for `http_server`, whose workers are processes too; a multi-thread runtime
//! per worker ([`Tokio::with_runtime`]) would only add threads competing for the
//! same cores. The worker takes the master's listening socket from its context
//! as a tokio listener ([`Context::tokio_tcp_listener`]), says it is ready, and
//! serves each connection it accepts with hyper in a task of its own
//! (`async_http_server/conn.rs`), watched by hyper-util's `GracefulShutdown`.
//!
//! The drain is cotyledon's ([`Context::drain`], feature `drain`): once the
//! worker is told to stop (SIGTERM, or its turn in a rolling reload), its
//! listener stops accepting (the connections still queued on the shared socket
//! go to the other workers, or to the replacement), every request in flight is
//! finished, the next request of each keep-alive connection is answered with
//! `Connection: close` (the drain's layer), and `GracefulShutdown` is told to
//! shut down once every connection is closed or a 1 s grace has passed, which
//! closes the connections idle all that time; the graceful shutdown timeout
//! (10 s) bounds it. `terminate` then logs how many responses the worker wrote.
//!
//! Logs go to stderr: `LEVEL [PID] message`, the master's and the workers'.

#[path = "http_server/args.rs"]
mod args;
#[path = "http_server/cli.rs"]
mod cli;
#[path = "async_http_server/conn.rs"]
mod conn;

use std::sync::Arc;
use std::time::Duration;

use cotyledon::{AsyncService, BoxError, Context, Service, Tokio, WorkerId};
use hyper_util::server::graceful::GracefulShutdown;
use log::{info, warn};

use conn::Shared;

/// One worker: the HTTP service.
#[derive(Service)]
#[service(name = "http", graceful_shutdown_timeout = 10)]
struct HttpWorker {
    id: WorkerId,
    boot_delay: Duration,
    shared: Arc<Shared>,
}

impl HttpWorker {
    /// Built in the worker process, right after the fork.
    fn new(id: WorkerId, boot_delay: Duration, version: &str) -> Tokio<HttpWorker> {
        let hello = format!("worker {id} pid {} version {version}\n", std::process::id());
        Tokio::new(HttpWorker {
            id,
            boot_delay,
            shared: Arc::new(Shared::new(hello)),
        })
    }
}

impl AsyncService for HttpWorker {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        // A slow application: this is where it would load its model.
        tokio::select! {
            () = ctx.stopped() => return Ok(()),
            () = tokio::time::sleep(self.boot_delay) => {}
        }
        // A new fd on the master's socket, which stops accepting at the stop.
        let drain = ctx.drain();
        let mut listener = drain.listener(ctx.tokio_tcp_listener("http")?);
        // Logged before ready(): a line the master logs once the worker is ready
        // (a recycle of the next worker) comes after this one in the log.
        info!("http worker {} serving", ctx.worker_id());
        // Booted: a rolling reload may now go on to the next worker.
        ctx.ready();
        let (graceful, layer) = (GracefulShutdown::new(), drain.layer());
        while let Some(accepted) = listener.accept().await {
            match accepted {
                Ok((stream, _)) => {
                    let shared = self.shared.clone();
                    tokio::spawn(conn::serve(stream, shared, &layer, &graceful));
                }
                Err(e) => accept_failed(e).await,
            }
        }
        // Stopping: every connection gets its last response, then the idle ones
        // left after the grace are closed and the others finish.
        drain.drained().await;
        graceful.shutdown().await;
        Ok(())
    }

    async fn terminate(&self) -> i32 {
        info!(
            "http worker {} drained: {} requests served",
            self.id,
            self.shared.served()
        );
        0
    }
}

/// An accept that failed for another reason than a connection reset before it
/// was accepted: out of fds or memory. Leaves the queue to the other workers a
/// moment.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, Interrupted};
    if !matches!(e.kind(), ConnectionAborted | Interrupted) {
        warn!("accept failed: {e}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn main() {
    cli::main("async_http_server", HttpWorker::new, None);
}
