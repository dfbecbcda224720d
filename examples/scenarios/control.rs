//! Scenarios of the control endpoint (issue 19): `control_app`, two services
//! behind a control socket, and `control_errors`, the builder's refusals.

use std::path::PathBuf;

use cotyledon::{BoxError, Context, Error, Service, ServiceManager};
use log::error;

/// Logs `ctl run id=N` and waits for the stop; its `terminate()` takes
/// `SCENARIO_STOP_MS` (0).
#[derive(Service)]
#[service(name = "ctl")]
struct Ctl(cotyledon::WorkerId);

impl cotyledon::Service for Ctl {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        error!("ctl run id={}", self.0);
        ctx.wait_for_stop();
        Ok(())
    }

    fn terminate(&self) -> i32 {
        let stop = super::env_or("SCENARIO_STOP_MS", 0);
        std::thread::sleep(std::time::Duration::from_millis(stop));
        0
    }
}

/// Logs `side run id=N` and waits for the stop.
#[derive(Service)]
#[service(name = "side")]
struct Side(cotyledon::WorkerId);

impl cotyledon::Service for Side {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        error!("side run id={}", self.0);
        ctx.wait_for_stop();
        Ok(())
    }
}

/// ctl × `SCENARIO_WORKERS` (2) and side × 1, no crash back-off, with the control socket at
/// `SCENARIO_CONTROL_SOCKET` (see `manager()`), and on loopback TCP at
/// `SCENARIO_CONTROL_TCP` if set.
pub(super) fn control_app() -> Result<ServiceManager, Error> {
    // No crash back-off: the hostile-client tests measure respawns.
    let mut builder = ServiceManager::builder()
        .wait_interval(std::time::Duration::ZERO)
        .fork_limiter(false)
        .crash_backoff(std::time::Duration::ZERO, std::time::Duration::ZERO);
    if let Some(path) = std::env::var_os("SCENARIO_CONTROL_SOCKET") {
        builder = builder.control_socket(path);
    }
    if let Some(addr) = std::env::var("SCENARIO_CONTROL_TCP")
        .ok()
        .and_then(|a| a.parse().ok())
    {
        builder = builder.control_tcp(addr);
    }
    let mut m = builder.build()?;
    m.add(Ctl, super::env_or("SCENARIO_WORKERS", 2))?;
    m.add(Side, 1)?;
    Ok(m)
}

/// Each bad control endpoint in `SCENARIO_DIR`, built in turn: `case NAME:
/// ok` or `case NAME: error: MESSAGE (kind KIND)`; the last one as nobody
/// when started as root.
pub(super) fn control_errors() -> Result<(), Error> {
    let dir = PathBuf::from(std::env::var_os("SCENARIO_DIR").unwrap_or_default());
    let case = |case: &str, b: cotyledon::ServiceManagerBuilder| {
        let outcome = match b.build() {
            Ok(m) => {
                drop(m);
                "ok".to_owned()
            }
            Err(e) => {
                let kind = match &e {
                    Error::Control { source, .. } => format!(" (kind {:?})", source.kind()),
                    _ => String::new(),
                };
                format!("error: {e}{kind}")
            }
        };
        error!("case {case}: {outcome}");
    };
    let unix = |p: PathBuf| ServiceManager::builder().control_socket(p);
    case("live_socket", unix(dir.join("live.sock")));
    case("stale_socket", unix(dir.join("stale.sock")));
    case("path_too_long", unix(dir.join("x".repeat(200))));
    case("no_such_dir", unix(dir.join("missing/c.sock")));
    case("regular_file", unix(dir.join("file")));
    case(
        "not_loopback",
        ServiceManager::builder().control_tcp(([192, 0, 2, 1], 9100).into()),
    );
    // root writes anywhere: the last case runs as nobody.
    if nix::unistd::Uid::effective().is_root() {
        use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
        let drop_root = || -> nix::Result<()> {
            setgroups(&[])?;
            setgid(Gid::from_raw(65534))?;
            setuid(Uid::from_raw(65534))
        };
        drop_root().map_err(|e| Error::SignalSetup(e.into()))?;
    }
    case("read_only_dir", unix(dir.join("ro/c.sock")));
    Ok(())
}
