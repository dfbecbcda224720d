//! The "before" of `axum_service.rs`: a user's axum service as the rustdoc of
//! `Context::stopped` suggests, `axum::serve(...).with_graceful_shutdown(ctx.stopped())`.
//! On each stop axum closes the idle keep-alive connections at once, racing the
//! clients' next requests: `cargo xtask load --example axum_service_naive` counts
//! the socket errors this gives through 20 rolling reloads. Feature `tokio` and
//! `logger`; `LISTEN` (default 127.0.0.1:3000) is the address.

use axum::{Router, routing::get};
use cotyledon::{AsyncService, BoxError, Context, Listen, Reload, Service, ServiceManager};
use cotyledon::{Tokio, WorkerId};

#[derive(Service)]
#[service(name = "web", graceful_shutdown_timeout = 10)]
struct Web {
    id: WorkerId,
}

impl AsyncService for Web {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        let hello = format!("worker {} pid {}\n", self.id, std::process::id());
        let app = Router::new().route("/", get(move || std::future::ready(hello.clone())));
        let listener = ctx.tokio_tcp_listener("http")?;
        axum::serve(listener, app)
            .with_graceful_shutdown(ctx.stopped())
            .await?;
        Ok(())
    }
}

fn main() -> Result<(), BoxError> {
    cotyledon::logger::init()?;
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let mut manager = ServiceManager::new()?;
    manager.listen("http", Listen::tcp(addr.parse::<std::net::SocketAddr>()?))?;
    let web = manager.add(|id| Tokio::new(Web { id }), 4)?;
    manager.settings(web)?.reload(Reload::Rolling { batch: 1 });
    match manager.run()? {}
}
