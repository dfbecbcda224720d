//! A pre-fork HTTP/1.1 server: N worker processes share one listening socket, and
//! reloads and stops drop no request.
//!
//! ```text
//! cargo run --release --example http_server -- --listen 127.0.0.1:8080 --workers 4
//! curl http://127.0.0.1:8080/        # worker 2 pid 12345
//! kill -HUP <master pid>             # rolling restart of the workers
//! kill -TERM <master pid>            # drain in-flight requests, exit 0
//! ```
//!
//! Options: `--listen ADDR` (default 127.0.0.1:8080), `--workers N` (default 4),
//! `--boot-delay-ms MS` (each worker takes that long before it is ready, like an
//! application loading a model or warming a cache; default 0) and
//! `--reload rolling|all-at-once` (what SIGHUP does; default rolling).
//!
//! Synchronous on purpose, so it reads top to bottom. The master binds the
//! listening socket (`manager.listen`) before it forks; each worker takes it from
//! its context, says it is ready once booted (`Readiness::Explicit`), polls it,
//! accepts, and serves each connection on a thread of its own
//! (`http_server/conn.rs`, with `httparse` for the request heads). `terminate()`
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
//! command line, the logger and the master are shared with its async twin,
//! `async_http_server.rs` (`http_server/cli.rs`).

#[path = "http_server/cli.rs"]
mod cli;
#[path = "http_server/conn.rs"]
mod conn;
#[path = "http_server/drain.rs"]
mod drain;

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use cotyledon::{BoxError, Context, Service, WorkerId};
use log::{info, warn};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use drain::Drain;

/// One worker: the HTTP service.
#[derive(Service)]
#[service(name = "http", graceful_shutdown_timeout = 10)]
struct HttpWorker {
    id: WorkerId,
    /// The body of `GET /`.
    hello: Arc<[u8]>,
    boot_delay: Duration,
    drain: Arc<Drain>,
}

impl HttpWorker {
    /// Built in the worker process, right after the fork.
    fn new(id: WorkerId, boot_delay: Duration) -> std::io::Result<Self> {
        let hello = format!("worker {id} pid {}\n", std::process::id());
        Ok(HttpWorker {
            id,
            hello: hello.into_bytes().into(),
            boot_delay,
            drain: Arc::new(Drain::new()?),
        })
    }

    /// Accepts every connection queued on `listener`, one thread each.
    fn accept_queued(&self, listener: &TcpListener) {
        while !self.drain.is_draining() {
            match listener.accept() {
                Ok((stream, _)) => self.spawn(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    // Out of fds or memory: leave the queue to the other workers.
                    warn!("accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                    return;
                }
            }
        }
    }

    fn spawn(&self, stream: TcpStream) {
        // Counted here, before the thread exists, so terminate() cannot miss it.
        let open = self.drain.open();
        let hello = self.hello.clone();
        let spawned = std::thread::Builder::new()
            .name("conn".to_owned())
            .spawn(move || conn::serve(stream, open, &hello));
        if let Err(e) = spawned {
            warn!("cannot start a connection thread: {e}");
        }
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
        // Booted: a rolling reload may now go on to the next worker.
        ctx.ready();
        info!("http worker {} serving", ctx.worker_id());
        loop {
            let mut fds = [
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.drain.wake_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                return Ok(()); // draining
            }
            self.accept_queued(&listener);
        }
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
    cli::main("http_server", HttpWorker::new);
}
