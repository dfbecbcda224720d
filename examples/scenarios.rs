//! The scenario program the functional tests drive (DESIGN.md §5):
//! `cargo run --example scenarios -- NAME`.
//!
//! Every log record is printed as one line `LEVEL:TARGET:MESSAGE` on stdout,
//! flushed at once, at DEBUG level. The respawn limiter is off and `wait_interval`
//! is 0 unless a scenario says otherwise.

use std::io::Write;
use std::time::Duration;

use cotyledon::{BoxError, Context, Error, Service, ServiceManager, WorkerId};
use log::{Level, LevelFilter, Log, Metadata, Record, error};

#[cfg(feature = "tokio")]
#[path = "scenarios/asynchronous.rs"]
mod asynchronous;
#[path = "scenarios/bounds.rs"]
mod bounds;
#[cfg(feature = "config")]
#[path = "scenarios/config.rs"]
mod config;
#[path = "scenarios/control.rs"]
mod control;
#[path = "scenarios/handoff.rs"]
mod handoff;
#[path = "scenarios/hardening.rs"]
mod hardening;
#[path = "scenarios/hostile.rs"]
mod hostile;
#[path = "scenarios/listeners.rs"]
mod listeners;
#[path = "scenarios/robustness.rs"]
mod robustness;
#[path = "scenarios/scaling.rs"]
mod scaling;
#[path = "scenarios/serving.rs"]
mod serving;
#[path = "scenarios/upgrade.rs"]
mod upgrade;

/// Prints `LEVEL:TARGET:MESSAGE` lines to stdout.
struct LineLogger;

impl Log for LineLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Debug
    }

    fn log(&self, record: &Record<'_>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}:{}:{}",
            record.level(),
            record.target(),
            record.args()
        );
        let _ = out.flush();
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

/// Logs at every step and exits 42 from terminate.
#[derive(Service)]
#[service(name = "heavy")]
pub(crate) struct Heavy;

impl Heavy {
    pub(crate) fn new(_id: WorkerId) -> Self {
        error!("heavy init");
        Heavy
    }
}

impl cotyledon::Service for Heavy {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        error!("heavy run");
        ctx.wait_for_stop();
        Ok(())
    }

    fn terminate(&self) -> i32 {
        error!("heavy terminate");
        42
    }

    fn reload(&self) {
        error!("heavy reload");
    }
}

/// All defaults: run waits, terminate exits 0, reload restarts.
#[derive(Service)]
#[service(name = "light")]
pub(crate) struct Light;

impl cotyledon::Service for Light {}

/// terminate() hangs past its 1 s timeout.
#[derive(Service)]
#[service(name = "buggy", graceful_shutdown_timeout = 1)]
struct Buggy;

impl cotyledon::Service for Buggy {
    fn terminate(&self) -> i32 {
        std::thread::sleep(Duration::from_secs(60));
        error!("time.sleep done");
        0
    }
}

/// run() panics.
#[derive(Service)]
struct BadlyCoded;

impl cotyledon::Service for BadlyCoded {
    fn run(&self, _ctx: &Context) -> Result<(), BoxError> {
        panic!("so badly coded service");
    }
}

/// terminate() hangs and the service sets no timeout of its own (0 = forever):
/// only the manager's graceful_shutdown_timeout can end it.
#[derive(Service)]
#[service(name = "stuck", graceful_shutdown_timeout = 0)]
struct Stuck;

impl cotyledon::Service for Stuck {
    fn terminate(&self) -> i32 {
        error!("stuck terminate");
        std::thread::sleep(Duration::from_secs(60));
        0
    }
}

/// reload() only logs, so SIGHUP does not restart it (for reconfigure tests).
#[derive(Service)]
#[service(name = "steady")]
pub(crate) struct Steady;

impl cotyledon::Service for Steady {
    fn reload(&self) {
        error!("steady reload");
    }
}

/// run() fails at once: a crash loop.
#[derive(Service)]
#[service(name = "crasher")]
pub(crate) struct Crasher;

impl cotyledon::Service for Crasher {
    fn run(&self, _ctx: &Context) -> Result<(), BoxError> {
        Err("crasher gives up".into())
    }
}

pub(crate) fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The scenarios' manager: wait_interval 0, limiter off; the control
/// endpoint on `SCENARIO_CONTROL_SOCKET` if set.
pub(crate) fn manager() -> Result<ServiceManager, Error> {
    let mut builder = ServiceManager::builder()
        .wait_interval(Duration::ZERO)
        .fork_limiter(false);
    if let Some(path) = std::env::var_os("SCENARIO_CONTROL_SOCKET") {
        builder = builder.control_socket(path);
    }
    builder.build()
}

fn example_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(Heavy::new, 2)?;
    let light = m.add(|_| Light, 5)?;
    m.reconfigure(light, 1)?;
    m.on_terminate(|_| error!("master terminate hook"));
    m.on_reload(|_| error!("master reload hook"));
    m.on_terminate(|_| error!("master terminate2 hook"));
    Ok(m)
}

fn exit_on_special_child_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    let light = m.add(|_| Light, 1)?;
    m.add(Heavy::new, 2)?;
    m.on_dead_worker(move |handle, service, _worker, _exit| {
        if service == light {
            handle.shutdown();
        }
    });
    Ok(m)
}

fn sigterm_during_init() -> Result<ServiceManager, Error> {
    use nix::sys::signal::Signal;
    use nix::sys::signal::{SigEvent, SigevNotify};
    use nix::sys::timer::{Expiration, Timer, TimerSetTimeFlags};
    use nix::time::ClockId;
    let mut m = manager()?;
    // A kernel timer, not a thread: the master stays single-threaded.
    let mut timer = Timer::new(
        ClockId::CLOCK_MONOTONIC,
        SigEvent::new(SigevNotify::SigevSignal {
            signal: Signal::SIGTERM,
            si_value: 0,
        }),
    )
    .map_err(|e| Error::SignalSetup(e.into()))?;
    timer
        .set(
            Expiration::OneShot(Duration::from_millis(10).into()),
            TimerSetTimeFlags::empty(),
        )
        .map_err(|e| Error::SignalSetup(e.into()))?;
    std::mem::forget(timer);
    m.add(|_| Light, 10)?;
    Ok(m)
}

fn many_light() -> Result<ServiceManager, Error> {
    let mut m = ServiceManager::builder()
        .wait_interval(Duration::from_millis(env_or(
            "SCENARIO_WAIT_INTERVAL_MS",
            0,
        )))
        .fork_limiter(false)
        .build()?;
    m.add(|_| Light, env_or("SCENARIO_WORKERS", 10))?;
    Ok(m)
}

/// stuck × 2 under a manager whose graceful shutdown may last 1 s.
fn master_timeout_app() -> Result<ServiceManager, Error> {
    let mut m = ServiceManager::builder()
        .wait_interval(Duration::ZERO)
        .fork_limiter(false)
        .graceful_shutdown_timeout(Duration::from_secs(1))
        .build()?;
    m.add(|_| Stuck, 2)?;
    Ok(m)
}

/// light × 1 from a master that (wrongly) has a second thread when it forks.
fn threaded_master() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Light, 1)?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = rx.recv();
    });
    // Keep the thread parked for the life of the master.
    std::mem::forget(tx);
    Ok(m)
}

/// light × 3; each worker logs what it sees of NOTIFY_SOCKET.
fn notify_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Light, 3)?;
    m.on_new_worker(|_, worker, _| {
        let seen = std::env::var_os("NOTIFY_SOCKET");
        error!("worker {worker} NOTIFY_SOCKET={seen:?}");
    });
    Ok(m)
}

/// crasher × 1 with cotyledon's limiter on and the crash back-off off.
fn limiter_app() -> Result<ServiceManager, Error> {
    // The crash back-off off, so that only cotyledon's limiter spaces the forks
    // (with it, a loaded machine could space them past the limiter's window).
    let mut m = ServiceManager::builder()
        .wait_interval(Duration::ZERO)
        .crash_backoff(Duration::ZERO, Duration::ZERO)
        .build()?;
    m.add(|_| Crasher, 1)?;
    Ok(m)
}

/// light × 1 with hooks of every kind, one of them failing and one panicking.
fn hooks_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    let light = m.add(|_| Light, 1)?;
    m.on_new_worker(move |service, worker, svc| {
        let is_light = svc.downcast_ref::<Light>().is_some();
        error!(
            "new worker hook: light={} id={worker}",
            service == light && is_light
        );
    });
    m.on_dead_worker(|_, _, worker, exit| error!("dead worker hook: id={worker} {exit}"));
    m.on_reload(|_| -> Result<(), String> { Err("reload hook failed".to_owned()) });
    m.on_reload(|_| error!("second reload hook"));
    m.on_terminate(|_| error!("terminate hook one"));
    m.on_terminate(|_| -> () { panic!("terminate hook two panics") });
    m.on_terminate(|_| error!("terminate hook three"));
    Ok(m)
}

/// Factories that fail: worker 0 returns Err, worker 1 panics.
fn factory_error_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(
        |id: WorkerId| -> Result<Light, String> {
            match id.get() {
                0 => Err("no database".to_owned()),
                _ => panic!("factory panic"),
            }
        },
        2,
    )?;
    Ok(m)
}

/// Logs the error of a scenario that runs no manager.
fn one_shot(name: &str, result: Result<(), Error>) {
    if let Err(e) = result {
        error!("{name}: {e}");
    }
}

fn main() {
    log::set_logger(&LineLogger).expect("the scenario program installs the only logger");
    log::set_max_level(LevelFilter::Debug);
    // args_os: the bounds scenarios pass arguments that are not UTF-8.
    let name = std::env::args_os().nth(1).unwrap_or_default();
    let name = name.to_string_lossy().into_owned();
    let built = match name.as_str() {
        "example_app" => example_app(),
        "control_app" => control::control_app(),
        "control_errors" => return one_shot(&name, control::control_errors()),
        "buggy_app" => manager().and_then(|mut m| m.add(|_| Buggy, 1).map(|_| m)),
        "badly_coded_app" => manager().and_then(|mut m| m.add(|_| BadlyCoded, 1).map(|_| m)),
        "exit_on_special_child_app" => exit_on_special_child_app(),
        "sigterm_during_init" => sigterm_during_init(),
        "many_light" => many_light(),
        "reconfigure_app" => scaling::reconfigure_app(),
        "notify_app" => notify_app(),
        "chaos_app" => scaling::chaos_app(),
        "backoff_app" => robustness::backoff_app(),
        "fork_fail_app" => robustness::fork_fail_app(),
        "fd_app" => robustness::fd_app(),
        "panics_app" => robustness::panics_app(),
        "foreign_child_app" => robustness::foreign_child_app(),
        "master_timeout_app" => master_timeout_app(),
        "blocking_hook_app" => hardening::blocking_hook_app(),
        "mute_app" => hardening::mute_app(),
        "exec_app" => hardening::exec_app(),
        "closer_app" => hardening::closer_app(),
        "forker_app" => hostile::forker_app(),
        "stale_child_app" => hostile::stale_child_app(),
        "dispositions" => return one_shot(&name, hardening::dispositions()),
        "threaded_master" => threaded_master(),
        "limiter_app" => limiter_app(),
        "hooks_app" => hooks_app(),
        "factory_error_app" => factory_error_app(),
        "huge_reconfigure_app" => bounds::huge_reconfigure_app(),
        "max_graceful_timeout_app" => bounds::max_graceful_timeout_app(),
        "max_wait_interval_app" => bounds::max_wait_interval_app(),
        "max_crash_backoff_app" => bounds::max_crash_backoff_app(),
        "max_timeout_derive_app" => bounds::max_timeout_derive_app(),
        "args_app" => bounds::args_app(),
        "serving_app" => serving::serving_app(),
        #[cfg(feature = "config")]
        "config_app" => config::config_app(),
        "handoff_app" => handoff::handoff_app(),
        "bad_input" => return one_shot(&name, bounds::bad_input()),
        #[cfg(feature = "tokio")]
        "async_drain_app" => asynchronous::drain_app(),
        #[cfg(feature = "tokio")]
        "async_stuck_app" => asynchronous::stuck_app(),
        #[cfg(feature = "tokio")]
        "async_master_runtime_app" => asynchronous::master_runtime_app(),
        "listen_app" => listeners::listen_app(),
        "upgrade_app" => upgrade::upgrade_app(),
        "listen_errors" => return one_shot(&name, listeners::listen_errors()),
        other => {
            eprintln!("unknown scenario {other:?}");
            std::process::exit(64);
        }
    };
    let Err(e) = built.and_then(ServiceManager::run);
    error!("manager failed: {e}");
    std::process::exit(3);
}
