//! Hostile user code that needs `unsafe` (the one scenario file `cargo xtask tidy`
//! allows it in): a worker that `fork()`s a plain child of its own, without exec.

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
