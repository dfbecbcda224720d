//! An idle keep-alive connection that the task holds through the SIGTERM phase.
//!
//! A draining worker waits up to a second for the next request on an idle
//! keep-alive connection, answers it with `Connection: close`, then closes. This
//! connection checks that, and its wait keeps one worker (hence the master, and
//! the listening socket) alive while the others have finished: the moment to stop
//! wrk and count what it saw before the socket closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request, as wrk sends it.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

pub(crate) struct IdleConn {
    stream: TcpStream,
}

impl IdleConn {
    /// Connects and makes one request, which must leave the connection open.
    pub(crate) fn open(port: u16) -> Result<IdleConn, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("idle connection: cannot connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut conn = IdleConn { stream };
        let head = conn.request()?;
        if !head.starts_with("HTTP/1.1 200 ") || closes(&head) {
            return Err(format!(
                "idle connection: unexpected first response: {head:?}"
            ));
        }
        Ok(conn)
    }

    /// Makes the next request: true if it was answered with 200 and
    /// `Connection: close`, and the server then closed the connection.
    pub(crate) fn last_request(mut self) -> Result<bool, String> {
        let head = self.request()?;
        let mut rest = [0u8; 64];
        let closed = matches!(self.stream.read(&mut rest), Ok(0));
        Ok(head.starts_with("HTTP/1.1 200 ") && closes(&head) && closed)
    }

    /// Sends [`REQUEST`] and reads the response; returns its head.
    fn request(&mut self) -> Result<String, String> {
        let fail = |e: std::io::Error| format!("idle connection: {e}");
        self.stream.write_all(REQUEST).map_err(fail)?;
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 512];
        let head_end = loop {
            if let Some(at) = find(&bytes, b"\r\n\r\n") {
                break at + 4;
            }
            match self.stream.read(&mut chunk).map_err(fail)? {
                0 => return Err("idle connection: closed before a response".to_owned()),
                n => bytes.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
        let length: usize = header(&head, "content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("idle connection: no Content-Length in {head:?}"))?;
        while bytes.len() < head_end + length {
            match self.stream.read(&mut chunk).map_err(fail)? {
                0 => return Err("idle connection: closed in a response body".to_owned()),
                n => bytes.extend_from_slice(&chunk[..n]),
            }
        }
        Ok(head)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of header `name` (lowercase) in a response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn closes(head: &str) -> bool {
    header(head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_whatever_their_case() {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 12\r\nConnection: Close\r\n\r\n";
        assert_eq!(header(head, "content-length"), Some("12"));
        assert!(closes(head));
        assert!(!closes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert_eq!(find(b"ab\r\n\r\ncd", b"\r\n\r\n"), Some(2));
    }
}
