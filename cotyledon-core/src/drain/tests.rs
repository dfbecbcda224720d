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

#[test]
fn a_connection_closed_with_unread_bytes_lingers_instead_of_resetting() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    runtime().block_on(async {
        let ctx = ctx();
        let drain = ctx.drain();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let mut server = drain.track(server);
        // The client sends more than the server will ever read.
        client.write_all(&[b'x'; 1000]).await.expect("send");
        tokio::time::sleep(Duration::from_millis(20)).await;
        // An answer larger than the socket buffers: still queued in the
        // server's kernel when it closes.
        const ANSWER: usize = 16 << 20;
        let closing = tokio::spawn(async move {
            server.write_all(&vec![b'a'; ANSWER]).await.expect("answer");
            let start = Instant::now();
            server.shutdown().await.expect("shutdown");
            drop(server);
            start.elapsed()
        });
        // A close with those bytes unread would send a reset, which throws
        // away what the server's kernel still holds of the answer.
        let mut answer = Vec::new();
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.read_to_end(&mut answer).await.expect("no reset");
        assert_eq!(answer.len(), ANSWER);
        drop(client);
        // The linger ends with the client's close, not with its bound.
        let lingered = closing.await.expect("closed");
        assert!(lingered < DRAIN_LINGER, "{lingered:?}");
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

    #[test]
    fn the_answer_to_a_request_whose_body_is_left_unread_is_not_reset() {
        runtime().block_on(async {
            let ctx = ctx();
            let drain = ctx.drain();
            let tokio_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = tokio_listener.local_addr().expect("addr");
            let app = axum::Router::new().route(
                "/",
                axum::routing::get(|| async { "hi" }).post(|| async { "hi" }),
            );
            let server = tokio::spawn({
                let listener = drain.listener(tokio_listener);
                let serve = axum::serve(listener, app.layer(drain.layer()));
                let drained = drain.drained();
                async move { serve.with_graceful_shutdown(drained).await.expect("serve") }
            });
            let mut client = TcpStream::connect(addr).await.expect("connect");
            // Accepted (a connection still queued at the stop would be reset
            // with the listener: the workers' other fds keep the socket).
            assert!(get(&mut client).await.starts_with("http/1.1 200"));
            ctx.stop();
            // A body the handler never reads: hyper answers, then closes the
            // connection with the rest of the body unread.
            let body = vec![b'x'; 40_000];
            let head = format!(
                "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes()).await.expect("write");
            client.write_all(&body).await.expect("write");
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await.expect("no reset");
            let answer = String::from_utf8_lossy(&answer).to_lowercase();
            assert!(answer.starts_with("http/1.1 200"), "{answer}");
            assert!(answer.contains("connection: close"), "{answer}");
            assert!(answer.ends_with("\r\n\r\nhi"), "{answer}");
            drop(client);
            server.await.expect("server task");
        });
    }
}
