//! The async twin of `http_server.rs`: a pre-fork HTTP/1.1 server whose workers
//! serve with hyper on tokio, an [`AsyncService`] run by [`cotyledon::Tokio`].
//! Reloads and stops drop no request. Feature `tokio`.
//!
//! ```text
//! cargo run --release -p cotyledon-core --features tokio --example async_http_server -- \
//!     --listen 127.0.0.1:8080 --workers 4
//! curl http://127.0.0.1:8080/        # worker 2 pid 12345
//! kill -HUP <master pid>             # rolling restart of the workers
//! kill -TERM <master pid>            # drain in-flight requests, exit 0
//! ```
//!
//! The command line, the log lines and the master are `http_server`'s (shared in
//! `http_server/cli.rs`): `--listen ADDR` (default 127.0.0.1:8080), `--workers N`
//! (default 4), `--boot-delay-ms MS` (each worker takes that long before it is
//! ready; default 0), `--reload rolling|all-at-once` (what SIGHUP does;
//! default rolling, one worker at a time, the next once the replacement is
//! ready) and `--max-lifetime-ms MS` (recycle each worker after about that long).
//! `--single-process` is `http_server`'s only. `cargo xtask load --example
//! async_http_server` runs it under wrk.
//!
//! Each worker builds its tokio runtime after the fork: a current-thread one
//! ([`Tokio::new`]), one event loop per worker process. That is the pre-fork
//! model (scale with `--workers`, one process per core or two) and a fair match
//! for `http_server`, whose workers are processes too; a multi-thread runtime
//! per worker ([`Tokio::with_runtime`]) would only add threads competing for the
//! same cores. The worker takes the master's listening socket from its context,
//! makes it non-blocking (a flag of the socket, shared by every process holding
//! it: all of them wake for one connection and all but one find nothing to
//! accept, which must not block them), hands it to tokio, says it is ready, and
//! serves each connection it accepts in a task of its own
//! (`async_http_server/conn.rs`).
//!
//! The drain is `http_server`'s: once [`Context::cancellation_token`] is
//! cancelled (SIGTERM, or the worker's turn in a rolling reload), the worker
//! stops accepting at once (the connections still queued on the shared socket go
//! to the other workers, or to the replacement), finishes every request in
//! flight, answers the next request of each keep-alive connection with
//! `Connection: close`, and `run` returns once every connection is closed; the
//! graceful shutdown timeout (10 s) bounds it. `terminate` then logs how many
//! responses the worker wrote.
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
use log::{info, warn};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

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
    fn new(id: WorkerId, boot_delay: Duration) -> Tokio<HttpWorker> {
        let hello = format!("worker {id} pid {}\n", std::process::id());
        Tokio::new(HttpWorker {
            id,
            boot_delay,
            shared: Arc::new(Shared::new(hello)),
        })
    }
}

impl AsyncService for HttpWorker {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        let stop = ctx.cancellation_token();
        // A slow application: this is where it would load its model.
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(self.boot_delay) => {}
        }
        // A new fd on the master's socket.
        let listener = ctx.tcp_listener("http")?;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        // Logged before ready(): a line the master logs once the worker is ready
        // (a recycle of the next worker) comes after this one in the log.
        info!("http worker {} serving", ctx.worker_id());
        // Booted: a rolling reload may now go on to the next worker.
        ctx.ready();
        let mut connections = JoinSet::new();
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                biased;
                () = &mut stopped => break,
                // Reaps the tasks of closed connections as it goes (before
                // accepting more, so that a burst of connections cannot pile
                // them up).
                Some(ended) = connections.join_next() => log_panic(ended),
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(conn::serve(stream, self.shared.clone(), stop.clone()));
                    }
                    Err(e) => accept_failed(e).await,
                },
            }
        }
        // Stops accepting: this worker's fd of the socket is closed, the socket
        // stays open in the master and the other workers.
        drop(listener);
        while let Some(ended) = connections.join_next().await {
            log_panic(ended);
        }
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

fn log_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        warn!("a connection task failed: {e}");
    }
}

fn main() {
    cli::main("async_http_server", HttpWorker::new, None);
}
