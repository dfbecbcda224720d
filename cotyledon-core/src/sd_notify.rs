//! systemd readiness: `READY=1` to `$NOTIFY_SOCKET` (a path, or `@name` for the
//! abstract namespace), sent once all initial workers have been started. The
//! variable is taken out of the environment before the first fork, so workers never
//! inherit it, unless the process already has other threads: changing the
//! environment then would be undefined behaviour, so it is left, with a warning.

use std::os::unix::net::UnixDatagram;

use log::warn;

use crate::sys;
use crate::sys::env::Kept;

const TARGET: &str = "cotyledon::manager";

/// Where to send readiness, taken (and removed) from the environment.
#[derive(Debug)]
pub(crate) struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and removes it from the environment if the process
    /// is single-threaded (warns otherwise).
    pub(crate) fn from_env() -> Self {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty());
        if socket.is_some() {
            match sys::env::remove_var_if_single_threaded("NOTIFY_SOCKET") {
                Ok(()) => {}
                Err(Kept::Threads(n)) => warn!(
                    target: TARGET,
                    "NOTIFY_SOCKET is left in the environment because the process has {n} threads \
                     (workers will inherit it)"
                ),
                Err(Kept::Unknown) => warn!(
                    target: TARGET,
                    "NOTIFY_SOCKET is left in the environment because the number of threads of the \
                     process cannot be checked on this system (workers will inherit it)"
                ),
            }
        }
        Notifier { socket }
    }

    /// Sends `READY=1` once; later calls do nothing.
    pub(crate) fn ready(&mut self) {
        if let Some(path) = self.socket.take()
            && let Err(e) = send(&path, b"READY=1")
        {
            warn!(target: TARGET, "Could not notify systemd at {path}: {e}");
        }
    }
}

fn send(path: &str, msg: &[u8]) -> std::io::Result<usize> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = path.strip_prefix('@') {
        send_abstract(&sock, name, msg)
    } else {
        sock.send_to(msg, path)
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sock: &UnixDatagram, name: &str, msg: &[u8]) -> std::io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    sock.send_to_addr(msg, &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_sock: &UnixDatagram, _name: &str, _msg: &[u8]) -> std::io::Result<usize> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets are Linux-only",
    ))
}
