//! A pre-fork HTTP/1.1 server: N worker processes share one listening socket, and
//! reloads and stops drop no request.
//!
//! ```text
//! cargo run --release --example http_server -- --listen 127.0.0.1:8080 --workers 4
//! curl http://127.0.0.1:8080/        # worker 2 pid 12345 version 0.1.0
//! kill -HUP <master pid>             # rolling restart of the workers
//! kill -USR2 <master pid>            # binary upgrade: a new master, same socket
//! kill -TERM <master pid>            # drain in-flight requests, exit 0
//! ```
//!
//! Options: `--listen ADDR` (default 127.0.0.1:8080), `--workers N` (default 4),
//! `--boot-delay-ms MS` (each worker takes that long before it is ready, like an
//! application loading a model or warming a cache; default 0, at most an hour),
//! `--reload rolling|all-at-once` (what SIGHUP does; default rolling) and
//! `--max-lifetime-ms MS` (recycle each worker after about that long,
//! `max_lifetime`: each worker id on a grid of its own, one at a time, each once
//! the previous replacement is ready; 1 ms to 30 days, default never),
//! `--upgrade-timeout-ms MS` (how long the new master of a binary upgrade may
//! take to get every worker ready, `upgrade_timeout`; 1 ms to a day, default
//! 60 s) and `--version-tag TAG` (the version string of the responses, 1 to 64
//! visible ASCII characters).
//!
//! Each response says which build answered: `worker ID pid PID version V`, V
//! being `--version-tag`, else the environment's `HTTP_SERVER_VERSION`, else
//! `HTTP_SERVER_VERSION` as it was when the example was compiled
//! (`HTTP_SERVER_VERSION=b cargo build --release --example http_server`), else
//! the package version; the master logs it at start (`http_server version V`).
//! SIGUSR2 starts the binary at the path the master was started from as a new
//! master with the same arguments and environment (so the flag and the run-time
//! variable stay what they were; the compiled-in one is the new build's), hands
//! it the listening socket, and leaves once its workers are ready: `cargo xtask
//! load --phase upgrade` upgrades it 10 times under wrk between two builds.
//!
//! `--single-process` runs the same accept loop and connection handler with no
//! manager at all, for comparison (`cargo xtask load` measures the manager's
//! overhead with it): one process binds the socket itself and runs `--workers N`
//! accept threads (`http_server/single.rs`). It does not drain: SIGTERM ends it.
//!
//! Synchronous on purpose, so it reads top to bottom. The master binds the
//! listening socket (`manager.listen`) before it forks; each worker takes it from
//! its context, says it is ready once booted (`Readiness::Explicit`), polls it,
//! accepts (`http_server/accept.rs`), and serves each connection on a thread of
//! its own (`http_server/conn.rs`, with `httparse` for the request heads). `terminate()`
//! drains (`http_server/drain.rs`): the worker stops accepting (the connections
//! still queued on the shared socket go to the other workers, or to the
//! replacement), finishes every request in flight and answers the next request of
//! each keep-alive connection with `Connection: close`; it returns 0 once every
//! connection is closed. With `Reload::Rolling { batch: 1 }`, SIGHUP restarts one
//! worker at a time, the next only once the replacement is ready: three workers
//! always serve, however long a boot takes.
//!
//! The listening socket is non-blocking: with several processes polling one
//! socket, all of them wake for one connection and all but one find nothing to
//! accept, which must not block them. O_NONBLOCK belongs to the socket, so it is
//! shared by every process that holds it, the master included.
//!
//! Logs go to stderr: `LEVEL [PID] message`, the master's and the workers'. The
//! command line (`http_server/args.rs`), the logger and the master
//! (`http_server/cli.rs`) are shared with its async twin, `async_http_server.rs`.

#[path = "http_server/accept.rs"]
mod accept;
#[path = "http_server/args.rs"]
mod args;
#[path = "http_server/cli.rs"]
mod cli;
#[path = "http_server/conn.rs"]
mod conn;
#[path = "http_server/drain.rs"]
mod drain;
#[path = "http_server/single.rs"]
mod single;

use std::sync::Arc;
use std::time::Duration;

use cotyledon::{BoxError, Context, Service, WorkerId};
use log::info;

use accept::Acceptor;
use drain::Drain;

/// One worker: the HTTP service.
#[derive(Service)]
#[service(name = "http", graceful_shutdown_timeout = 10)]
struct HttpWorker {
    id: WorkerId,
    boot_delay: Duration,
    drain: Arc<Drain>,
    acceptor: Acceptor,
}

impl HttpWorker {
    /// Built in the worker process, right after the fork.
    fn new(id: WorkerId, boot_delay: Duration, version: &str) -> std::io::Result<Self> {
        let drain = Arc::new(Drain::new()?);
        let hello = format!("worker {id} pid {} version {version}\n", std::process::id());
        Ok(HttpWorker {
            id,
            boot_delay,
            acceptor: Acceptor::new(hello, drain.clone()),
            drain,
        })
    }
}

impl cotyledon::Service for HttpWorker {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        let _accepting = self.drain.accepting();
        // A slow application: this is where it would load its model.
        if ctx.wait_timeout(self.boot_delay) {
            return Ok(());
        }
        // A new fd on the master's socket. O_NONBLOCK is shared by every process
        // holding it: every worker sets the same.
        let listener = ctx.tcp_listener("http")?;
        listener.set_nonblocking(true)?;
        // Logged before ready(): a line the master logs once the worker is ready
        // (a recycle of the next worker) comes after this one in the log.
        info!("http worker {} serving", ctx.worker_id());
        // Booted: a rolling reload may now go on to the next worker.
        ctx.ready();
        Ok(self.acceptor.serve(&listener)?)
    }

    fn terminate(&self) -> i32 {
        self.drain.start();
        // Bounded by graceful_shutdown_timeout: past it the worker exits with 1.
        self.drain.wait_idle();
        info!(
            "http worker {} drained: {} requests served",
            self.id,
            self.drain.served()
        );
        0
    }
}

fn main() {
    cli::main("http_server", HttpWorker::new, Some(single::serve));
}
