//! The drain's tower layer: `Connection: close` on the HTTP/1 responses written
//! while the worker is stopping ([`DrainLayer`], [`DrainService`], [`DrainFuture`]).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::header::{CONNECTION, HeaderValue};
use http::{Request, Response, Version};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::context::Context;

/// The layer of [`Drain::layer`](super::Drain::layer). Feature `drain`.
#[derive(Clone, Debug)]
pub struct DrainLayer {
    ctx: Context,
}

impl DrainLayer {
    pub(super) fn new(ctx: Context) -> Self {
        DrainLayer { ctx }
    }
}

impl<S> tower_layer::Layer<S> for DrainLayer {
    type Service = DrainService<S>;

    fn layer(&self, inner: S) -> DrainService<S> {
        DrainService {
            inner,
            ctx: self.ctx.clone(),
        }
    }
}

/// `S`, whose HTTP/1 responses say `Connection: close` once the worker is
/// stopping (checked when the response is ready, so a request that was in
/// flight at the stop gets it too). HTTP/2 responses are left alone: the
/// header is not allowed there, and hyper's GOAWAY does the job. Feature `drain`.
#[derive(Clone, Debug)]
pub struct DrainService<S> {
    inner: S,
    ctx: Context,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for DrainService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = DrainFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let http1 = req.version() <= Version::HTTP_11;
        DrainFuture {
            inner: self.inner.call(req),
            ctx: http1.then(|| self.ctx.clone()),
        }
    }
}

pin_project! {
    /// The response future of [`DrainService`]. Feature `drain`.
    #[derive(Debug)]
    pub struct DrainFuture<F> {
        #[pin]
        inner: F,
        // The worker's context, for an HTTP/1 request.
        ctx: Option<Context>,
    }
}

impl<F, B, E> Future for DrainFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(ctx)) = (&mut result, this.ctx.as_ref())
            && ctx.is_stopping()
        {
            let close = HeaderValue::from_static("close");
            response.headers_mut().insert(CONNECTION, close);
        }
        Poll::Ready(result)
    }
}
