//! Scenarios of the reliability work: crash-loop back-off, fork failures, file
//! descriptors seen by workers and their children, panics everywhere.

use cotyledon::{BoxError, Context, Error, Service, ServiceManager};
use log::error;

use super::{Crasher, Light, env_or, manager};

/// crasher × 1 (default back-off) beside light × 2 in another service.
pub(super) fn backoff_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Crasher, 1)?;
    m.add(|_| Light, 2)?;
    Ok(m)
}

/// light × 2, forked under a soft `RLIMIT_NPROC = SCENARIO_NPROC_LIMIT` as user
/// nobody, so that fork fails with EAGAIN until SIGHUP, whose reload hook raises
/// the soft limit to the hard one.
pub(super) fn fork_fail_app() -> Result<ServiceManager, Error> {
    use nix::sys::resource::{Resource, setrlimit};
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    let mut m = manager()?;
    m.add(|_| Light, 2)?;
    let limit: u64 = env_or("SCENARIO_NPROC_LIMIT", 1);
    let setup = || -> nix::Result<()> {
        let (_, hard) = nix::sys::resource::getrlimit(Resource::RLIMIT_NPROC)?;
        setrlimit(Resource::RLIMIT_NPROC, limit, hard)?;
        setgroups(&[])?;
        setgid(Gid::from_raw(65534))?;
        setuid(Uid::from_raw(65534))
    };
    setup().map_err(|e| Error::SignalSetup(e.into()))?;
    error!("running as nobody with RLIMIT_NPROC={limit}");
    m.on_reload(|_| -> nix::Result<()> {
        let (_, hard) = nix::sys::resource::getrlimit(Resource::RLIMIT_NPROC)?;
        setrlimit(Resource::RLIMIT_NPROC, hard, hard)?;
        error!("RLIMIT_NPROC raised");
        Ok(())
    });
    Ok(m)
}

/// Lists the fds of a program it execs.
#[derive(Service)]
#[service(name = "fds")]
struct FdLister;

impl cotyledon::Service for FdLister {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        log_exec_fds()?;
        ctx.wait_for_stop();
        Ok(())
    }
}

/// Logs each fd that a program the worker execs (`ls -l /proc/self/fd`) sees, as
/// "exec fd: …" lines, then "exec fds done".
pub(super) fn log_exec_fds() -> std::io::Result<()> {
    let out = std::process::Command::new("ls")
        .args(["-l", "/proc/self/fd"])
        .output()?;
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        error!("exec fd: {line}");
    }
    error!("exec fds done");
    Ok(())
}

/// fds × 1.
pub(super) fn fd_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| FdLister, 1)?;
    Ok(m)
}

/// reload() and terminate() panic.
#[derive(Service)]
#[service(name = "fragile")]
struct Fragile;

impl cotyledon::Service for Fragile {
    fn terminate(&self) -> i32 {
        panic!("terminate panic");
    }

    fn reload(&self) {
        panic!("reload panic");
    }
}

/// fragile × 1 with a panicking hook of every kind.
pub(super) fn panics_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Fragile, 1)?;
    m.on_new_worker(|_, _, _| -> () { panic!("new worker hook panic") });
    m.on_dead_worker(|_, _, _, _| -> () { panic!("dead worker hook panic") });
    m.on_reload(|_| -> () { panic!("reload hook panic") });
    m.on_terminate(|_| -> () { panic!("terminate hook panic") });
    Ok(m)
}

/// light × 2 in a master that also has a child of its own (`true`, never waited
/// for: a zombie whose status belongs to the program, not to the manager).
pub(super) fn foreign_child_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Light, 2)?;
    let child = std::process::Command::new("true")
        .spawn()
        .map_err(Error::SignalSetup)?;
    error!("foreign child {}", child.id());
    std::mem::forget(child);
    Ok(m)
}
