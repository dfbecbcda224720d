//! Hostile user code that needs `unsafe` (the one scenario file `cargo xtask tidy`
//! allows it in): a worker that `fork()`s a plain child of its own, without exec;
//! and one whose plain child goes on beating with the worker's `Context` after
//! the worker is gone.

use cotyledon::{BoxError, Context, Error, Service, ServiceManager};
use log::error;

/// run() forks a plain child (no exec) that waits for signals.
#[derive(Service)]
#[service(name = "forker")]
struct Forker;

impl cotyledon::Service for Forker {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        use nix::unistd::ForkResult;
        // SAFETY: the child only calls pause(2) and _exit(2), both async-signal-safe,
        // so the locks other threads may hold at the fork do not matter.
        match unsafe { nix::unistd::fork() }? {
            ForkResult::Child => loop {
                nix::unistd::pause();
            },
            ForkResult::Parent { child } => error!("forker grandchild {child}"),
        }
        ctx.wait_for_stop();
        Ok(())
    }

    fn reload(&self) {
        error!("forker reload");
    }
}

/// forker × 1.
pub(super) fn forker_app() -> Result<ServiceManager, Error> {
    let mut m = super::manager()?;
    m.add(|_| Forker, 1)?;
    Ok(m)
}

/// The first of its id leaves a plain child that beats with its `Context` every
/// 50 ms until `SCENARIO_STALE_FILE` + `.stop` exists (20 s at most), then
/// restarts itself; the next ones never beat (a hung worker for the watchdog).
/// The first is told apart by `SCENARIO_STALE_FILE`, created by it and left in
/// place, so that however late a later one starts it stays silent.
#[derive(Service)]
#[service(name = "beater")]
struct Beater;

impl cotyledon::Service for Beater {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        use nix::unistd::ForkResult;
        let Some(marker) = std::env::var_os("SCENARIO_STALE_FILE") else {
            return Err("SCENARIO_STALE_FILE is not set".into());
        };
        if std::path::Path::new(&marker).exists() {
            error!("beater silent id={}", ctx.worker_id());
            ctx.wait_for_stop();
            return Ok(());
        }
        std::fs::write(&marker, b"")?;
        let mut stop = marker.clone();
        stop.push(".stop");
        // SAFETY: the child only stats a file, reads the clock (vDSO), stores
        // into shared memory, sleeps and _exits: no lock another thread may hold.
        match unsafe { nix::unistd::fork() }? {
            ForkResult::Child => {
                for _ in 0..400 {
                    if std::path::Path::new(&stop).exists() {
                        break;
                    }
                    ctx.heartbeat();
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                // SAFETY: _exit ends this plain child at once, without running
                // the parent's atexit handlers or flushing its buffers.
                unsafe { nix::libc::_exit(0) }
            }
            ForkResult::Parent { child } => error!("beater left a beating child {child}"),
        }
        ctx.restart();
        ctx.wait_for_stop();
        Ok(())
    }
}

/// beater × 1, heartbeat timeout 1 s.
pub(super) fn stale_child_app() -> Result<ServiceManager, Error> {
    let mut m = super::manager()?;
    let beater = m.add(|_| Beater, 1)?;
    m.settings(beater)?
        .heartbeat_timeout(std::time::Duration::from_secs(1));
    Ok(m)
}
