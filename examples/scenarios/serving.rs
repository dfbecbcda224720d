//! Scenarios of readiness, boot timeouts, one-worker control and rolling reloads:
//! one service, `web`, shaped by environment variables.

use std::path::Path;
use std::time::Duration;

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

/// As [`Web`], with a reload() done in place (it only logs).
#[derive(Service)]
#[service(name = "web")]
struct WebInPlace(WorkerId);

impl cotyledon::Service for WebInPlace {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        web_run(self.0, ctx)
    }

    fn reload(&self) {
        error!("web reload id={}", self.0);
    }
}

fn web_run(id: WorkerId, ctx: &Context) -> Result<(), BoxError> {
    let stall = exists("SCENARIO_STALL_FILE");
    error!("web boot id={id}");
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
    while !ctx.wait_timeout(Duration::from_millis(10)) {
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
/// `SCENARIO_BATCH` (1); `SCENARIO_BOOT_TIMEOUT_MS` (0: none); `SCENARIO_IN_PLACE=1`
/// for a reload() that only logs. The reload hook reads commands from
/// `SCENARIO_CONTROL_FILE`: `restart N`, `stop N`, `start N`, `rolling`, `list`.
pub(super) fn serving_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    let workers = env_or("SCENARIO_WORKERS", 3);
    let web = if std::env::var("SCENARIO_IN_PLACE").is_ok_and(|v| v == "1") {
        m.add(WebInPlace, workers)?
    } else {
        m.add(Web, workers)?
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
