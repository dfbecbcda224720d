//! Scenarios that rescale services from a reload hook: the chaos run's three
//! services, and a plain reconfigure.

use cotyledon::{BoxError, Error, ServiceManager};
use log::error;

use super::{Heavy, Light, Steady, env_or, manager};

/// Three services for chaos runs: light, steady and heavy, `SCENARIO_WORKERS`
/// (default 10) each. SIGHUP makes the reload hook read `SCENARIO_SCALE_FILE`
/// (if set and present: three counts, e.g. "10 25 12") and reconfigure the three
/// services to them.
pub(super) fn chaos_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    let workers = env_or("SCENARIO_WORKERS", 10);
    let ids = [
        m.add(|_| Light, workers)?,
        m.add(|_| Steady, workers)?,
        m.add(Heavy::new, workers)?,
    ];
    m.on_reload(move |handle| -> Result<(), BoxError> {
        let Ok(path) = std::env::var("SCENARIO_SCALE_FILE") else {
            return Ok(());
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(());
        };
        let counts: Vec<usize> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        for (id, n) in ids.iter().zip(counts) {
            handle.reconfigure(*id, n)?;
        }
        Ok(())
    });
    Ok(m)
}

/// steady × 2; SIGHUP makes the reload hook read the target count from the file
/// named by `SCENARIO_SCALE_FILE` and reconfigure to it.
pub(super) fn reconfigure_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    let steady = m.add(|_| Steady, 2)?;
    m.on_reload(move |handle| -> Result<(), BoxError> {
        let path = std::env::var("SCENARIO_SCALE_FILE")?;
        let workers: usize = std::fs::read_to_string(path)?.trim().parse()?;
        handle.reconfigure(steady, workers)?;
        error!("reconfigured steady to {workers}");
        Ok(())
    });
    Ok(m)
}
