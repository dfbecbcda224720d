//! `cotyledonctl`: the command-line client of a manager's control endpoint
//! (see [`ServiceManagerBuilder::control_socket`](crate::ServiceManagerBuilder::control_socket)).
//! std only (no feature needed): the binary `cotyledonctl` of this crate is
//! [`main`], and a program of your own mounts the same client in one line
//! (`myapp ctl status`):
//!
//! ```no_run
//! if std::env::args().nth(1).as_deref() == Some("ctl") {
//!     std::process::exit(cotyledon::ctl::run(std::env::args_os().skip(2)));
//! }
//! ```
//!
//! ```text
//! cotyledonctl [--socket PATH | --tcp ADDR] COMMAND
//!   status [--json]       workers and their state (the table, or JSON)
//!   metrics               the Prometheus metrics
//!   top [--interval S] [--count N]
//!                         a live table, refreshed every S seconds (1), N times or
//!                         until q or Ctrl-C
//!   reload                reload (as SIGHUP)
//!   restart SERVICE [ID]  rolling restart of a service, or restart of one worker
//!   stop [SERVICE ID]     graceful shutdown of the manager, or stop of one worker
//!   start SERVICE ID      let a stopped worker run again
//!   scale SERVICE N       N workers for a service
//! ```
//!
//! The endpoint is `--socket PATH`, else `--tcp ADDR`, else the socket named
//! by `COTYLEDON_CONTROL_SOCKET`. Exit status: 0 when the manager accepted,
//! 1 when it refused (its reason on stderr), 2 for a usage error, 3 when the
//! endpoint could not be reached.

mod top;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The environment variable naming the control socket when `--socket` is not
/// given.
pub const SOCKET_ENV: &str = "COTYLEDON_CONTROL_SOCKET";

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest reply read.
const MAX_REPLY: u64 = 64 << 20;

/// Where the control endpoint is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket file.
    Unix(PathBuf),
    /// A loopback TCP address.
    Tcp(SocketAddr),
}

/// A reply of the endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status: 200 read, 202 accepted, 4xx refused.
    pub status: u16,
    /// The body.
    pub body: String,
}

/// Sends one request (`GET /status`, `POST /reload`…) and reads the reply.
///
/// # Errors
///
/// The endpoint could not be reached, did not answer within 10 s, or did
/// not answer HTTP.
///
/// ```no_run
/// use cotyledon::ctl::{Endpoint, request};
///
/// let reply = request(&Endpoint::Unix("/run/myapp/control.sock".into()), "GET", "/metrics")?;
/// print!("{}", reply.body);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn request(endpoint: &Endpoint, method: &str, path: &str) -> std::io::Result<Response> {
    let head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut raw = Vec::new();
    match endpoint {
        Endpoint::Unix(p) => {
            let mut s = UnixStream::connect(p)?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.set_write_timeout(Some(TIMEOUT))?;
            s.write_all(head.as_bytes())?;
            s.take(MAX_REPLY).read_to_end(&mut raw)?;
        }
        Endpoint::Tcp(a) => {
            let mut s = TcpStream::connect_timeout(a, TIMEOUT)?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.set_write_timeout(Some(TIMEOUT))?;
            s.write_all(head.as_bytes())?;
            s.take(MAX_REPLY).read_to_end(&mut raw)?;
        }
    }
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> std::io::Result<Response> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP reply");
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(Response {
        status,
        body: body.to_owned(),
    })
}

/// The client's `main`: [`run`] on the process's arguments, then exit.
pub fn main() -> ! {
    std::process::exit(run(std::env::args_os().skip(1)))
}

/// Runs the client on `args` (without the program's name); returns the exit
/// status (0 accepted, 1 refused, 2 usage, 3 unreachable).
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return 0;
    }
    match parse(&args) {
        Ok((endpoint, command)) => execute(&endpoint, command),
        Err(usage) => {
            eprintln!("cotyledonctl: {usage}\n\n{}", USAGE.trim_end());
            2
        }
    }
}

const USAGE: &str = "usage: cotyledonctl [--socket PATH | --tcp ADDR] COMMAND
  status [--json]       workers and their state (the table, or JSON)
  metrics               the Prometheus metrics
  top [--interval S] [--count N]
                        a live table, refreshed every S seconds (1), N times or
                        until q or Ctrl-C
  reload                reload (as SIGHUP)
  restart SERVICE [ID]  rolling restart of a service, or restart of one worker
  stop [SERVICE ID]     graceful shutdown, or stop of one worker
  start SERVICE ID      let a stopped worker run again
  scale SERVICE N       N workers for a service
The socket is --socket PATH, else $COTYLEDON_CONTROL_SOCKET.
";

/// One command.
#[derive(Debug, PartialEq)]
enum Command {
    /// A request whose reply body is printed.
    Request(&'static str, String),
    /// `top`: the interval and how many frames (`None`: until q).
    Top(Duration, Option<u64>),
}

fn parse(args: &[String]) -> Result<(Endpoint, Command), String> {
    let mut endpoint = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--socket" => {
                let p = it.next().ok_or("--socket needs a path")?;
                endpoint = Some(Endpoint::Unix(p.into()));
            }
            "--tcp" => {
                let a = it.next().ok_or("--tcp needs an address")?;
                let addr = a.parse().map_err(|_| format!("not an address: {a}"))?;
                endpoint = Some(Endpoint::Tcp(addr));
            }
            _ => rest.push(a.as_str()),
        }
    }
    let endpoint = match endpoint {
        Some(e) => e,
        None => Endpoint::Unix(
            std::env::var_os(SOCKET_ENV)
                .ok_or(format!("no --socket given and {SOCKET_ENV} is not set"))?
                .into(),
        ),
    };
    let name = |s: &str| -> Result<String, String> {
        if s.is_empty() || s.contains(['/', '?', '#', ' ', '%']) {
            return Err(format!("not a service name: {s:?}"));
        }
        Ok(s.to_owned())
    };
    let number =
        |s: &str| -> Result<u64, String> { s.parse().map_err(|_| format!("not a number: {s}")) };
    let command = match rest.as_slice() {
        ["status"] => Command::Request("GET", "/status.txt".into()),
        ["status", "--json"] => Command::Request("GET", "/status".into()),
        ["metrics"] => Command::Request("GET", "/metrics".into()),
        ["reload"] => Command::Request("POST", "/reload".into()),
        ["restart", s] => Command::Request("POST", format!("/restart/{}", name(s)?)),
        ["restart", s, id] => {
            Command::Request("POST", format!("/restart/{}/{}", name(s)?, number(id)?))
        }
        ["stop"] => Command::Request("POST", "/shutdown".into()),
        ["stop", s, id] => Command::Request("POST", format!("/stop/{}/{}", name(s)?, number(id)?)),
        ["start", s, id] => {
            Command::Request("POST", format!("/start/{}/{}", name(s)?, number(id)?))
        }
        ["scale", s, n] => Command::Request("POST", format!("/scale/{}/{}", name(s)?, number(n)?)),
        ["top", opts @ ..] => {
            let mut interval = Duration::from_secs(1);
            let mut count = None;
            let mut o = opts.iter();
            while let Some(opt) = o.next() {
                let value = o.next().ok_or(format!("{opt} needs a value"))?;
                match *opt {
                    "--interval" => {
                        let s: f64 = value
                            .parse()
                            .map_err(|_| format!("not a number: {value}"))?;
                        if !(0.1..=3600.0).contains(&s) {
                            return Err(format!("--interval between 0.1 and 3600 s, not {value}"));
                        }
                        interval = Duration::from_secs_f64(s);
                    }
                    "--count" => count = Some(number(value)?),
                    _ => return Err(format!("unknown option {opt}")),
                }
            }
            Command::Top(interval, count)
        }
        [] => return Err("no command".to_owned()),
        other => return Err(format!("unknown command: {}", other.join(" "))),
    };
    Ok((endpoint, command))
}

fn execute(endpoint: &Endpoint, command: Command) -> i32 {
    match command {
        Command::Request(method, path) => match request(endpoint, method, &path) {
            Ok(r) if (200..300).contains(&r.status) => {
                print!("{}", r.body);
                0
            }
            Ok(r) => {
                eprint!("cotyledonctl: {} {}", r.status, r.body);
                1
            }
            Err(e) => {
                eprintln!("cotyledonctl: {}: {e}", show(endpoint));
                3
            }
        },
        Command::Top(interval, count) => top::top(endpoint, interval, count),
    }
}

/// The endpoint as the user named it.
fn show(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Unix(p) => p.display().to_string(),
        Endpoint::Tcp(a) => a.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn commands_and_usage_errors() {
        let sock = Endpoint::Unix("/s".into());
        let cmd = |s: &str| parse(&args(s)).map(|(_, c)| c);
        assert_eq!(
            parse(&args("--socket /s scale web 3")),
            Ok((sock, Command::Request("POST", "/scale/web/3".into())))
        );
        assert_eq!(
            cmd("--socket /s stop"),
            Ok(Command::Request("POST", "/shutdown".into()))
        );
        assert_eq!(
            cmd("--tcp 127.0.0.1:9 top --interval 0.5 --count 2"),
            Ok(Command::Top(Duration::from_millis(500), Some(2)))
        );
        assert!(cmd("--socket /s scale web x").is_err());
        assert!(cmd("--socket /s restart a/b").is_err());
        assert!(cmd("--socket /s frobnicate").is_err());
        assert!(cmd("--socket /s top --interval 0").is_err());
        let reply = parse_reply(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\nno\n").expect("HTTP");
        assert_eq!((reply.status, reply.body.as_str()), (404, "no\n"));
        assert!(parse_reply(b"garbage").is_err());
    }
}
