//! Scenarios of readiness, boot timeouts, one-worker control and rolling reloads:
//! one service, `web`, shaped by environment variables.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cotyledon::{BoxError, Context, Error, Readiness, Reload, Service, ServiceManager, WorkerId};
use log::error;

use super::{env_or, manager};

fn exists(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|p| Path::new(&p).exists())
}

/// Ready only when it says so (`Readiness::Explicit`): after `SCENARIO_READY_FILE`
/// exists (if set), never if `SCENARIO_STALL_FILE` existed when it started. Its
/// reload() is the default: a graceful restart.
#[derive(Service)]
#[service(name = "web")]
struct Web(WorkerId);

impl cotyledon::Service for Web {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        web_run(self.0, ctx)
    }
}

/// As [`Web`], with a reload() done in place: it logs `web reload id=N`, takes
/// `SCENARIO_RELOAD_MS` (0), then logs `web reloaded id=N n=K` (K: this
/// process's count) and, if `SCENARIO_TRACE_SOCKET` names a datagram socket,
/// sends it the same text before it returns (so the test can order it against
/// the master's notifications on one socket).
#[derive(Service)]
#[service(name = "web")]
struct WebInPlace(WorkerId, AtomicU32);

impl cotyledon::Service for WebInPlace {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        web_run(self.0, ctx)
    }

    fn reload(&self) {
        error!("web reload id={}", self.0);
        std::thread::sleep(Duration::from_millis(env_or("SCENARIO_RELOAD_MS", 0)));
        let n = self.1.fetch_add(1, Ordering::SeqCst) + 1;
        let done = format!("web reloaded id={} n={n}", self.0);
        error!("{done}");
        if let Some(path) = std::env::var_os("SCENARIO_TRACE_SOCKET")
            && let Ok(sock) = std::os::unix::net::UnixDatagram::unbound()
        {
            let _ = sock.send_to(done.as_bytes(), path);
        }
    }
}

/// Builds the service, unless `SCENARIO_FACTORY_FAIL_FILE` exists: then the
/// factory fails (the worker exits with status 2 before `run()`).
fn factory<S>(make: fn(WorkerId) -> S) -> impl Fn(WorkerId) -> Result<S, String> {
    move |id| {
        if exists("SCENARIO_FACTORY_FAIL_FILE") {
            return Err(format!("web factory fails id={id}"));
        }
        Ok(make(id))
    }
}

fn web_run(id: WorkerId, ctx: &Context) -> Result<(), BoxError> {
    let stall = exists("SCENARIO_STALL_FILE");
    error!("web boot id={id}");
    let boot = Duration::from_millis(env_or("SCENARIO_BOOT_MS", 0));
    if !boot.is_zero() && ctx.wait_timeout(boot) {
        return Ok(());
    }
    while (stall || std::env::var_os("SCENARIO_READY_FILE").is_some())
        && !exists("SCENARIO_READY_FILE")
    {
        if ctx.wait_timeout(Duration::from_millis(10)) {
            return Ok(());
        }
    }
    if stall {
        ctx.wait_for_stop();
        return Ok(());
    }
    error!("web ready id={id}");
    ctx.ready();
    let mut hung = false;
    let beat_every = Duration::from_millis(env_or("SCENARIO_BEAT_MS", 10));
    let mut beat_at = Instant::now();
    while !ctx.wait_timeout(Duration::from_millis(10)) {
        // Beats until SCENARIO_HANG_FILE exists; then it looks hung.
        if !hung && exists("SCENARIO_HANG_FILE") {
            hung = true;
            error!("web hangs id={id}");
        }
        // The one worker that removes it hangs.
        if !hung
            && let Some(path) = std::env::var_os("SCENARIO_HANG_ONCE_FILE")
            && std::fs::remove_file(&path).is_ok()
        {
            hung = true;
            error!("web hangs id={id}");
        }
        if !hung && beat_at.elapsed() >= beat_every {
            ctx.heartbeat();
            beat_at = Instant::now();
        }
        if let Some(path) = std::env::var_os("SCENARIO_RECYCLE_FILE")
            && std::fs::remove_file(&path).is_ok()
        {
            error!("web asks to be recycled id={id}");
            ctx.request_recycle();
        }
        if let Some(path) = std::env::var_os("SCENARIO_SELF_RESTART_FILE")
            && std::fs::remove_file(&path).is_ok()
        {
            error!("web restarts itself id={id}");
            ctx.restart();
        }
    }
    Ok(())
}

/// web × `SCENARIO_WORKERS` (3); `SCENARIO_RELOAD` rolling (default) or all;
/// `SCENARIO_BATCH` (1); `SCENARIO_BOOT_TIMEOUT_MS` and `SCENARIO_HEARTBEAT_MS` (0:
/// none); `SCENARIO_HANG_FILE` (workers stop beating once it exists;
/// `SCENARIO_HANG_ONCE_FILE`: the one that removes it);
/// `SCENARIO_MAX_LIFETIME_MS`, `SCENARIO_MAX_RSS` (0: none) and
/// `SCENARIO_RECYCLE_FILE` (a worker that sees it asks to be recycled); `SCENARIO_IN_PLACE=1`
/// for a reload() done in place (see [`WebInPlace`]); `SCENARIO_BOOT_MS` (0): how
/// long a worker takes between `web boot` and `web ready`; `SCENARIO_BEAT_MS`
/// (10): its heartbeat period; `SCENARIO_FACTORY_FAIL_FILE` (the factory fails
/// while it exists). The reload hook reads commands from `SCENARIO_CONTROL_FILE`:
/// `restart N`, `stop N`, `start N`, `rolling`, `scale N` (reconfigure to N
/// workers), `list`.
pub(super) fn serving_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    let workers = env_or("SCENARIO_WORKERS", 3);
    let web = if std::env::var("SCENARIO_IN_PLACE").is_ok_and(|v| v == "1") {
        m.add(factory(|id| WebInPlace(id, AtomicU32::new(0))), workers)?
    } else {
        m.add(factory(Web), workers)?
    };
    let reload = match std::env::var("SCENARIO_RELOAD").as_deref() {
        Ok("all") => Reload::AllAtOnce,
        _ => Reload::Rolling {
            batch: env_or("SCENARIO_BATCH", 1),
        },
    };
    m.settings(web)?
        .readiness(Readiness::Explicit)
        .boot_timeout(Duration::from_millis(env_or("SCENARIO_BOOT_TIMEOUT_MS", 0)))
        .heartbeat_timeout(Duration::from_millis(env_or("SCENARIO_HEARTBEAT_MS", 0)))
        .max_lifetime(Duration::from_millis(env_or("SCENARIO_MAX_LIFETIME_MS", 0)))
        .max_rss(env_or("SCENARIO_MAX_RSS", 0))
        .reload(reload);
    m.on_reload(move |handle| -> Result<(), BoxError> {
        let Some(path) = std::env::var_os("SCENARIO_CONTROL_FILE") else {
            return Ok(());
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(());
        };
        let mut words = text.split_whitespace();
        let command = words.next().unwrap_or_default();
        let id = || -> Result<WorkerId, BoxError> {
            Ok(WorkerId::new(
                text.split_whitespace().nth(1).unwrap_or("x").parse()?,
            ))
        };
        match command {
            "restart" => handle.restart_worker(web, id()?)?,
            "stop" => handle.stop_worker(web, id()?)?,
            "start" => handle.start_worker(web, id()?)?,
            "rolling" => handle.rolling_restart(web)?,
            "scale" => handle.reconfigure(web, id()?.get())?,
            _ => {
                let ids: Vec<String> = handle
                    .running_workers()
                    .iter()
                    .map(|w| format!("{}:{}", w.worker_id, w.ready))
                    .collect();
                error!("running workers {}", ids.join(" "));
            }
        }
        Ok(())
    });
    Ok(m)
}
