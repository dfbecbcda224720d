//! The accept loop of `http_server`, shared by a worker process and by each thread
//! of `--single-process`: poll the non-blocking listening socket and the drain's
//! wake-up, accept every connection queued, and serve each on a thread of its own
//! (`conn.rs`).
//!
//! Several loops (processes or threads) poll one socket: all of them wake for one
//! connection and all but one find nothing to accept, which must not block them,
//! hence the non-blocking socket.

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use log::warn;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::conn;
use crate::drain::Drain;

/// One accept loop: what it answers, and the drain it counts connections in.
pub(crate) struct Acceptor {
    /// The body of `GET /`.
    hello: Arc<[u8]>,
    drain: Arc<Drain>,
}

impl Acceptor {
    pub(crate) fn new(hello: String, drain: Arc<Drain>) -> Acceptor {
        Acceptor {
            hello: hello.into_bytes().into(),
            drain,
        }
    }

    /// Accepts and serves until the drain starts (then returns `Ok`), or until
    /// `poll` fails. `listener` must be non-blocking.
    pub(crate) fn serve(&self, listener: &TcpListener) -> Result<(), Errno> {
        loop {
            let mut fds = [
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.drain.wake_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
            if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                return Ok(()); // draining
            }
            self.accept_queued(listener);
        }
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
                    // Out of fds or memory: leave the queue to the other loops.
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
