//! Scenarios of the input-bounds work: API misuse and counts above the ceiling,
//! `Duration::MAX` in every setting, a derive timeout of `u64::MAX` seconds, and
//! arguments that are not UTF-8 (with what `std::env::args_os()` returns once the
//! process title is set).

use std::time::Duration;

use cotyledon::{BoxError, Context, Error, Service, ServiceManager};

const MAX_WORKERS: usize = ServiceManager::MAX_WORKERS;
use log::error;

use super::{Crasher, Light, Steady, manager};

/// Misuse of the API: each call must give a typed error, never a panic.
pub(super) fn bad_input() -> Result<(), Error> {
    fn report<T>(what: &str, r: Result<T, Error>) {
        match r {
            Err(e) => error!("{what}: {e}"),
            Ok(_) => error!("{what}: accepted"),
        }
    }
    let mut m = manager()?;
    report("add zero", m.add(|_| Light, 0));
    report("add usize::MAX", m.add(|_| Light, usize::MAX));
    report("add 4097", m.add(|_| Light, MAX_WORKERS + 1));
    let light = m.add(|_| Light, 1)?;
    report("reconfigure zero", m.reconfigure(light, 0));
    report("reconfigure 4097", m.reconfigure(light, MAX_WORKERS + 1));
    report("add over the total", m.add(|_| Light, MAX_WORKERS));
    report("second manager", manager());
    drop(m);
    // Once the first manager is dropped, another may be created; it does not
    // know the first one's service ids.
    let mut m = manager()?;
    report("reconfigure unknown", m.reconfigure(light, 1));
    // run() consumes the manager: the next one may be built.
    report("run empty", m.run());
    for (what, timeout) in [
        ("upgrade timeout zero", Duration::ZERO),
        ("upgrade timeout Duration::MAX", Duration::MAX),
    ] {
        let built = ServiceManager::builder().upgrade_timeout(timeout).build();
        report(what, built);
    }
    Ok(())
}

/// steady × 2 in a master limited to 1 GiB of address space; SIGHUP makes the
/// reload hook ask for 10^9 workers.
pub(super) fn huge_reconfigure_app() -> Result<ServiceManager, Error> {
    use nix::sys::resource::{Resource, setrlimit};
    const GIB: u64 = 1 << 30;
    setrlimit(Resource::RLIMIT_AS, GIB, GIB).map_err(|e| Error::SignalSetup(e.into()))?;
    error!("RLIMIT_AS set to 1 GiB");
    let mut m = manager()?;
    let steady = m.add(|_| Steady, 2)?;
    m.on_reload(move |handle| -> Result<(), Error> {
        handle.reconfigure(steady, 1_000_000_000)?;
        error!("reconfigured steady to 10^9");
        Ok(())
    });
    Ok(m)
}

/// light × 2 under a manager whose graceful shutdown may last `Duration::MAX`.
pub(super) fn max_graceful_timeout_app() -> Result<ServiceManager, Error> {
    let mut m = ServiceManager::builder()
        .wait_interval(Duration::ZERO)
        .fork_limiter(false)
        .graceful_shutdown_timeout(Duration::MAX)
        .build()?;
    m.add(|_| Light, 2)?;
    Ok(m)
}

/// light × 2 with `Duration::MAX` between two forks: only light(0) ever starts.
pub(super) fn max_wait_interval_app() -> Result<ServiceManager, Error> {
    let mut m = ServiceManager::builder()
        .wait_interval(Duration::MAX)
        .fork_limiter(false)
        .build()?;
    m.add(|_| Light, 2)?;
    Ok(m)
}

/// crasher × 1 beside light × 1, with a crash back-off of `Duration::MAX`.
pub(super) fn max_crash_backoff_app() -> Result<ServiceManager, Error> {
    let mut m = ServiceManager::builder()
        .wait_interval(Duration::ZERO)
        .fork_limiter(false)
        .crash_backoff(Duration::MAX, Duration::MAX)
        .build()?;
    m.add(|_| Crasher, 1)?;
    m.add(|_| Light, 1)?;
    Ok(m)
}

/// The longest timeout the derive accepts; terminate() exits 42.
#[derive(Service)]
#[service(name = "eternal", graceful_shutdown_timeout = 18446744073709551615)]
struct Eternal;

impl cotyledon::Service for Eternal {
    fn terminate(&self) -> i32 {
        error!("eternal terminate");
        42
    }
}

/// eternal × 1.
pub(super) fn max_timeout_derive_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Eternal, 1)?;
    Ok(m)
}

/// What `std::env::args_os()` returns, as `{:?}` prints it.
fn args() -> String {
    format!("{:?}", std::env::args_os().collect::<Vec<_>>())
}

/// Logs the arguments from run().
#[derive(Service)]
#[service(name = "argsy")]
struct ArgsLogger;

impl cotyledon::Service for ArgsLogger {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        error!("args in run: {}", args());
        ctx.wait_for_stop();
        Ok(())
    }
}

/// argsy × 2, logging `args_os()` before run(), in the factory, in the
/// `on_new_worker` hook, in run() and in the `on_reload` hook (SIGHUP).
pub(super) fn args_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(
        |_| {
            error!("args in factory: {}", args());
            ArgsLogger
        },
        2,
    )?;
    m.on_new_worker(|_, _, _| error!("args in new worker hook: {}", args()));
    m.on_reload(|_| error!("args in reload hook: {}", args()));
    error!("args before run: {}", args());
    Ok(m)
}
