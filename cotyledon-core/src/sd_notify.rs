//! The systemd notify protocol's edge: datagrams to `$NOTIFY_SOCKET` (a path, or
//! `@name` for the abstract namespace; any bytes, UTF-8 or not), and the watchdog
//! period from `WATCHDOG_USEC`/`WATCHDOG_PID` (what to send, and when, is decided
//! in `manager/notify.rs`). The send never blocks: the master is single-threaded,
//! and a notify socket whose queue is full must not stop it from serving signals;
//! it gets a warning instead, at most once a minute for the periodic
//! notifications ([`throttle`]). The variables are taken out of the environment
//! before the first fork, so workers never inherit them, unless the process
//! already has other threads: changing the environment then would be undefined
//! behaviour, so they are left, with a warning.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use log::{info, warn};

use self::throttle::{Throttle, Verdict};
use crate::sys;
use crate::sys::env::Kept;

const TARGET: &str = "cotyledon::manager";

const VAR: &str = "NOTIFY_SOCKET";

mod throttle;

/// Where to send notifications, and the watchdog period systemd asks for, taken
/// (and removed) from the environment.
#[derive(Debug)]
pub(crate) struct Notifier {
    socket: Option<OsString>,
    watchdog: Option<std::time::Duration>,
    /// Which failed sends are logged (`send` takes `&self`; only the master's
    /// thread sends).
    throttle: std::sync::Mutex<Throttle>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`, and removes them
    /// from the environment if the process is single-threaded (warns otherwise).
    pub(crate) fn from_env() -> Self {
        let socket = std::env::var_os(VAR).filter(|s| !s.is_empty());
        let usec = std::env::var_os("WATCHDOG_USEC");
        let pid = std::env::var_os("WATCHDOG_PID");
        let watchdog = watchdog_period(usec.as_deref(), pid.as_deref(), std::process::id());
        if socket.is_some() {
            remove(VAR);
        }
        for var in ["WATCHDOG_USEC", "WATCHDOG_PID"] {
            if std::env::var_os(var).is_some() {
                remove(var);
            }
        }
        let watchdog = match watchdog {
            Ok(period) => period.filter(|_| socket.is_some()),
            Err(why) => {
                warn!(target: TARGET, "systemd watchdog not used: {why}");
                None
            }
        };
        Notifier {
            socket,
            watchdog,
            throttle: std::sync::Mutex::default(),
        }
    }

    /// A notifier that sends nothing (a master that handed over to a new one
    /// after an upgrade: systemd hears only from that one).
    pub(crate) fn silent() -> Self {
        Notifier {
            socket: None,
            watchdog: None,
            throttle: std::sync::Mutex::default(),
        }
    }

    /// `NOTIFY_SOCKET` as it was (a path, or `@name`), if set.
    pub(crate) fn socket(&self) -> Option<&OsStr> {
        self.socket.as_deref()
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, if systemd asked.
    pub(crate) fn watchdog(&self) -> Option<std::time::Duration> {
        self.watchdog
    }

    /// Sends one notification (lines `KEY=VALUE`), without blocking. A failure is
    /// logged at WARN, except that the periodic ones (`WATCHDOG=1`, `STATUS=`)
    /// are logged at most once a minute after the first (the next warning says
    /// how many were not); the first success after a logged failure is logged at
    /// INFO.
    pub(crate) fn send(&self, msg: &str) {
        let Some(socket) = &self.socket else {
            return;
        };
        let shown = Path::new(socket).display();
        let result = send(socket, msg.as_bytes());
        let mut throttle = self
            .throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let e = match result {
            Ok(()) => {
                if let Some(failed) = throttle.succeeded() {
                    info!(
                        target: TARGET,
                        "The systemd notify socket {shown} works again after {failed} failed \
                         sends"
                    );
                }
                return;
            }
            Err(e) => e,
        };
        let periodic = msg.starts_with("STATUS=") || msg.starts_with("WATCHDOG=");
        let Verdict::Warn { suppressed } = throttle.failed(std::time::Instant::now(), periodic)
        else {
            return;
        };
        let more = match suppressed {
            0 => String::new(),
            n => format!(" ({n} more failed sends since the last warning)"),
        };
        if is_full(&e) {
            warn!(
                target: TARGET,
                "The systemd notify socket {shown} is full, {} not sent{more}",
                msg.lines().next().unwrap_or_default()
            );
        } else {
            warn!(target: TARGET, "Could not notify systemd at {shown}: {e}{more}");
        }
    }
}

/// Removes `var` from the environment if the process is single-threaded.
fn remove(var: &str) {
    match sys::env::remove_var_if_single_threaded(var) {
        Ok(()) => {}
        Err(Kept::Threads(n)) => warn!(
            target: TARGET,
            "{var} is left in the environment because the process has {n} threads \
             (workers will inherit it)"
        ),
        Err(Kept::Unknown) => warn!(
            target: TARGET,
            "{var} is left in the environment because the number of threads of the \
             process cannot be checked on this system (workers will inherit it)"
        ),
    }
}

/// The watchdog period (half of `WATCHDOG_USEC`), `None` if not asked or if
/// `WATCHDOG_PID` names another process; an error for a malformed value.
fn watchdog_period(
    usec: Option<&OsStr>,
    pid: Option<&OsStr>,
    me: u32,
) -> Result<Option<std::time::Duration>, String> {
    let Some(usec) = usec else {
        return Ok(None);
    };
    if let Some(pid) = pid {
        let pid = pid.to_str().and_then(|p| p.parse::<u32>().ok());
        if pid != Some(me) {
            return Ok(None);
        }
    }
    let text = usec.to_string_lossy();
    match text.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("WATCHDOG_USEC={text:?} is not a positive number")),
        Ok(us) => Ok(Some(
            std::time::Duration::from_micros(us / 2).max(std::time::Duration::from_millis(1)),
        )),
    }
}

/// Sends `msg` as one datagram to `socket` (`@name`: abstract), without blocking.
fn send(socket: &OsStr, msg: &[u8]) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    match socket.as_bytes().strip_prefix(b"@") {
        Some(name) => send_abstract(&sock, name, msg)?,
        None => sock.send_to(msg, Path::new(socket))?,
    };
    Ok(())
}

/// Whether a non-blocking send failed because the receiver's queue is full:
/// EAGAIN on Linux, ENOBUFS on some BSDs and macOS.
fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sock: &UnixDatagram, name: &[u8], msg: &[u8]) -> io::Result<usize> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(msg, &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_sock: &UnixDatagram, _name: &[u8], _msg: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets are Linux-only",
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A datagram socket bound at `name` in a fresh directory, removed on drop.
    struct Bound {
        dir: PathBuf,
        path: PathBuf,
        sock: UnixDatagram,
    }

    impl Bound {
        fn new(tag: &str, name: &[u8]) -> Bound {
            let dir = std::env::temp_dir().join(format!(
                "cotyledon-unit-notify-{tag}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join(OsStr::from_bytes(name));
            let sock = UnixDatagram::bind(&path).expect("bind");
            Bound { dir, path, sock }
        }
    }

    impl Drop for Bound {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn received(sock: &UnixDatagram) -> Vec<u8> {
        let mut buf = [0u8; 64];
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let n = sock.recv(&mut buf).expect("a datagram");
        buf[..n].to_vec()
    }

    #[test]
    fn the_watchdog_period_is_half_of_watchdog_usec_for_this_pid_only() {
        let os = |s: &str| OsString::from(s);
        let period = |u: Option<&str>, p: Option<&str>| {
            watchdog_period(u.map(os).as_deref(), p.map(os).as_deref(), 42)
        };
        let ms = |n| Ok(Some(std::time::Duration::from_millis(n)));
        assert_eq!(period(None, None), Ok(None));
        assert_eq!(period(Some("2000000"), None), ms(1000));
        assert_eq!(period(Some("2000000"), Some("42")), ms(1000));
        assert_eq!(
            period(Some("2000000"), Some("43")),
            Ok(None),
            "another pid's"
        );
        assert_eq!(period(Some("2000000"), Some("x")), Ok(None));
        assert!(period(Some("0"), None).is_err());
        assert!(period(Some("soon"), None).is_err());
        assert!(period(Some("-5"), None).is_err());
        assert_eq!(
            period(Some("18446744073709551615"), None).map(|p| p.is_some()),
            Ok(true)
        );
    }

    #[test]
    fn sends_to_a_path_that_is_not_utf8() {
        let b = Bound::new("non-utf8", b"notify-\xfe\xff.sock");
        send(b.path.as_os_str(), b"READY=1").expect("sent");
        assert_eq!(received(&b.sock), b"READY=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_name_with_its_raw_bytes() {
        use std::os::linux::net::SocketAddrExt;
        let name = [
            b"cotyledon-unit-\xff-".as_slice(),
            std::process::id().to_string().as_bytes(),
        ]
        .concat();
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).expect("name");
        let sock = UnixDatagram::bind_addr(&addr).expect("bind");
        let target = [b"@".as_slice(), &name].concat();
        send(OsStr::from_bytes(&target), b"READY=1").expect("sent");
        assert_eq!(received(&sock), b"READY=1");
    }

    #[test]
    fn a_full_socket_is_an_error_at_once_not_a_wait() {
        let b = Bound::new("full", b"notify.sock");
        let path = b.path.clone();
        // On a thread, so that a send that blocks fails the test instead of
        // hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..100_000 {
                if let Err(e) = send(path.as_os_str(), b"filler") {
                    let _ = tx.send(Some(e));
                    return;
                }
            }
            let _ = tx.send(None);
        });
        let full = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a send blocked on the full socket")
            .expect("the queue never filled up");
        assert!(is_full(&full), "{full}");
    }

    #[test]
    fn a_missing_socket_is_an_error_other_than_full() {
        let b = Bound::new("missing", b"other.sock");
        let e = send(b.dir.join("absent.sock").as_os_str(), b"READY=1").expect_err("no socket");
        assert!(!is_full(&e), "{e}");
    }
}
