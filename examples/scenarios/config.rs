//! Scenarios of the configuration glue (feature `config`): a TOML file re-read on
//! SIGHUP, whose values reach the manager and the workers forked after it.

use std::time::Duration;

use cotyledon::{BoxError, Config, Context, Error, Service, ServiceManager, WorkerId};
use log::error;
use serde::Deserialize;

/// The scenario's configuration file.
#[derive(Debug, Deserialize)]
struct Settings {
    workers: usize,
    graceful_ms: u64,
    greeting: String,
    /// terminate() hangs (the service has no timeout of its own).
    #[serde(default)]
    stuck_terminate: bool,
}

/// Logs the greeting it was started with; its terminate() may hang for ever.
#[derive(Service)]
#[service(name = "conf", graceful_shutdown_timeout = 0)]
struct Conf {
    id: WorkerId,
    config: Config<Settings>,
}

impl cotyledon::Service for Conf {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        error!("conf {} greeting={}", self.id, self.config.get().greeting);
        ctx.wait_for_stop();
        Ok(())
    }

    fn terminate(&self) -> i32 {
        if self.config.get().stuck_terminate {
            error!("conf {} terminate hangs", self.id);
            std::thread::sleep(Duration::from_secs(3600));
        }
        0
    }
}

/// conf × `workers` from the file `SCENARIO_CONFIG`; the manager's graceful
/// timeout is `graceful_ms`; both follow the file at every SIGHUP. A file whose
/// `workers` is refused (0) changes nothing, the timeout included.
pub(super) fn config_app() -> Result<ServiceManager, Error> {
    let path = std::env::var_os("SCENARIO_CONFIG").unwrap_or_default();
    let config = Config::<Settings>::load(path)?;
    let mut m = super::manager()?;
    let c = config.clone();
    let conf = m.add(
        move |id| Conf {
            id,
            config: c.clone(),
        },
        1,
    )?;
    // The timeout first: a count refused after it must undo it too.
    m.watch_config(&config, move |s: &Settings, handle| -> Result<(), Error> {
        handle.set_graceful_shutdown_timeout(Duration::from_millis(s.graceful_ms));
        handle.reconfigure(conf, s.workers)?;
        error!(
            "config applied workers={} graceful_ms={}",
            s.workers, s.graceful_ms
        );
        Ok(())
    })?;
    Ok(m)
}
