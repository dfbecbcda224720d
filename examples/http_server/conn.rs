//! One HTTP/1.1 connection of `http_server`, served on its own thread: keep-alive,
//! request heads parsed with `httparse`, and the drain rules.
//!
//! When the worker drains, a request in progress is finished and answered with
//! `Connection: close`; an idle keep-alive connection waits up to [`DRAIN_GRACE`]
//! for its next request and answers it the same way, then closes. Closing an idle
//! connection at once would race with a request the client is sending on it, and
//! the client would see a reset: a client that reads `Connection: close` opens a
//! new connection instead, which another worker accepts.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::drain::Open;

/// How long a draining worker waits for the next request on a keep-alive connection.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// How long an idle keep-alive connection is kept open otherwise.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request head, and largest request body (read and ignored).
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

/// Serves requests on `stream` until the client closes, the connection idles out,
/// a request asks to close, or the worker drains. `hello` is the body of `GET /`.
pub(crate) fn serve(stream: TcpStream, open: Open, hello: &[u8]) {
    // Accepted sockets inherit O_NONBLOCK from the listener on some systems.
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::with_capacity(1024),
        grace: None,
    };
    loop {
        let head = match conn.next_request(&open) {
            Next::Request(head) => head,
            Next::Bad(status) => {
                let head = Head::error(status);
                if conn.respond(&head, true, &[]).is_ok() {
                    conn.linger();
                }
                return;
            }
            Next::Closed => return,
        };
        let close = head.close || open.drain().is_draining();
        if conn.respond(&head, close, hello).is_err() {
            return;
        }
        open.drain().count_served();
        if close {
            conn.linger();
            return;
        }
    }
}

/// The parts of a request head the server acts on.
#[derive(Debug, PartialEq)]
struct Head {
    /// Bytes of the head, then of the body that follows it.
    len: usize,
    body: usize,
    /// 200, 404, 405 (or an error status for a request that could not be read).
    status: u16,
    head_only: bool,
    /// The client asked to close (or is HTTP/1.0 without keep-alive).
    close: bool,
    http10: bool,
}

impl Head {
    fn error(status: u16) -> Head {
        Head {
            len: 0,
            body: 0,
            status,
            head_only: false,
            close: true,
            http10: false,
        }
    }
}

enum Next {
    Request(Head),
    /// A request that cannot be served: answer with this status and close.
    Bad(u16),
    /// The client closed, the connection idled out, or the drain grace ran out.
    Closed,
}

/// Parses a request head at the start of `buf`: `Ok(None)` while it is incomplete,
/// `Err(status)` when it cannot be served.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, u16> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(_) => return Err(400),
    };
    let http10 = req.version == Some(0);
    let mut keep_alive = !http10;
    let mut body = 0;
    for header in req.headers.iter() {
        let value = std::str::from_utf8(header.value).map_err(|_| 400u16)?;
        if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if header.name.eq_ignore_ascii_case("content-length") {
            body = value.trim().parse().map_err(|_| 400u16)?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(501);
        }
    }
    if body > MAX_BODY {
        return Err(413);
    }
    let method = req.method.unwrap_or_default();
    let status = match (method, req.path) {
        ("GET" | "HEAD", Some("/")) => 200,
        ("GET" | "HEAD", _) => 404,
        _ => 405,
    };
    Ok(Some(Head {
        len,
        body,
        status,
        head_only: method == "HEAD",
        close: !keep_alive,
        http10,
    }))
}

/// The response to `head` as bytes: `hello` is the body of a 200.
fn response(head: &Head, close: bool, hello: &[u8]) -> Vec<u8> {
    let (reason, body): (&str, &[u8]) = match head.status {
        200 => ("OK", hello),
        404 => ("Not Found", b"not found\n"),
        405 => ("Method Not Allowed", b"method not allowed\n"),
        413 => ("Content Too Large", b"request body too large\n"),
        431 => (
            "Request Header Fields Too Large",
            b"request head too large\n",
        ),
        501 => ("Not Implemented", b"chunked requests are not supported\n"),
        _ => ("Bad Request", b"bad request\n"),
    };
    let mut out = Vec::with_capacity(160 + body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n",
        head.status,
        body.len()
    );
    if head.status == 405 {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if head.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head.head_only {
        out.extend_from_slice(body);
    }
    out
}

struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed by a request.
    buf: Vec<u8>,
    /// Set when this connection first sees the drain: its last moment.
    grace: Option<Instant>,
}

impl Conn {
    /// Reads until a whole request (head and body) is buffered, and consumes it.
    fn next_request(&mut self, open: &Open) -> Next {
        loop {
            match parse_head(&self.buf) {
                Err(status) => return Next::Bad(status),
                Ok(Some(head)) if self.buf.len() >= head.len + head.body => {
                    self.buf.drain(..head.len + head.body);
                    return Next::Request(head);
                }
                Ok(Some(_)) => {}
                Ok(None) if self.buf.len() >= MAX_HEAD => return Next::Bad(431),
                Ok(None) => {}
            }
            if !self.wait_readable(open) {
                return Next::Closed;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Next::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Closed,
            }
        }
    }

    /// Waits until the socket is readable: false once the connection has idled
    /// out or the drain grace is over.
    fn wait_readable(&mut self, open: &Open) -> bool {
        loop {
            if self.grace.is_none() && open.drain().is_draining() {
                self.grace = Some(Instant::now() + DRAIN_GRACE);
            }
            let timeout = match self.grace {
                Some(end) => end.saturating_duration_since(Instant::now()),
                None => IDLE_TIMEOUT,
            };
            let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
            let mut fds = vec![PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
            // Once draining, the wake-up pipe stays readable: leave it out.
            if self.grace.is_none() {
                fds.push(PollFd::new(open.drain().wake_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(_) => return false,
            }
            if fds[0].revents().is_some_and(|r| !r.is_empty()) {
                return true;
            }
            // Only the wake-up fired: loop to start the grace period.
        }
    }

    fn respond(&mut self, head: &Head, close: bool, hello: &[u8]) -> io::Result<()> {
        self.stream.write_all(&response(head, close, hello))
    }

    /// Closes gracefully after a `Connection: close` response: no more writes,
    /// then read (and drop) what the client still sends until it closes, so that
    /// unread bytes do not turn the close into a reset that could destroy the
    /// response before the client reads it.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = self.stream.set_read_timeout(Some(DRAIN_GRACE));
        let mut sink = [0u8; 4096];
        let mut left = MAX_HEAD + MAX_BODY;
        while left > 0 {
            match self.stream.read(&mut sink) {
                Ok(n) if n > 0 => left = left.saturating_sub(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keep_alive_get_of_the_root() {
        let head = parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET").unwrap();
        let head = head.unwrap();
        assert_eq!((head.len, head.status, head.close), (27, 200, false));
        let text = String::from_utf8(response(&head, false, b"hi\n")).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.ends_with("Content-Length: 3\r\n\r\nhi\n"));
        assert!(!text.contains("Connection"));
        let closing = String::from_utf8(response(&head, true, b"hi\n")).unwrap();
        assert!(closing.contains("\r\nConnection: close\r\n"));
    }

    #[test]
    fn incomplete_heads_wait_and_bad_ones_are_refused() {
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost"), Ok(None));
        assert_eq!(parse_head(b"GET / HTTP/9.9\r\n\r\n"), Err(400));
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_head(chunked), Err(501));
    }

    #[test]
    fn connection_rules_of_both_versions() {
        let close = parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(close.unwrap().unwrap().close);
        let old = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(old.close);
        let kept = parse_head(b"HEAD /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        let kept = kept.unwrap().unwrap();
        assert_eq!(
            (kept.close, kept.status, kept.head_only),
            (false, 404, true)
        );
        let text = String::from_utf8(response(&kept, false, b"")).unwrap();
        assert!(text.contains("Content-Length: 10\r\nConnection: keep-alive\r\n"));
        assert!(text.ends_with("\r\n\r\n"), "a HEAD response has no body");
    }

    #[test]
    fn bodies_are_skipped_and_other_methods_refused() {
        let post = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody");
        let post = post.unwrap().unwrap();
        assert_eq!((post.len, post.body, post.status), (38, 4, 405));
        let text = String::from_utf8(response(&post, false, b"")).unwrap();
        assert!(text.contains("Allow: GET, HEAD\r\n"));
        let big = format!("PUT / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert_eq!(parse_head(big.as_bytes()), Err(413));
    }
}
