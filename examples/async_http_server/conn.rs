//! One HTTP/1.1 connection of `async_http_server`, served by hyper in a task of
//! its own: the responses, the drain rules and the count of responses written.
//!
//! The rules are `http_server`'s (`examples/http_server/conn.rs`): keep-alive;
//! HTTP/1.0 answered in kind (hyper keeps the connection only if the request
//! asks for it); a request hyper cannot parse answered by hyper itself (400, or
//! 431 for a head over 16 KiB or over 32 headers), then the connection closed; a
//! request body read and dropped, 413 and close past 64 KiB; an idle keep-alive
//! connection closed after 60 s. Unlike `http_server`, chunked request bodies
//! are read like the others (hyper decodes them) rather than refused.
//!
//! When the worker drains, a request in progress is finished and answered with
//! `Connection: close`, and so is the next request of an idle keep-alive
//! connection if it comes within [`DRAIN_GRACE`]; hyper closes the connection
//! after a response with that header. Only past the grace is an idle connection
//! closed (hyper's `graceful_shutdown`, which closes an idle connection at once
//! and is therefore not called on the stop itself): closing it then would race
//! with a request the client is sending on it, and the client would see a reset;
//! a client that reads `Connection: close` opens a new connection instead, which
//! another worker accepts.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::header::{ALLOW, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How long a draining worker waits for the next request on a keep-alive connection.
const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// How long an idle keep-alive connection is kept open otherwise.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request head (hyper's read buffer), most header lines, largest
/// request body (read and ignored).
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;
const MAX_BODY: usize = 64 * 1024;

/// What every connection of a worker shares.
pub(crate) struct Shared {
    /// The body of `GET /`.
    pub(crate) hello: Bytes,
    /// Responses written, on every connection.
    served: AtomicU64,
}

impl Shared {
    pub(crate) fn new(hello: String) -> Shared {
        Shared {
            hello: Bytes::from(hello),
            served: AtomicU64::new(0),
        }
    }

    /// Responses written so far.
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

/// Serves requests on `stream` until the client closes, the connection idles out,
/// a request asks to close, or the worker drains (`stop` is cancelled).
pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let handed = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Counted {
        stream,
        handed: handed.clone(),
        counted: 0,
        shared: shared.clone(),
    });
    let draining = stop.clone();
    let service = service_fn(move |req| {
        let (shared, handed) = (shared.clone(), handed.clone());
        let close = draining.is_cancelled();
        async move {
            let response = respond(req, &shared.hello, close).await;
            // Handed to hyper, which encodes it at once; `Counted` counts it
            // once it is written.
            handed.fetch_add(1, Ordering::Relaxed);
            Ok::<_, Infallible>(response)
        }
    });
    let mut conn = http1::Builder::new()
        .timer(TokioTimer::new())
        // Also the wait for the next request of a keep-alive connection.
        .header_read_timeout(IDLE_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .serve_connection(io, service);
    // Errors are the client's (a reset, a bad request hyper answered): nothing to log.
    let _ = tokio::select! {
        result = &mut conn => result,
        () = stop.cancelled() => match tokio::time::timeout(DRAIN_GRACE, &mut conn).await {
            Ok(result) => result,
            Err(_) => {
                // Idle for the whole grace: closed now. A request in progress
                // is still answered (with `Connection: close`) first.
                Pin::new(&mut conn).graceful_shutdown();
                (&mut conn).await
            }
        },
    };
    linger(conn.into_parts().io.into_inner().stream).await;
}

/// Closes gracefully once hyper is done: no more writes (hyper has shut the
/// write side down already after a clean end), then read (and drop) what the
/// client still sends until it closes, so that unread bytes do not turn the
/// close into a reset that could destroy the last response before the client
/// reads it.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut left = MAX_HEAD + MAX_BODY;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(n) if n > 0 => left = left.saturating_sub(n),
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_GRACE, drain).await;
}

/// The response to `req`, whose body is read and dropped; `close`: the worker
/// drains, so the response says `Connection: close`. `hello` is the body of a 200.
pub(crate) async fn respond<B>(req: Request<B>, hello: &Bytes, close: bool) -> Response<Full<Bytes>>
where
    B: Body + Unpin,
{
    let status = match (req.method(), req.uri() == "/") {
        (&Method::GET | &Method::HEAD, true) => StatusCode::OK,
        (&Method::GET | &Method::HEAD, false) => StatusCode::NOT_FOUND,
        _ => StatusCode::METHOD_NOT_ALLOWED,
    };
    match skip_body(req.into_body()).await {
        Ok(()) => response(status, close, hello),
        Err(refused) => response(refused, true, hello),
    }
}

/// Reads a request body to its end: the status to refuse the request with when
/// it is too large or cannot be read.
async fn skip_body<B: Body + Unpin>(mut body: B) -> Result<(), StatusCode> {
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let mut read = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        if let Some(data) = frame.data_ref() {
            read += data.remaining();
            if read > MAX_BODY {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
        }
    }
    Ok(())
}

/// A response of `status` (hyper adds `Content-Length`, and drops the body of
/// a response to HEAD).
fn response(status: StatusCode, close: bool, hello: &Bytes) -> Response<Full<Bytes>> {
    let body = match status {
        StatusCode::OK => hello.clone(),
        StatusCode::NOT_FOUND => Bytes::from_static(b"not found\n"),
        StatusCode::METHOD_NOT_ALLOWED => Bytes::from_static(b"method not allowed\n"),
        StatusCode::PAYLOAD_TOO_LARGE => Bytes::from_static(b"request body too large\n"),
        _ => Bytes::from_static(b"bad request\n"),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The connection's socket, counting the responses written: hyper encodes each
/// response whole as soon as the service hands it over (they are small), and
/// flushes the socket once every byte it buffered was written. So a successful
/// flush means that every response handed over so far is in the kernel's send
/// buffer: written, as `http_server` counts a `write_all` that succeeded.
struct Counted {
    stream: TcpStream,
    /// Responses the service handed to hyper on this connection.
    handed: Arc<AtomicU64>,
    /// How many of them were counted in `shared`.
    counted: u64,
    shared: Arc<Shared>,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.stream).poll_flush(cx))?;
        let handed = this.handed.load(Ordering::Relaxed);
        if handed > this.counted {
            let written = handed - this.counted;
            this.shared.served.fetch_add(written, Ordering::Relaxed);
            this.counted = handed;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The response to `METHOD TARGET` with `body`, and its body.
    fn exchange(
        method: &str,
        target: &str,
        body: &'static [u8],
        close: bool,
    ) -> (Response<Full<Bytes>>, Bytes) {
        let req = Request::builder()
            .method(method)
            .uri(target)
            .body(Full::new(Bytes::from_static(body)))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = respond(req, &Bytes::from_static(b"hi\n"), close).await;
            let (head, body) = response.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            (Response::from_parts(head, Full::new(bytes.clone())), bytes)
        })
    }

    fn header(response: &Response<Full<Bytes>>, name: hyper::header::HeaderName) -> Option<&str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn the_root_and_other_paths() {
        let (ok, body) = exchange("GET", "/", b"", false);
        assert_eq!((ok.status(), &body[..]), (StatusCode::OK, &b"hi\n"[..]));
        assert_eq!(header(&ok, CONTENT_TYPE), Some("text/plain"));
        assert_eq!(header(&ok, CONNECTION), None);
        let (missing, body) = exchange("HEAD", "/x", b"", false);
        assert_eq!(
            (missing.status(), &body[..]),
            (StatusCode::NOT_FOUND, &b"not found\n"[..])
        );
        let (query, _) = exchange("GET", "/?q=1", b"", false);
        assert_eq!(query.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn draining_says_close() {
        let (ok, _) = exchange("GET", "/", b"", true);
        assert_eq!(
            (ok.status(), header(&ok, CONNECTION)),
            (StatusCode::OK, Some("close"))
        );
    }

    #[test]
    fn bodies_are_skipped_and_other_methods_refused() {
        let (post, _) = exchange("POST", "/", b"body", false);
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&post, ALLOW), Some("GET, HEAD"));
        assert_eq!(header(&post, CONNECTION), None);
        let big: &'static [u8] = vec![b'x'; MAX_BODY + 1].leak();
        let (refused, body) = exchange("PUT", "/", big, false);
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(header(&refused, CONNECTION), Some("close"));
        assert_eq!(&body[..], b"request body too large\n");
    }
}
