//! Unit tests of the drain: the shutdown future's two ends (last connection
//! closed, grace over), the listener that stops accepting at the stop, the
//! layer's `Connection: close`, and (feature `axum`) a keep-alive client of
//! `axum::serve` that reads `Connection: close` instead of a closed connection.

use std::convert::Infallible;
use std::future::Ready;
use std::task::Poll;
use std::time::{Duration, Instant};

use http::{Request, Response, Version};
use tokio::net::{TcpListener, TcpStream};
use tower_layer::Layer;
use tower_service::Service;

use super::*;
use crate::WorkerId;

fn ctx() -> Context {
    Context::new("t", WorkerId::new(0))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Whether `fut` completes within `within`.
async fn completes(fut: impl Future<Output = ()>, within: Duration) -> bool {
    tokio::time::timeout(within, fut).await.is_ok()
}

#[test]
fn drained_waits_for_the_stop_then_ends_with_the_last_connection() {
    runtime().block_on(async {
        let ctx = ctx();
        let drain = ctx.drain().with_grace(Duration::from_secs(30));
        let (a, b) = (drain.track(()), drain.track(()));
        assert_eq!(drain.open_connections(), 2);
        let mut drained = std::pin::pin!(drain.drained());
        // Not before the stop, even with no connection open.
        assert!(!completes(drained.as_mut(), Duration::from_millis(50)).await);
        ctx.stop();
        drop(a);
        assert!(!completes(drained.as_mut(), Duration::from_millis(50)).await);
        let start = Instant::now();
        drop(b);
        assert!(completes(drained.as_mut(), Duration::from_secs(5)).await);
        assert!(start.elapsed() < Duration::from_secs(1), "not the grace");
        assert_eq!(drain.open_connections(), 0);
        // One made once everything is closed is ready at once.
        assert!(completes(drain.drained(), Duration::from_millis(100)).await);
    });
}

#[test]
fn drained_ends_after_the_grace_when_connections_stay_open() {
    runtime().block_on(async {
        let ctx = ctx();
        let drain = ctx.drain().with_grace(Duration::from_millis(200));
        let _idle = drain.track(());
        ctx.stop();
        let start = Instant::now();
        assert!(completes(drain.drained(), Duration::from_secs(5)).await);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(190), "{took:?}");
        assert_eq!(drain.open_connections(), 1);
    });
}

#[test]
fn the_listener_counts_its_connections_and_closes_at_the_stop() {
    runtime().block_on(async {
        let ctx = ctx();
        let drain = ctx.drain();
        let tokio_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tokio_listener.local_addr().expect("addr");
        let mut listener = drain.listener(tokio_listener);
        assert_eq!(listener.local_addr().expect("open"), addr);
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (conn, _) = listener.accept().await.expect("open").expect("accepted");
        assert_eq!(drain.open_connections(), 1);
        assert!(conn.get_ref().peer_addr().is_ok());
        // The stop ends a pending accept.
        let stopper = ctx.clone();
        let stop = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stopper.stop();
        });
        assert!(listener.accept().await.is_none());
        stop.await.expect("stopped");
        assert!(listener.accept().await.is_none());
        let closed = listener.local_addr().expect_err("closed");
        assert_eq!(closed.kind(), std::io::ErrorKind::NotConnected);
        // The only fd of the socket is closed: nobody accepts any more.
        assert!(TcpStream::connect(addr).await.is_err());
        drop(conn);
        assert_eq!(drain.open_connections(), 0);
    });
}

/// A service answering 200 with no body.
#[derive(Clone)]
struct Ok200;

impl<B> Service<Request<B>> for Ok200 {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;
    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<B>) -> Self::Future {
        std::future::ready(Ok(Response::new(())))
    }
}

#[test]
fn the_layer_says_close_to_http1_requests_once_stopping() {
    runtime().block_on(async {
        let ctx = ctx();
        let mut service = ctx.drain().layer().layer(Ok200);
        let request = |version| Request::builder().version(version).body(()).expect("req");
        let close = |response: &Response<()>| response.headers().get("connection").cloned();
        let before = service.call(request(Version::HTTP_11)).await.expect("ok");
        assert_eq!(close(&before), None);
        // In flight at the stop: answered with close.
        let in_flight = service.call(request(Version::HTTP_11));
        ctx.stop();
        assert_eq!(
            close(&in_flight.await.expect("ok")).expect("close"),
            "close"
        );
        let old = service.call(request(Version::HTTP_10)).await.expect("ok");
        assert_eq!(close(&old).expect("close"), "close");
        let h2 = service.call(request(Version::HTTP_2)).await.expect("ok");
        assert_eq!(close(&h2), None, "not allowed in HTTP/2");
    });
}

/// With axum: the whole drain through `axum::serve`.
#[cfg(feature = "axum")]
mod axum_serve {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_util::sync::CancellationToken;

    use super::*;

    /// One HTTP/1.1 request on `stream`; the response head, lower-cased (the body,
    /// `hi`, is read and checked).
    async fn get(stream: &mut TcpStream) -> String {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("write");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).await.expect("read");
            assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
            head.push(byte[0]);
        }
        let mut body = [0u8; 2];
        stream.read_exact(&mut body).await.expect("body");
        assert_eq!(&body, b"hi");
        String::from_utf8_lossy(&head).to_lowercase()
    }

    #[test]
    fn axum_answers_the_next_keep_alive_request_with_close_then_shuts_down() {
        runtime().block_on(async {
            let ctx = ctx();
            let drain = ctx.drain().with_grace(Duration::from_secs(30));
            let tokio_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = tokio_listener.local_addr().expect("addr");
            let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
            let served = CancellationToken::new();
            let server = tokio::spawn({
                let (listener, served) = (drain.listener(tokio_listener), served.clone());
                let serve = axum::serve(listener, app.layer(drain.layer()));
                async move {
                    serve
                        .with_graceful_shutdown(drain.drained())
                        .await
                        .expect("serve");
                    served.cancel();
                }
            });
            let mut client = TcpStream::connect(addr).await.expect("connect");
            let first = get(&mut client).await;
            assert!(first.starts_with("http/1.1 200"), "{first}");
            assert!(!first.contains("connection: close"), "{first}");
            ctx.stop();
            // The server waits for this connection's next request (grace: 30 s).
            assert!(!completes(served.cancelled(), Duration::from_millis(200)).await);
            let second = get(&mut client).await;
            assert!(second.starts_with("http/1.1 200"), "{second}");
            assert!(second.contains("connection: close"), "{second}");
            // Then the server closes it, and the drain ends at once.
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.expect("clean close");
            assert_eq!(rest, b"");
            assert!(completes(served.cancelled(), Duration::from_secs(5)).await);
            server.await.expect("server task");
        });
    }
}
