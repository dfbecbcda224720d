//! One HTTP/1.1 connection of `async_http_server`: hyper's, with the example's
//! rules, its responses and the count of responses written.
//!
//! The rules are `http_server`'s (`examples/http_server/conn.rs`): keep-alive;
//! HTTP/1.0 answered in kind (hyper keeps the connection only if the request
//! asks for it); a request hyper cannot parse answered by hyper itself (400, or
//! 431 for a head over 16 KiB or over 32 headers), then the connection closed; a
//! request body read and dropped, 413 and close past 64 KiB; an idle keep-alive
//! connection closed after 60 s. Unlike `http_server`, chunked request bodies
//! are read like the others (hyper decodes them) rather than refused.
//!
//! The drain is cotyledon's ([`cotyledon::Drain`]): the service is wrapped in
//! its layer, which says `Connection: close` on every response once the worker
//! drains, and the caller watches the connection with hyper-util's
//! `GracefulShutdown`, told to shut down only once the drain is over.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use cotyledon::{DrainIo, DrainLayer};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{ALLOW, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tower::Layer;

/// How long an idle keep-alive connection is kept open.
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

/// Serves `stream` until the client closes, the connection idles out, a request
/// or the drain asks to close, or `graceful` shuts it down; to be spawned.
pub(crate) fn serve(
    stream: DrainIo<TcpStream>,
    shared: Arc<Shared>,
    drain: &DrainLayer,
    graceful: &GracefulShutdown,
) -> impl Future<Output = ()> + Send + 'static {
    let _ = stream.get_ref().set_nodelay(true);
    let handed = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Counted {
        stream,
        handed: handed.clone(),
        counted: 0,
        shared: shared.clone(),
    });
    let service = tower::service_fn(move |req: Request<Incoming>| {
        let (shared, handed) = (shared.clone(), handed.clone());
        async move {
            let response = respond(req, &shared.hello).await;
            // Handed to hyper, which encodes it at once; `Counted` counts it
            // once it is written.
            handed.fetch_add(1, Ordering::Relaxed);
            Ok::<_, Infallible>(response)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        // Also the wait for the next request of a keep-alive connection.
        .header_read_timeout(IDLE_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .serve_connection(io, TowerToHyperService::new(drain.layer(service)));
    let conn = graceful.watch(conn);
    // Errors are the client's (a reset, a bad request hyper answered): nothing to log.
    async move {
        let _ = conn.await;
    }
}

/// The response to `req`, whose body is read and dropped. `hello` is the body
/// of a 200. (`Connection: close` while the worker drains is the drain layer's.)
pub(crate) async fn respond<B>(req: Request<B>, hello: &Bytes) -> Response<Full<Bytes>>
where
    B: Body + Unpin,
{
    let status = match (req.method(), req.uri() == "/") {
        (&Method::GET | &Method::HEAD, true) => StatusCode::OK,
        (&Method::GET | &Method::HEAD, false) => StatusCode::NOT_FOUND,
        _ => StatusCode::METHOD_NOT_ALLOWED,
    };
    match skip_body(req.into_body()).await {
        Ok(()) => response(status, false, hello),
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
    stream: DrainIo<TcpStream>,
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
    fn exchange(method: &str, target: &str, body: &'static [u8]) -> (Response<Full<Bytes>>, Bytes) {
        let req = Request::builder()
            .method(method)
            .uri(target)
            .body(Full::new(Bytes::from_static(body)))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = respond(req, &Bytes::from_static(b"hi\n")).await;
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
        let (ok, body) = exchange("GET", "/", b"");
        assert_eq!((ok.status(), &body[..]), (StatusCode::OK, &b"hi\n"[..]));
        assert_eq!(header(&ok, CONTENT_TYPE), Some("text/plain"));
        assert_eq!(header(&ok, CONNECTION), None);
        let (missing, body) = exchange("HEAD", "/x", b"");
        assert_eq!(
            (missing.status(), &body[..]),
            (StatusCode::NOT_FOUND, &b"not found\n"[..])
        );
        let (query, _) = exchange("GET", "/?q=1", b"");
        assert_eq!(query.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn bodies_are_skipped_and_other_methods_refused() {
        let (post, _) = exchange("POST", "/", b"body");
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&post, ALLOW), Some("GET, HEAD"));
        assert_eq!(header(&post, CONNECTION), None);
        let big: &'static [u8] = vec![b'x'; MAX_BODY + 1].leak();
        let (refused, body) = exchange("PUT", "/", big);
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(header(&refused, CONNECTION), Some("close"));
        assert_eq!(&body[..], b"request body too large\n");
    }
}
