//! The control endpoint of a running manager (opt-in:
//! [`control_socket`](crate::ServiceManagerBuilder::control_socket),
//! [`control_tcp`](crate::ServiceManagerBuilder::control_tcp)): status,
//! metrics and commands over a minimal HTTP/1.1, served from the master's own
//! event loop with non-blocking I/O. No thread, no process: the master stays
//! single-threaded, its poll has the listeners and connections beside the
//! self-pipe, and a reply is rendered from the supervisor's state in the turn
//! its request completes.
//!
//! A client cannot hold the master: every connection has one deadline
//! ([`DEADLINE`], from its accept to the end of the reply, then closed), a
//! request head is at most 8 KiB (413), at most [`MAX_CONNECTIONS`] are open
//! (more are accepted and closed at once), at most [`ACCEPTS_PER_TURN`] are
//! accepted per turn, and a reply is written as far as the client reads it,
//! never waited for.

mod bind;
mod http;
mod prometheus;
mod render;
mod route;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use log::{info, warn};

pub(crate) use bind::Endpoint;
use http::{Parsed, Reply};
pub(crate) use route::add_workers;

use super::supervisor::{Input, Supervisor};

const TARGET: &str = "cotyledon::manager";

/// How long a connection may last, from its accept to the end of its reply.
pub(crate) const DEADLINE: Duration = Duration::from_secs(5);
/// The most connections open at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// The most connections accepted in one turn of the loop.
pub(crate) const ACCEPTS_PER_TURN: usize = 256;

/// What only the shell knows, for the status.
pub(crate) struct MasterInfo {
    pub(crate) pid: i32,
    pub(crate) uptime: Duration,
    /// The master's start, in seconds since the Unix epoch.
    pub(crate) started_unix: f64,
    /// The master's executable.
    pub(crate) binary: Option<String>,
    /// Resident memory of a pid, read at request time.
    pub(crate) rss: fn(i32) -> Option<u64>,
    /// The readings of this turn: requests served together read `/proc` once.
    pub(crate) read: std::cell::RefCell<std::collections::HashMap<i32, Option<u64>>>,
}

impl MasterInfo {
    /// Resident memory of `pid`, read once per turn.
    pub(crate) fn rss_of(&self, pid: i32) -> Option<u64> {
        *self
            .read
            .borrow_mut()
            .entry(pid)
            .or_insert_with(|| (self.rss)(pid))
    }
}

/// A client's stream.
enum Stream {
    Unix(UnixStream),
    Tcp(std::net::TcpStream),
}

impl Stream {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One client.
struct Conn {
    stream: Stream,
    deadline: Instant,
    /// The request head read so far (reading), or the reply (writing).
    buf: Vec<u8>,
    /// Bytes of the reply written (`None`: still reading).
    written: Option<usize>,
}

/// The endpoint and its connections, in the shell.
pub(crate) struct Server {
    endpoint: Endpoint,
    conns: Vec<Conn>,
    /// Accepting failed (no fd left, say): the listeners are left out of the
    /// poll until then, so a listener that stays readable cannot spin the loop.
    paused: Option<Instant>,
    /// Whether that was said (once).
    warned: bool,
}

/// How long accepting pauses after it failed.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Whether a poll entry wants input or output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    Read,
    Write,
}

impl Server {
    /// The listeners' fds (Unix, TCP), for a binary upgrade's new master.
    pub(crate) fn listener_fds(&self) -> (Option<i32>, Option<i32>) {
        self.endpoint.listener_fds()
    }

    /// The new master took over: this one stops serving (its clients are
    /// dropped) and leaves the socket file to it.
    pub(crate) fn hand_over(mut self) {
        self.endpoint.disown();
    }

    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Server {
            endpoint,
            conns: Vec::new(),
            paused: None,
            warned: false,
        }
    }

    /// The fds to poll and what for.
    pub(crate) fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, Want)> {
        let mut fds = Vec::new();
        if self.paused.is_none() {
            if let Some(u) = &self.endpoint.unix {
                fds.push((u.listener.as_fd(), Want::Read));
            }
            if let Some(t) = &self.endpoint.tcp {
                fds.push((t.as_fd(), Want::Read));
            }
        }
        for c in &self.conns {
            let want = if c.written.is_some() {
                Want::Write
            } else {
                Want::Read
            };
            fds.push((c.stream.fd(), want));
        }
        fds
    }

    /// Every fd of the endpoint (a forked worker closes them).
    pub(crate) fn raw_fds(&self) -> Vec<i32> {
        let mut fds = self.endpoint.raw_fds();
        fds.extend(self.conns.iter().map(|c| c.stream.fd().as_raw_fd()));
        fds
    }

    /// The earliest connection deadline.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.conns
            .iter()
            .map(|c| c.deadline)
            .chain(self.paused)
            .min()
    }

    /// One turn: accepts, reads, replies, writes, closes what is done or late.
    /// Returns what the commands that completed ask of the supervisor.
    pub(crate) fn serve(&mut self, sup: &Supervisor, info: &MasterInfo) -> Vec<Input> {
        let now = Instant::now();
        self.accept(now);
        let mut inputs = Vec::new();
        self.conns.retain_mut(|c| {
            if now >= c.deadline {
                return false;
            }
            if c.written.is_none() && !read(c, sup, info, now, &mut inputs) {
                return false;
            }
            match c.written {
                Some(_) => write(c),
                None => true,
            }
        });
        inputs
    }

    fn accept(&mut self, now: Instant) {
        if self.paused.is_some_and(|until| now < until) {
            return;
        }
        self.paused = None;
        let mut accepted = 0;
        while accepted < ACCEPTS_PER_TURN {
            let next = match self.endpoint.unix.as_ref().map(|u| u.listener.accept()) {
                Some(Ok((s, _))) => Ok(Some(Stream::Unix(s))),
                Some(Err(e)) if !transient(&e) => Err(e),
                _ => match self.endpoint.tcp.as_ref().map(|t| t.accept()) {
                    Some(Ok((s, _))) => Ok(Some(Stream::Tcp(s))),
                    Some(Err(e)) if !transient(&e) => Err(e),
                    _ => Ok(None),
                },
            };
            let stream = match next {
                Ok(Some(stream)) => stream,
                Ok(None) => break,
                Err(e) => {
                    self.paused = Some(now + ACCEPT_PAUSE);
                    if !self.warned {
                        self.warned = true;
                        warn!(
                            target: TARGET,
                            "Control endpoint: could not accept a connection ({e}); \
                             accepting pauses {ACCEPT_PAUSE:?} each time it fails"
                        );
                    }
                    break;
                }
            };
            accepted += 1;
            // Over the cap: closed at once (the client sees the end of file).
            if self.conns.len() >= MAX_CONNECTIONS {
                continue;
            }
            let nonblocking = match &stream {
                Stream::Unix(s) => s.set_nonblocking(true),
                Stream::Tcp(s) => s.set_nonblocking(true),
            };
            if nonblocking.is_err() {
                continue;
            }
            self.conns.push(Conn {
                stream,
                deadline: now + DEADLINE,
                buf: Vec::new(),
                written: None,
            });
        }
    }
}

/// Whether an accept error only means "nothing now" (or a client that left).
fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::Interrupted | ErrorKind::ConnectionAborted
    )
}

/// Reads what the client sent; once the head is complete (or bad), the reply
/// replaces the buffer. Returns whether the connection stays.
fn read(
    c: &mut Conn,
    sup: &Supervisor,
    info: &MasterInfo,
    now: Instant,
    inputs: &mut Vec<Input>,
) -> bool {
    let mut chunk = [0u8; 2048];
    loop {
        let room = http::MAX_REQUEST - c.buf.len().min(http::MAX_REQUEST);
        let want = room.clamp(1, chunk.len());
        match c.stream.io().read(&mut chunk[..want]) {
            Ok(0) => return false,
            Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
        if c.buf.len() >= http::MAX_REQUEST {
            break;
        }
    }
    let reply = match http::parse(&c.buf) {
        Parsed::Incomplete => return true,
        Parsed::Bad(why) => Reply::text(400, format!("bad request: {why}")),
        Parsed::TooLarge => Reply::text(
            413,
            format!("request head larger than {} bytes", http::MAX_REQUEST),
        ),
        Parsed::Request { method, path } => {
            let (reply, input) = route::route(&method, &path, sup, info, now);
            if let Some(input) = input {
                info!(target: TARGET, "Control request {method} {path}: {}", reply.body.trim_end());
                inputs.push(input);
            }
            reply
        }
    };
    c.buf = reply.to_bytes();
    c.written = Some(0);
    true
}

/// Sends without SIGPIPE when the client has gone (the master may not ignore
/// SIGPIPE: the program decides its disposition).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send(stream: &mut Stream, buf: &[u8]) -> std::io::Result<usize> {
    use nix::sys::socket::MsgFlags;
    Ok(nix::sys::socket::send(
        stream.fd().as_raw_fd(),
        buf,
        MsgFlags::MSG_NOSIGNAL,
    )?)
}

/// Sends (the master ignores SIGPIPE where there is no `MSG_NOSIGNAL`: Rust
/// programs do by default).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send(stream: &mut Stream, buf: &[u8]) -> std::io::Result<usize> {
    stream.io().write(buf)
}

/// Writes what the client takes; returns whether the connection stays.
fn write(c: &mut Conn) -> bool {
    let Some(mut done) = c.written else {
        return true;
    };
    while done < c.buf.len() {
        match send(&mut c.stream, &c.buf[done..]) {
            Ok(0) => return false,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                c.written = Some(done);
                return true;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    // Dropped by the caller: closing is the end of the reply (the client
    // sees its end of file once the fd is closed, not before).
    false
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests;
