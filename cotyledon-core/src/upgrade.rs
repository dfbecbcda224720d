//! The binary upgrade's hand-over protocol, both sides (see the README's
//! "Zero-downtime binary upgrade"): the old master forks and execs the new
//! binary with every listener at fds 3, 4, … (`LISTEN_FDS`, `LISTEN_FDNAMES`,
//! `LISTEN_PID`, as systemd's socket activation passes them, so the new master
//! adopts them by name or address like systemd's) and the write end of a pipe
//! named by [`VAR`]: `v1:FD:OLD_PID:CLAIMED:CONTROL`, CLAIMED the
//! comma-separated indexes (from fd 3) of the sockets the old master took with
//! `listen()`, CONTROL the fds of its control endpoint's listeners (`uN` for
//! the Unix socket, `tN` for the TCP one, comma-separated; the new master serves
//! on them once it took over). The new master writes one line on that
//! pipe once every one of its workers is ready; the old one then hands over.
//!
//! Lines, each `cotyledon-upgrade vN WORD…\n`: `ready`; `exec-failed ERRNO`
//! (from the forked child when `execve` fails); `refused REASON` (a new master
//! that cannot take over, e.g. a hand-over version it does not speak).

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::error::Error;
use crate::sys;
use crate::sys::fd::Passed;

/// The variable that tells a master it is the new one of an upgrade.
pub(crate) const VAR: &str = "COTYLEDON_UPGRADE";

/// The hand-over version this binary speaks.
pub(crate) const VERSION: u32 = 1;

/// What each line starts with.
const WORD: &str = "cotyledon-upgrade";

/// The longest line read from a new master (longer: garbage).
pub(crate) const MAX_LINE: usize = 512;

/// The prefix of the line the forked child writes when `execve` fails.
pub(crate) fn exec_failed_prefix() -> Vec<u8> {
    format!("{WORD} v{VERSION} exec-failed ").into_bytes()
}

/// The control endpoint's listeners passed to a new master: their fds there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ControlFds {
    pub(crate) unix: Option<RawFd>,
    pub(crate) tcp: Option<RawFd>,
}

/// The value of [`VAR`] for a new master: the pipe's fd there, our pid, the
/// indexes of the sockets our `listen()` calls took, and the control fds.
pub(crate) fn var_value(
    fd: RawFd,
    old_pid: u32,
    claimed: &[usize],
    control: ControlFds,
) -> OsString {
    let claimed: Vec<String> = claimed.iter().map(usize::to_string).collect();
    let mut ctl = Vec::new();
    ctl.extend(control.unix.map(|fd| format!("u{fd}")));
    ctl.extend(control.tcp.map(|fd| format!("t{fd}")));
    OsString::from(format!(
        "v{VERSION}:{fd}:{old_pid}:{}:{}",
        claimed.join(","),
        ctl.join(",")
    ))
}

/// Reads the CONTROL field.
fn parse_control(field: &str) -> Option<ControlFds> {
    let mut out = ControlFds::default();
    for item in field.split(',').filter(|i| !i.is_empty()) {
        let (kind, fd) = item.split_at_checked(1)?;
        let fd: RawFd = fd.parse().ok().filter(|&f| f > 2)?;
        let slot = match kind {
            "u" => &mut out.unix,
            "t" => &mut out.tcp,
            _ => return None,
        };
        if slot.replace(fd).is_some() {
            return None;
        }
    }
    Some(out)
}

/// What a new master said on its hand-over pipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Said {
    /// Every worker is ready.
    Ready,
    /// `execve` failed with this errno.
    ExecFailed(i32),
    /// It cannot take over, and why.
    Refused(String),
    /// It speaks another hand-over version (as written).
    OtherVersion(String),
    /// Not a line of the protocol (as read, shortened).
    Garbage(String),
}

/// Reads one line (without its newline).
pub(crate) fn parse_line(line: &[u8]) -> Said {
    let text = String::from_utf8_lossy(line);
    let shown = || text.chars().take(80).collect::<String>();
    let mut words = text.splitn(3, ' ');
    if words.next() != Some(WORD) {
        return Said::Garbage(shown());
    }
    let version = words.next().unwrap_or_default();
    if version != format!("v{VERSION}") {
        return Said::OtherVersion(version.chars().take(16).collect());
    }
    let rest = words.next().unwrap_or_default();
    let (word, arg) = rest.split_once(' ').unwrap_or((rest, ""));
    match (word, arg) {
        ("ready", "") => Said::Ready,
        ("exec-failed", errno) => match errno.parse() {
            Ok(n) => Said::ExecFailed(n),
            Err(_) => Said::Garbage(shown()),
        },
        ("refused", why) => Said::Refused(why.chars().take(200).collect()),
        _ => Said::Garbage(shown()),
    }
}

/// The new master's side: the pipe to the old one, from [`VAR`].
#[derive(Debug)]
pub(crate) struct Handover {
    pipe: OwnedFd,
    /// The old master's pid, for log lines.
    pub(crate) old_pid: u32,
    /// The indexes (from fd 3) of the sockets the old master took with
    /// `listen()`.
    pub(crate) claimed: Vec<usize>,
    /// The old master's control listeners (Unix, TCP), taken by the endpoint.
    pub(crate) control: (Option<OwnedFd>, Option<OwnedFd>),
}

/// What [`VAR`] says, before its fd is taken.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    V1 {
        fd: RawFd,
        old_pid: u32,
        claimed: Vec<usize>,
        control: ControlFds,
    },
    /// Another version, with the fd to answer on if it can be read.
    Other { version: String, fd: Option<RawFd> },
}

fn parse_value(value: &str) -> Result<Value, String> {
    let mut parts = value.split(':');
    let version = parts.next().unwrap_or_default();
    let fd: Option<RawFd> = parts.next().and_then(|f| f.parse().ok()).filter(|&f| f > 2);
    if version != format!("v{VERSION}") {
        return Ok(Value::Other {
            version: version.chars().take(16).collect(),
            fd,
        });
    }
    let old_pid = parts.next().and_then(|p| p.parse::<u32>().ok());
    let claimed: Option<Vec<usize>> = parts.next().and_then(|list| {
        list.split(',')
            .filter(|i| !i.is_empty())
            .map(|i| i.parse().ok())
            .collect::<Option<Vec<usize>>>()
            .filter(|v| v.len() <= 1024)
    });
    let control = parts.next().and_then(parse_control);
    match (fd, old_pid, claimed, control, parts.next()) {
        (Some(fd), Some(old_pid), Some(claimed), Some(control), None) => Ok(Value::V1 {
            fd,
            old_pid,
            claimed,
            control,
        }),
        _ => Err(format!(
            "{VAR}={value:?} is not of the form v{VERSION}:FD:PID:CLAIMED:CONTROL"
        )),
    }
}

impl Handover {
    /// Takes the hand-over from the environment (and removes [`VAR`] from it,
    /// so workers never see it): `None` when this master was not started by an
    /// upgrade.
    ///
    /// # Errors
    ///
    /// [`Error::Handover`] for a value that is malformed, names an fd that is
    /// not a pipe, or speaks another hand-over version (then `refused` is
    /// written on that fd, if it can be read from the value).
    pub(crate) fn from_env() -> Result<Option<Handover>, Error> {
        let Some(raw) = std::env::var_os(VAR) else {
            return Ok(None);
        };
        let _ = sys::env::remove_var_if_single_threaded(VAR);
        let value = raw.to_string_lossy();
        match parse_value(&value).map_err(Error::Handover)? {
            Value::V1 {
                fd,
                old_pid,
                claimed,
                control,
            } => {
                let Some(pipe) = sys::fd::take_passed(fd, Passed::Pipe) else {
                    return Err(Error::Handover(format!(
                        "{VAR}={value:?}: fd {fd} is not a pipe"
                    )));
                };
                let socket =
                    |fd: Option<RawFd>| fd.and_then(|fd| sys::fd::take_passed(fd, Passed::Socket));
                Ok(Some(Handover {
                    pipe,
                    old_pid,
                    claimed,
                    control: (socket(control.unix), socket(control.tcp)),
                }))
            }
            Value::Other { version, fd } => {
                let why = format!(
                    "the old master speaks hand-over version {version}; this binary speaks \
                     v{VERSION}"
                );
                if let Some(pipe) = fd.and_then(|fd| sys::fd::take_passed(fd, Passed::Pipe)) {
                    let line = format!("{WORD} v{VERSION} refused {why}\n");
                    let _ = nix::unistd::write(&pipe, line.as_bytes());
                }
                Err(Error::Handover(why))
            }
        }
    }

    /// Tells the old master that every worker is ready; the pipe is closed.
    pub(crate) fn tell_ready(self) -> io::Result<()> {
        let line = format!("{WORD} v{VERSION} ready\n");
        nix::unistd::write(&self.pipe, line.as_bytes())?;
        Ok(())
    }

    /// The pipe's fd (for a forked worker to close).
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_the_protocol_are_read() {
        assert_eq!(parse_line(b"cotyledon-upgrade v1 ready"), Said::Ready);
        assert_eq!(
            parse_line(b"cotyledon-upgrade v1 exec-failed 2"),
            Said::ExecFailed(2)
        );
        assert_eq!(
            parse_line(b"cotyledon-upgrade v1 refused too old"),
            Said::Refused("too old".into())
        );
        assert_eq!(
            parse_line(b"cotyledon-upgrade v2 ready"),
            Said::OtherVersion("v2".into())
        );
        assert!(matches!(parse_line(b"\xff\xfe hello"), Said::Garbage(_)));
        assert!(matches!(
            parse_line(b"cotyledon-upgrade v1 ready now"),
            Said::Garbage(_)
        ));
        assert!(matches!(
            parse_line(b"cotyledon-upgrade v1 exec-failed x"),
            Said::Garbage(_)
        ));
        let mut prefix = exec_failed_prefix();
        prefix.extend_from_slice(b"13");
        assert_eq!(parse_line(&prefix), Said::ExecFailed(13));
    }

    #[test]
    fn the_variable_is_read_strictly() {
        assert_eq!(
            parse_value("v1:7:1234:0,2:u8,t9"),
            Ok(Value::V1 {
                fd: 7,
                old_pid: 1234,
                claimed: vec![0, 2],
                control: ControlFds {
                    unix: Some(8),
                    tcp: Some(9)
                }
            })
        );
        assert_eq!(
            parse_value("v1:7:1234::"),
            Ok(Value::V1 {
                fd: 7,
                old_pid: 1234,
                claimed: vec![],
                control: ControlFds::default()
            })
        );
        assert_eq!(
            parse_value("v2:7:1234"),
            Ok(Value::Other {
                version: "v2".into(),
                fd: Some(7)
            })
        );
        assert_eq!(
            parse_value("garbage"),
            Ok(Value::Other {
                version: "garbage".into(),
                fd: None
            })
        );
        for bad in [
            "v1",
            "v1:x:1",
            "v1:7",
            "v1:7:1",
            "v1:7:1:2:3",
            "v1:2:1:",
            "v1:-1:5:",
            "v1:7:1:x",
        ] {
            assert!(parse_value(bad).is_err(), "{bad}");
        }
        let ctl = ControlFds {
            unix: Some(10),
            tcp: None,
        };
        assert_eq!(
            var_value(9, 42, &[0, 3], ctl),
            OsString::from("v1:9:42:0,3:u10")
        );
        assert_eq!(
            var_value(9, 42, &[], ControlFds::default()),
            OsString::from("v1:9:42::")
        );
    }
}
