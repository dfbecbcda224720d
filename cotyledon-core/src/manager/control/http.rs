//! The control protocol: the least of HTTP/1.1 that `curl --unix-socket` and
//! a Prometheus scrape need. One request per connection, no body read, every
//! reply `Connection: close`. A request head is at most [`MAX_REQUEST`] bytes
//! (413 beyond); a request line that is not `METHOD /path HTTP/1.x` is a 400
//! as soon as its line ends.

/// The largest request head read (request line and headers).
pub(super) const MAX_REQUEST: usize = 8 * 1024;

/// What the bytes read so far make.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed {
    /// Not a whole head yet.
    Incomplete,
    /// A request: its method and path (without the query string).
    Request { method: String, path: String },
    /// Not HTTP: why.
    Bad(&'static str),
    /// Larger than [`MAX_REQUEST`].
    TooLarge,
}

/// Parses a request head from what a client sent so far.
pub(super) fn parse(buf: &[u8]) -> Parsed {
    let Some(eol) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= MAX_REQUEST {
            Parsed::TooLarge
        } else {
            Parsed::Incomplete
        };
    };
    let line = &buf[..eol];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(line) = std::str::from_utf8(line) else {
        return Parsed::Bad("request line is not UTF-8");
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Bad("request line is not METHOD /path HTTP/1.x");
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Parsed::Bad("bad method");
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Parsed::Bad("bad request target");
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Parsed::Bad("not HTTP/1.0 or HTTP/1.1");
    }
    let complete = find(buf, b"\r\n\r\n").is_some() || find(buf, b"\n\n").is_some();
    if !complete {
        return if buf.len() >= MAX_REQUEST {
            Parsed::TooLarge
        } else {
            Parsed::Incomplete
        };
    }
    let path = target.split('?').next().unwrap_or(target);
    Parsed::Request {
        method: method.to_owned(),
        path: path.to_owned(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A reply.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

/// `text/plain` with a charset.
pub(super) const TEXT: &str = "text/plain; charset=utf-8";
/// The Prometheus text exposition format.
pub(super) const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
/// JSON.
pub(super) const JSON: &str = "application/json";

impl Reply {
    /// A plain-text reply; the body gets a final newline.
    pub(crate) fn text(code: u16, body: impl Into<String>) -> Reply {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Reply {
            code,
            content_type: TEXT,
            body,
        }
    }

    /// The bytes sent.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.code {
            200 => "OK",
            202 => "Accepted",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Content Too Large",
            _ => "Error",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.code,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(self.body.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_garbage_and_sizes() {
        assert_eq!(
            parse(b"GET /status HTTP/1.1\r\nHost: x"),
            Parsed::Incomplete
        );
        assert_eq!(
            parse(b"GET /status?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Parsed::Request {
                method: "GET".into(),
                path: "/status".into()
            }
        );
        assert_eq!(
            parse(b"POST /reload HTTP/1.0\n\n"),
            Parsed::Request {
                method: "POST".into(),
                path: "/reload".into()
            }
        );
        assert!(matches!(parse(b"\x16\x03\x01\x02\x00\n"), Parsed::Bad(_)));
        assert!(matches!(parse(b"GET status HTTP/1.1\r\n"), Parsed::Bad(_)));
        assert!(matches!(parse(b"get / HTTP/1.1\r\n"), Parsed::Bad(_)));
        assert!(matches!(parse(b"GET / SPDY/3\r\n"), Parsed::Bad(_)));
        assert_eq!(parse(&vec![b'A'; MAX_REQUEST]), Parsed::TooLarge);
        let mut long = b"GET / HTTP/1.1\r\n".to_vec();
        long.resize(MAX_REQUEST, b'x');
        assert_eq!(parse(&long), Parsed::TooLarge);
        let bytes = Reply::text(404, "no").to_bytes();
        assert!(bytes.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(bytes.ends_with(b"Connection: close\r\n\r\nno\n"));
    }
}
