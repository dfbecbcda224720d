//! Scenarios of the listeners: workers that answer on listeners the master bound
//! or systemd passed, and every way `listen()` can fail.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use cotyledon::{BoxError, Context, Error, Listen, Service, ServiceManager};
use log::error;

use super::{env_or, manager};

/// Answers each connection on its listeners with one line
/// `NAME worker ID pid PID`, then closes it.
#[derive(Service)]
#[service(name = "echo")]
struct Echo {
    /// `(kind, name)`: "tcp" or "unix", and the listener's name.
    serve: Vec<(String, String)>,
    /// Worker 0 also lists the fds of a program it execs.
    exec_ls: bool,
}

impl cotyledon::Service for Echo {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        let id = ctx.worker_id();
        let var = |key| std::env::var_os(key);
        error!(
            "echo({id}) sees LISTEN_PID={:?} LISTEN_FDS={:?} LISTEN_FDNAMES={:?}",
            var("LISTEN_PID"),
            var("LISTEN_FDS"),
            var("LISTEN_FDNAMES")
        );
        let pid = std::process::id();
        for (kind, name) in &self.serve {
            let answer = format!("{name} worker {id} pid {pid}\n");
            if kind == "unix" {
                let listener = ctx.unix_listener(name)?;
                let path = listener.local_addr()?;
                let path = path.as_pathname().unwrap_or(std::path::Path::new("?"));
                error!("echo({id}) serves {name} on {}", path.display());
                std::thread::spawn(move || {
                    for mut stream in listener.incoming().flatten() {
                        let _ = stream.write_all(answer.as_bytes());
                    }
                });
            } else {
                let listener = ctx.tcp_listener(name)?;
                error!("echo({id}) serves {name} on {}", listener.local_addr()?);
                std::thread::spawn(move || {
                    for mut stream in listener.incoming().flatten() {
                        let _ = stream.write_all(answer.as_bytes());
                    }
                });
            }
        }
        if self.exec_ls && id.get() == 0 {
            super::robustness::log_exec_fds()?;
        }
        ctx.wait_for_stop();
        Ok(())
    }
}

/// `kind:rest` split at the first colon.
fn split_kind(entry: &str) -> (String, String) {
    match entry.split_once(':') {
        Some((kind, rest)) => (kind.to_owned(), rest.to_owned()),
        None => {
            error!("bad entry {entry:?}: KIND:VALUE expected");
            std::process::exit(64);
        }
    }
}

/// echo × `SCENARIO_WORKERS` (default 3). `SCENARIO_LISTEN`: listeners the master
/// binds, `NAME=tcp:ADDR` or `NAME=unix:PATH`, comma-separated. `SCENARIO_SERVE`:
/// what the workers ask for, `tcp:NAME` or `unix:NAME`, comma-separated (default:
/// the listeners of `SCENARIO_LISTEN`). `SCENARIO_EXEC_LS=1`: worker 0 lists the
/// fds of a program it execs.
pub(super) fn listen_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    let mut serve = Vec::new();
    let listen = std::env::var("SCENARIO_LISTEN").unwrap_or_default();
    for entry in listen.split(',').filter(|e| !e.is_empty()) {
        let Some((name, spec)) = entry.split_once('=') else {
            error!("bad SCENARIO_LISTEN entry {entry:?}");
            std::process::exit(64);
        };
        let (kind, addr) = split_kind(spec);
        let spec = match kind.as_str() {
            "unix" => Listen::unix(addr),
            _ => match addr.parse::<SocketAddr>() {
                Ok(addr) => Listen::tcp(addr),
                Err(e) => {
                    error!("bad address {addr:?}: {e}");
                    std::process::exit(64);
                }
            },
        };
        m.listen(name, spec)?;
        serve.push((kind, name.to_owned()));
    }
    if let Ok(list) = std::env::var("SCENARIO_SERVE") {
        serve = list
            .split(',')
            .filter(|e| !e.is_empty())
            .map(split_kind)
            .collect();
    }
    let exec_ls = env_or("SCENARIO_EXEC_LS", 0) == 1;
    m.add(
        move |_| Echo {
            serve: serve.clone(),
            exec_ls,
        },
        env_or("SCENARIO_WORKERS", 3),
    )?;
    Ok(m)
}

/// `ok`, or the error with, for [`Error::Listen`], the system error's kind and
/// errno.
fn outcome(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(e @ Error::Listen { source, .. }) => format!(
            "{e}: {:?}, errno {}",
            source.kind(),
            source.raw_os_error().unwrap_or(0)
        ),
        Err(e) => e.to_string(),
    }
}

/// Tries every kind of bad listener and logs `case NAME: OUTCOME` for each; runs
/// no worker. The test prepares `SCENARIO_DIR` (with `live.sock`, a socket it
/// listens on; `stale.sock`, a socket file nothing listens on; `file`, a regular
/// file; `ro/`, a directory of mode 0555) and holds `SCENARIO_BUSY_PORT` on
/// 127.0.0.1. The last two cases run as nobody (the scenario drops root first),
/// so that permissions apply.
pub(super) fn listen_errors() -> Result<(), Error> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    let mut m = manager()?;
    let dir = PathBuf::from(std::env::var_os("SCENARIO_DIR").unwrap_or_default());
    let local = |port| Listen::tcp((Ipv4Addr::LOCALHOST, port));
    let mut case = |case: &str, name: &str, spec: Listen| {
        let result = m.listen(name, spec);
        error!("case {case}: {}", outcome(&result));
    };
    case("busy_port", "busy", local(env_or("SCENARIO_BUSY_PORT", 0)));
    case(
        "not_this_machine",
        "far",
        Listen::tcp(([192, 0, 2, 1], 8080)),
    );
    case(
        "no_such_dir",
        "nodir",
        Listen::unix(dir.join("missing/x.sock")),
    );
    case(
        "path_too_long",
        "long",
        Listen::unix(dir.join("x".repeat(200))),
    );
    case("live_socket", "live", Listen::unix(dir.join("live.sock")));
    case("regular_file", "file", Listen::unix(dir.join("file")));
    case(
        "stale_socket",
        "stale",
        Listen::unix(dir.join("stale.sock")),
    );
    case("first", "dup", local(0));
    case("duplicate", "dup", Listen::unix(dir.join("dup.sock")));
    case("huge_backlog", "huge", local(0).backlog(u32::MAX));
    if Uid::effective().is_root() {
        let drop_root = || -> nix::Result<()> {
            setgroups(&[])?;
            setgid(Gid::from_raw(65534))?;
            setuid(Uid::from_raw(65534))
        };
        drop_root().map_err(|e| Error::SignalSetup(e.into()))?;
    }
    error!("running as uid {}", Uid::effective());
    case("read_only_dir", "ro", Listen::unix(dir.join("ro/x.sock")));
    case("privileged_port", "low", local(1));
    Ok(())
}
