//! A user's axum service that drops no request through reloads and stops: the
//! service of `axum_service_naive.rs` plus the four lines marked `drain`
//! (feature `axum`): the worker stops accepting at the stop, answers the next
//! request of each keep-alive connection with `Connection: close`, and axum's
//! graceful shutdown starts once those connections are closed (or after a 1 s
//! grace for idle ones). `cargo xtask load --example axum_service` runs wrk
//! through 20 rolling reloads and counts the failed requests: none. Features
//! `axum` and `logger`; `LISTEN` (default 127.0.0.1:3000) is the address.

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
        let drain = ctx.drain(); // drain
        let listener = drain.listener(ctx.tokio_tcp_listener("http")?); // drain
        axum::serve(listener, app.layer(drain.layer())) // drain
            .with_graceful_shutdown(drain.drained()) // drain
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
