//! `cargo xtask load --example axum_service` (and `axum_service_naive`): a
//! user's axum service under wrk through rolling reloads, one SIGHUP per second.
//! The examples are what a user writes (`examples/axum_service.rs` with the
//! drain, `axum_service_naive.rs` without): 4 workers, rolling reloads one at a
//! time, the address from `LISTEN`, cotyledon's logger on stderr
//! (`LEVEL:TARGET:MESSAGE`). One phase: wrk for 21 s (`--smoke`: 6 s) with 20
//! SIGHUPs (5), then the wait until every worker was replaced, then SIGTERM.
//! With the drain it is judged (0 socket errors, 0 non-2xx, every worker
//! replaced, every exit 0, the master's exit 0); without, shown as the "before".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::report::Phase;
use super::server::{Server, WORKERS};
use super::wrk;

/// How often the task looks at `/proc` while it waits.
const POLL: Duration = Duration::from_millis(20);

/// The phase against the user service at `bin`; `drained`: the example with
/// the drain (judged), else the naive one (shown).
pub(crate) fn phases(
    bin: &Path,
    port: u16,
    logs: &Path,
    smoke: bool,
    drained: bool,
) -> Result<Vec<Phase>, String> {
    let (secs, reloads) = if smoke { (6, 5) } else { (21, 20) };
    let name = bin.file_name().and_then(|n| n.to_str()).unwrap_or("user");
    let log: PathBuf = logs.join(format!("{name}.log"));
    eprintln!("load: starting {name} (log: {})", log.display());
    let mut cmd = Command::new(bin);
    cmd.env("LISTEN", format!("127.0.0.1:{port}"));
    let mut server = Server::spawn_command(cmd, log)?;
    let before = settle(&server, port, Duration::from_secs(10))?;
    let url = format!("http://127.0.0.1:{port}/");
    let run = wrk::Run::start(&url, secs)?;
    eprintln!("$ {}", run.command);
    let start = Instant::now();
    for i in 1..=reloads {
        let at = start + Duration::from_millis(500) + Duration::from_secs(i - 1);
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        server.signal("HUP", server.pid)?;
    }
    let report = run.finish()?.0;
    let replaced = replaced(&server, &before, Duration::from_secs(30));
    server.signal("TERM", server.pid)?;
    let status = server.wait_exit(Duration::from_secs(30))?;
    let exits = exits(&server.lines_since(0));
    let clean = exits.iter().filter(|code| **code == Some(0)).count();

    let title = match drained {
        true => "rolling reloads, axum with the drain",
        false => "rolling reloads, axum, plain graceful shutdown",
    };
    let load = format!("{secs} s, {reloads} SIGHUPs");
    let mut phase = Phase::new(title, load, report);
    let texts = [
        match &replaced {
            Ok(after) => format!("every worker pid replaced: {before:?} -> {after:?}"),
            Err(e) => format!("every worker pid replaced: {e}"),
        },
        format!(
            "every worker exited 0 ({clean} of {} exits, the SIGTERM's included)",
            exits.len()
        ),
        format!("the master then stopped: {status}"),
    ];
    let passed = [
        replaced.is_ok(),
        clean == exits.len() && exits.len() > WORKERS,
        status.success(),
    ];
    if drained {
        phase.check_no_failure();
        for (ok, text) in passed.into_iter().zip(texts) {
            phase.check(ok, text);
        }
    } else {
        phase.unjudged = "(before)";
        phase.note("not judged: the service before the drain, shown for contrast");
        for text in texts {
            phase.note(text);
        }
    }
    Ok(vec![phase])
}

/// Waits until the master has its workers and `GET /` answers 200; the workers.
fn settle(server: &Server, port: u16, within: Duration) -> Result<Vec<u32>, String> {
    let deadline = Instant::now() + within;
    loop {
        let workers = server.workers();
        if workers.len() == WORKERS && get_ok(port) {
            return Ok(workers);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{port}: no {WORKERS} workers serving after {within:?}"
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Whether `GET /` on `port` answers 200 (within a second).
fn get_ok(port: u16) -> bool {
    let exchange = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply)
    };
    exchange()
        .is_ok_and(|reply| reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"))
}

/// Waits until the master has [`WORKERS`] workers, none of them in `gone`.
fn replaced(server: &Server, gone: &[u32], within: Duration) -> Result<Vec<u32>, String> {
    let deadline = Instant::now() + within;
    loop {
        let workers = server.workers();
        if workers.len() == WORKERS && workers.iter().all(|p| !gone.contains(p)) {
            return Ok(workers);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "after {within:?}, workers {workers:?} (replacing {gone:?})"
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// The workers' exit statuses from the master's `Child PID exited with status
/// N` (`None`: `killed by signal S`), in cotyledon's logger's format.
fn exits(lines: &[String]) -> Vec<Option<i32>> {
    lines
        .iter()
        .filter_map(|line| {
            let how = line.split_once(":Child ")?.1.split_once(' ')?.1;
            if let Some(code) = how.strip_prefix("exited with status ") {
                Some(code.parse().ok())
            } else {
                how.starts_with("killed by signal ").then_some(None)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_exits_of_cotyledons_logger() {
        let lines: Vec<String> = [
            "INFO:cotyledon::manager:Rolling reload of web: 4 workers, 1 at a time",
            "INFO:cotyledon::manager:Child 11244 exited with status 0",
            "INFO:cotyledon::manager:Child 11297 killed by signal SIGKILL",
            "INFO:cotyledon::manager:Child 11302 exited with status 2",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(exits(&lines), [Some(0), None, Some(2)]);
    }
}
