//! Scenarios of the binary upgrade: workers that answer on a TCP listener with
//! their master's pid, and new masters that fail in every way an upgrade can.
//! A master knows it is the new one of an upgrade by `COTYLEDON_UPGRADE` in its
//! environment (read before the manager is built, which removes it).

use std::io::Write;
use std::os::fd::AsFd;
use std::time::Duration;

use cotyledon::{BoxError, Context, Error, Listen, Readiness, Service, ServiceManager};
use log::error;

use super::env_or;

/// How a new master misbehaves (`SCENARIO_NEW_FAILS`), or `None`.
fn new_fails() -> Option<String> {
    std::env::var_os("COTYLEDON_UPGRADE")?;
    std::env::var("SCENARIO_NEW_FAILS").ok()
}

/// Boots for `SCENARIO_BOOT_MS`, says it is ready, then answers each connection
/// with `master MASTER_PID worker ID pid PID` and closes it; on the stop it
/// finishes the connection in hand and takes no other (those left in the
/// listener's queue are the next generation's).
#[derive(Service)]
#[service(name = "upgraded", graceful_shutdown_timeout = 5)]
struct Upgraded {
    never_ready: bool,
}

impl cotyledon::Service for Upgraded {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        let id = ctx.worker_id();
        let master = nix::unistd::getppid();
        let listener = ctx.tcp_listener("http")?;
        error!(
            "upgraded run id={id} pid={} master={master}",
            std::process::id()
        );
        std::thread::sleep(Duration::from_millis(env_or("SCENARIO_BOOT_MS", 0)));
        if self.never_ready {
            error!("upgraded never ready id={id}");
            ctx.wait_for_stop();
            return Ok(());
        }
        // Non-blocking before the ready line: the tests read the listener's
        // mode once they saw it.
        listener.set_nonblocking(true)?;
        ctx.ready();
        error!("upgraded ready id={id} master={master}");
        let answer = format!("master {master} worker {id} pid {}\n", std::process::id());
        while !ctx.is_stopping() {
            let fd = listener.as_fd();
            let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(20u8));
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false)?;
                    let _ = stream.write_all(answer.as_bytes());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        error!("upgraded leaves id={id} master={master}");
        Ok(())
    }
}

/// upgraded × `SCENARIO_WORKERS` (2) on listener `http` (127.0.0.1, port
/// `SCENARIO_PORT`, 0: any), readiness explicit, upgrade timeout
/// `SCENARIO_UPGRADE_TIMEOUT_MS` (60 s), upgrade program `SCENARIO_UPGRADE_EXE`
/// (default: this one). The new master of an upgrade misbehaves as
/// `SCENARIO_NEW_FAILS` says: `exit` (exits 3 before building its manager),
/// `panic` (every factory panics), `never-ready`. With
/// `SCENARIO_LISTENERS_CHANGE`, a first master also listens as `extra`, a new
/// one as `admin` instead. The control endpoint on `SCENARIO_CONTROL_SOCKET`.
pub(super) fn upgrade_app() -> Result<ServiceManager, Error> {
    let fails = new_fails();
    let upgraded = std::env::var_os("COTYLEDON_UPGRADE").is_some();
    if fails.as_deref() == Some("exit") {
        error!("new master exits at once");
        std::process::exit(3);
    }
    let mut builder = ServiceManager::builder()
        .wait_interval(Duration::ZERO)
        .fork_limiter(false)
        .upgrade_timeout(Duration::from_millis(env_or(
            "SCENARIO_UPGRADE_TIMEOUT_MS",
            60_000,
        )));
    if let Ok(exe) = std::env::var("SCENARIO_UPGRADE_EXE") {
        builder = builder.upgrade_exe(exe);
    }
    if let Some(path) = std::env::var_os("SCENARIO_CONTROL_SOCKET") {
        builder = builder.control_socket(path);
    }
    let mut m = builder.build()?;
    m.listen(
        "http",
        Listen::tcp(([127, 0, 0, 1], env_or::<u16>("SCENARIO_PORT", 0))),
    )?;
    // A build that changes its listeners: the old has `extra`, the new one
    // `admin` instead.
    if std::env::var_os("SCENARIO_LISTENERS_CHANGE").is_some() {
        let name = if upgraded { "admin" } else { "extra" };
        m.listen(name, Listen::tcp(([127, 0, 0, 1], 0)))?;
    }
    let panics = fails.as_deref() == Some("panic");
    let never_ready = fails.as_deref() == Some("never-ready");
    let web = m.add(
        move |_| {
            assert!(!panics, "the new build's factory panics");
            Upgraded { never_ready }
        },
        env_or("SCENARIO_WORKERS", 2),
    )?;
    m.settings(web)?.readiness(Readiness::Explicit);
    Ok(m)
}
