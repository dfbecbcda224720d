//! Scenarios of the hardening work: master hooks that block, signal floods,
//! workers whose stdout is full, that exec or close every fd.

use std::path::Path;
use std::time::Duration;

use cotyledon::{BoxError, Context, Error, Service, ServiceManager};
use log::error;

use super::{Light, env_or};

/// Blocks until `SCENARIO_RELEASE_FILE` exists (for ever if it is not set),
/// checking every 10 ms; with `SCENARIO_RELEASE_ONCE=1` it removes the file as
/// it returns, so its next run blocks again.
fn block(kind: &str) {
    error!("{kind} hook blocks");
    let release = std::env::var_os("SCENARIO_RELEASE_FILE");
    let once = std::env::var("SCENARIO_RELEASE_ONCE").is_ok_and(|v| v == "1");
    loop {
        if release.as_deref().is_some_and(|p| Path::new(p).exists()) {
            if once && let Some(path) = &release {
                let _ = std::fs::remove_file(path);
            }
            error!("{kind} hook released");
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// light × 2 under a manager whose graceful timeout is `SCENARIO_GRACEFUL_MS`
/// (default 1000); the hook named by `SCENARIO_BLOCK` (terminate, reload or
/// dead_worker) blocks (see [`block`]).
pub(super) fn blocking_hook_app() -> Result<ServiceManager, Error> {
    let mut m = ServiceManager::builder()
        .wait_interval(Duration::ZERO)
        .fork_limiter(false)
        .graceful_shutdown_timeout(Duration::from_millis(env_or("SCENARIO_GRACEFUL_MS", 1000)))
        .build()?;
    m.add(|_| Light, 2)?;
    match std::env::var("SCENARIO_BLOCK").unwrap_or_default().as_str() {
        "terminate" => m.on_terminate(|_| block("terminate")),
        "reload" => m.on_reload(|_| block("reload")),
        "dead_worker" => m.on_dead_worker(|_, _, _, _| block("dead_worker")),
        other => {
            error!("unknown SCENARIO_BLOCK {other:?}");
            std::process::exit(64);
        }
    };
    Ok(m)
}

/// run() sends its stdout to a pipe nobody reads, then logs until a write blocks
/// (holding the stdout lock for ever): every later log line of the worker blocks.
#[derive(Service)]
#[service(name = "mute", graceful_shutdown_timeout = 1)]
struct Mute;

impl cotyledon::Service for Mute {
    fn run(&self, _ctx: &Context) -> Result<(), BoxError> {
        let (read, write) = nix::unistd::pipe()?;
        error!("mute stdout goes to a full pipe now");
        nix::unistd::dup2_stdout(&write)?;
        std::mem::forget(read);
        for i in 0.. {
            error!("mute line {i} to fill the pipe");
        }
        Ok(())
    }

    fn terminate(&self) -> i32 {
        error!("mute terminate");
        0
    }
}

/// mute × 1.
pub(super) fn mute_app() -> Result<ServiceManager, Error> {
    let mut m = super::manager()?;
    m.add(|_| Mute, 1)?;
    Ok(m)
}

/// run() replaces the worker with `sleep 1000`.
#[derive(Service)]
#[service(name = "execer")]
struct Execer;

impl cotyledon::Service for Execer {
    fn run(&self, _ctx: &Context) -> Result<(), BoxError> {
        use std::os::unix::process::CommandExt;
        error!("execer execs sleep");
        Err(std::process::Command::new("sleep")
            .arg("1000")
            .exec()
            .into())
    }
}

/// execer × 1.
pub(super) fn exec_app() -> Result<ServiceManager, Error> {
    let mut m = super::manager()?;
    m.add(|_| Execer, 1)?;
    Ok(m)
}

/// run() closes every fd above 2, then opens /dev/zero on the freed numbers.
#[derive(Service)]
#[service(name = "closer", graceful_shutdown_timeout = 5)]
struct Closer;

impl cotyledon::Service for Closer {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect();
        for fd in &fds {
            let _ = nix::unistd::close(*fd);
        }
        let zeros: Vec<std::fs::File> = (0..8)
            .map(|_| std::fs::File::open("/dev/zero"))
            .collect::<Result<_, _>>()?;
        error!(
            "closer closed {} fds and opened /dev/zero 8 times",
            fds.len()
        );
        ctx.wait_for_stop();
        drop(zeros);
        Ok(())
    }

    fn terminate(&self) -> i32 {
        error!("closer terminate");
        0
    }

    fn reload(&self) {
        error!("closer reload");
    }
}

/// closer × 1.
pub(super) fn closer_app() -> Result<ServiceManager, Error> {
    let mut m = super::manager()?;
    m.add(|_| Closer, 1)?;
    Ok(m)
}

/// A manager created and dropped in a program started with SIGHUP ignored (the
/// test runs it under `nohup`): the disposition it found must be back, so a SIGHUP
/// is then harmless.
pub(super) fn dispositions() -> Result<(), Error> {
    use nix::sys::signal::{Signal, raise};
    let mut m = super::manager()?;
    m.add(|_| Light, 1)?;
    drop(m);
    raise(Signal::SIGHUP).map_err(|e| Error::SignalSetup(e.into()))?;
    error!("SIGHUP ignored after the manager was dropped");
    Ok(())
}
