//! [`ServiceManager::listen`]: the manager's side of the listeners.

use super::Listen;
use crate::error::Error;
use crate::manager::ServiceManager;

impl ServiceManager {
    /// Binds a listener named `name` in the master, before the first fork, or
    /// takes the socket systemd passed under that name or bound to the spec's
    /// address; every worker can then get
    /// it with [`Context::tcp_listener`](crate::Context::tcp_listener) or
    /// [`Context::unix_listener`](crate::Context::unix_listener).
    ///
    /// The socket is a stream socket with `SO_REUSEADDR` (TCP), the spec's backlog
    /// (default 1024), close-on-exec (a program that a worker execs never
    /// inherits it) and in blocking mode. It stays open in the master for the
    /// life of the process, so respawned workers get it too. The master logs
    /// "Listener NAME bound to ADDR" (with the port the system chose for port 0).
    /// Listeners belong to the process, not to one manager: a manager dropped
    /// before `run()` leaves them bound, and its successor in the same process
    /// finds their names taken.
    ///
    /// **systemd socket activation.** When the manager is built, the sockets
    /// systemd passed (`LISTEN_PID` is this process; `LISTEN_FDS`,
    /// `LISTEN_FDNAMES`) are adopted and the three variables removed from the
    /// environment. If one of them has the name `name`, it is used instead of
    /// binding `spec` ("Using the socket NAME passed by systemd"): the address,
    /// backlog and options are those of the socket unit. Otherwise, if one of
    /// them is bound to the address of `spec` (the same IP address and port, or
    /// the same Unix path), it is used for `name` ("Using the socket unknown (fd
    /// 3) passed by systemd for listener NAME: it is bound to SPEC"), so that
    /// sockets passed without a fitting name (`systemd-socket-activate -l ADDR`,
    /// a unit without `FileDescriptorName=`) are not bound a second time. Adopted
    /// sockets that no `listen()` call takes are offered to workers all the same,
    /// by their systemd names ("unknown" when the unit gives none). See the
    /// README's "Listeners" section for the details and what is refused and
    /// logged.
    ///
    /// # Errors
    ///
    /// - [`Error::Listen`] if the socket cannot be bound; its `source` is the
    ///   system's error: `AddrInUse` (the address or Unix path is taken),
    ///   `PermissionDenied` (a privileged port, a directory the process may not
    ///   write), `AddrNotAvailable` (an IP address that is not this machine's),
    ///   `NotFound` (a Unix path whose directory does not exist), or
    ///   `ENAMETOOLONG` (a Unix path longer than the system allows, about 107
    ///   bytes);
    /// - [`Error::DuplicateListener`] if this process already has a listener of
    ///   that name;
    /// - [`Error::ListenerKind`] if systemd passed a socket of that name of the
    ///   other kind (a Unix socket for a TCP spec, or the reverse).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use cotyledon::{Listen, ServiceManager};
    /// # #[derive(cotyledon::Service)]
    /// # struct Web;
    /// # impl cotyledon::Service for Web {}
    ///
    /// let mut manager = ServiceManager::new()?;
    /// manager.listen("http", Listen::tcp(([0, 0, 0, 0], 8080)))?;
    /// manager.listen("admin", Listen::unix("/run/myapp/admin.sock").backlog(16))?;
    /// manager.add(|_| Web, 4)?;
    /// manager.run()?;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn listen(&mut self, name: &str, spec: Listen) -> Result<(), Error> {
        super::listen(name, spec)
    }
}
