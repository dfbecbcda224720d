//! The crate's one error type.

use std::{fmt, io};

use crate::ids::{ServiceId, WorkerId};

/// Everything the manager's API can fail with. Messages are lowercase, except
/// cotyledon's own for [`Error::AlreadyExists`]; the system's error, when there is
/// one, is the [`source`](std::error::Error::source).
///
/// `Debug` shows what a person reads, as `anyhow` does: the message, then its
/// causes. So a `main` returning `Result<(), BoxError>` (or this error) that
/// fails prints, for a port already taken:
///
/// ```text
/// Error: could not open listener http on tcp 127.0.0.1:8080
///
/// Caused by:
///     Address already in use (os error 98)
/// ```
///
/// ```
/// use cotyledon::Error;
/// # #[derive(cotyledon::Service)] struct Light;
/// # impl cotyledon::Service for Light {}
///
/// let mut manager = cotyledon::ServiceManager::new()?;
/// match manager.add(|_| Light, 0) {
///     Err(Error::InvalidWorkerCount { workers }) => assert_eq!(workers, 0),
///     other => panic!("unexpected: {other:?}"),
/// }
/// let light = manager.add(|_| Light, 1)?;
/// let err = manager.reconfigure(light, 100_000).unwrap_err();
/// assert_eq!(err.to_string(), "at most 4096 workers per service and in total, got 100000");
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[non_exhaustive]
pub enum Error {
    /// A service was added or reconfigured with fewer than one worker.
    InvalidWorkerCount {
        /// The count that was asked for.
        workers: usize,
    },
    /// A service was added or reconfigured with more than
    /// [`MAX_WORKERS`](crate::ServiceManager::MAX_WORKERS) workers, or the counts of all services
    /// would add up to more than that.
    TooManyWorkers {
        /// The count that was asked for (for the total: the sum it would make).
        workers: usize,
        /// The ceiling, [`MAX_WORKERS`](crate::ServiceManager::MAX_WORKERS).
        max: usize,
    },
    /// The service id is not one this manager returned from `add`.
    UnknownService(ServiceId),
    /// The worker id is not below the service's worker count.
    UnknownWorker {
        /// The service.
        service: ServiceId,
        /// The worker id asked for.
        worker: WorkerId,
    },
    /// A `ServiceManager` already exists in this process (cotyledon's seatbelt).
    AlreadyExists,
    /// `run()` was called with no service registered.
    NoServices,
    /// Setting up the signal handlers or the self-pipe failed.
    SignalSetup(io::Error),
    /// The master's event loop failed in a way it cannot recover from.
    EventLoop(io::Error),
    /// A configuration file could not be read or parsed (feature `config`), or
    /// what `watch_config` applies from it failed.
    Config {
        /// The file.
        path: std::path::PathBuf,
        /// Why: the system's or the parser's message.
        reason: String,
    },
    /// A configuration file is larger than
    /// [`Config::MAX_BYTES`](crate::Config::MAX_BYTES) (feature `config`).
    ConfigTooLarge {
        /// The file.
        path: std::path::PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A configuration file is not a regular file (feature `config`): a FIFO, a
    /// device such as `/dev/zero`, a socket or a directory, which could block
    /// the master or never end.
    ConfigNotRegular {
        /// The file.
        path: std::path::PathBuf,
        /// What it is instead: `"FIFO"`, `"character device"`, `"block device"`,
        /// `"socket"`, `"directory"` or `"special file"`.
        kind: &'static str,
    },
    /// A listener could not be bound (or, in a worker, its fd could not be
    /// duplicated). `source` is the system's error, with its kind and errno:
    /// `AddrInUse`, `PermissionDenied`, `AddrNotAvailable`, `NotFound`…
    Listen {
        /// The listener's name.
        name: String,
        /// Its address as the spec gives it (`tcp 127.0.0.1:8080`, `unix PATH`), or
        /// the bound address for a duplication in a worker.
        address: String,
        /// What the system said.
        source: io::Error,
    },
    /// `listen()` with a name this process already has a listener for.
    DuplicateListener(String),
    /// A worker asked for a listener name that the manager has not bound and
    /// systemd has not passed.
    UnknownListener(String),
    /// The listener of that name is of the other kind: a TCP listener asked for
    /// as a Unix one, or the reverse (also when systemd passed a socket of the
    /// other kind under the name given to `listen()`).
    ListenerKind {
        /// The listener's name.
        name: String,
        /// The kind that was asked for: `"TCP"` or `"Unix-domain"`.
        expected: &'static str,
    },
    /// [`logger::init`](crate::logger::init) (feature `logger`) found a logger
    /// already installed in this process.
    SetLogger(log::SetLoggerError),
    /// [`upgrade_timeout`](crate::ServiceManagerBuilder::upgrade_timeout) outside
    /// [`MIN_UPGRADE_TIMEOUT`](crate::ServiceManagerBuilder::MIN_UPGRADE_TIMEOUT)
    /// ..= [`MAX_UPGRADE_TIMEOUT`](crate::ServiceManagerBuilder::MAX_UPGRADE_TIMEOUT).
    InvalidUpgradeTimeout {
        /// The timeout that was asked for.
        timeout: std::time::Duration,
        /// The shortest accepted.
        min: std::time::Duration,
        /// The longest accepted.
        max: std::time::Duration,
    },
    /// This process was started by a binary upgrade (`COTYLEDON_UPGRADE` is
    /// set) that it cannot take over: a hand-over version it does not speak, or
    /// a malformed value. The old master keeps serving.
    Handover(String),
    /// The control endpoint could not be opened
    /// ([`ServiceManagerBuilder::control_socket`](crate::ServiceManagerBuilder::control_socket),
    /// [`control_tcp`](crate::ServiceManagerBuilder::control_tcp)): a path too
    /// long for a Unix socket (`InvalidInput`), a directory the master may not
    /// write in (`PermissionDenied`), a port taken (`AddrInUse`)…
    Control {
        /// The address: `unix PATH` or `tcp ADDR`.
        address: String,
        /// What the system said.
        source: io::Error,
    },
    /// The control socket's path holds a live socket (another manager's): it
    /// is never removed. A stale one (nothing accepts on it) is replaced.
    ControlSocketInUse(std::path::PathBuf),
    /// [`control_tcp`](crate::ServiceManagerBuilder::control_tcp) with an
    /// address that is not a loopback one: the endpoint has no authentication,
    /// so it is never exposed beyond the machine.
    ControlNotLoopback(std::net::SocketAddr),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidWorkerCount { workers } => {
                write!(f, "number of workers must be at least 1, got {workers}")
            }
            Error::TooManyWorkers { workers, max } => {
                write!(
                    f,
                    "at most {max} workers per service and in total, got {workers}"
                )
            }
            Error::UnknownService(id) => write!(f, "unknown service id {id}"),
            Error::UnknownWorker { service, worker } => {
                write!(f, "service {service} has no worker id {worker}")
            }
            // cotyledon's wording, kept so that users' checks keep matching.
            Error::AlreadyExists => {
                f.write_str("Only one instance of ServiceManager per application is allowed")
            }
            Error::NoServices => f.write_str("no service was added to the manager"),
            Error::SignalSetup(_) => f.write_str("could not set up signal handling"),
            Error::EventLoop(_) => f.write_str("the manager's event loop failed"),
            Error::Config { path, reason } => {
                write!(f, "configuration {}: {reason}", path.display())
            }
            Error::ConfigTooLarge { path, limit } => {
                write!(
                    f,
                    "configuration {}: larger than {limit} bytes",
                    path.display()
                )
            }
            Error::ConfigNotRegular { path, kind } => {
                write!(
                    f,
                    "configuration {}: not a regular file but a {kind}",
                    path.display()
                )
            }
            Error::Listen { name, address, .. } => {
                write!(f, "could not open listener {name} on {address}")
            }
            Error::DuplicateListener(name) => write!(f, "duplicate listener name {name}"),
            Error::UnknownListener(name) => write!(f, "unknown listener {name}"),
            Error::ListenerKind { name, expected } => {
                write!(f, "listener {name} is not a {expected} listener")
            }
            Error::SetLogger(_) => f.write_str("could not install the logger"),
            Error::InvalidUpgradeTimeout { timeout, min, max } => write!(
                f,
                "the upgrade timeout must be between {min:?} and {max:?}, got {timeout:?}"
            ),
            Error::Handover(why) => write!(f, "cannot take over from the old master: {why}"),
            Error::Control { address, .. } => {
                write!(f, "could not open the control endpoint on {address}")
            }
            Error::ControlSocketInUse(path) => write!(
                f,
                "control socket {} is in use by a live process",
                path.display()
            ),
            Error::ControlNotLoopback(addr) => {
                write!(f, "control address {addr} is not a loopback address")
            }
        }
    }
}

/// The message and its chain of causes, as `anyhow` prints them: what
/// `fn main() -> Result<…>` shows after `Error: `.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut causes = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            causes.push(cause.to_string());
            next = cause.source();
        }
        if causes.is_empty() {
            return Ok(());
        }
        f.write_str("\n\nCaused by:")?;
        let numbered = causes.len() > 1;
        for (i, cause) in causes.iter().enumerate() {
            f.write_str("\n    ")?;
            if numbered {
                write!(f, "{i}: ")?;
            }
            // A cause of several lines stays indented under its number.
            f.write_str(&cause.replace('\n', "\n       "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::SignalSetup(e) | Error::EventLoop(e) | Error::Listen { source: e, .. } => {
                Some(e)
            }
            Error::SetLogger(e) => Some(e),
            Error::Control { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_sources_are_chained() {
        let e = Error::InvalidWorkerCount { workers: 0 };
        assert_eq!(e.to_string(), "number of workers must be at least 1, got 0");
        let e = Error::TooManyWorkers {
            workers: 4097,
            max: 4096,
        };
        assert_eq!(
            e.to_string(),
            "at most 4096 workers per service and in total, got 4097"
        );
        let e = Error::SignalSetup(io::Error::from_raw_os_error(libc::EINVAL));
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::Listen {
            name: "http".to_owned(),
            address: "127.0.0.1:8080".to_owned(),
            source: io::Error::from_raw_os_error(libc::EADDRINUSE),
        };
        assert_eq!(
            e.to_string(),
            "could not open listener http on 127.0.0.1:8080"
        );
        let source = std::error::Error::source(&e).expect("the io error");
        assert_eq!(
            source.to_string(),
            io::Error::from_raw_os_error(libc::EADDRINUSE).to_string()
        );
        assert_eq!(
            Error::ListenerKind {
                name: "http".to_owned(),
                expected: "Unix-domain"
            }
            .to_string(),
            "listener http is not a Unix-domain listener"
        );
        assert_eq!(
            Error::AlreadyExists.to_string(),
            "Only one instance of ServiceManager per application is allowed"
        );
    }

    #[test]
    fn debug_without_a_cause_is_the_message() {
        let e = Error::InvalidWorkerCount { workers: 0 };
        assert_eq!(
            format!("{e:?}"),
            "number of workers must be at least 1, got 0"
        );
    }

    #[test]
    fn debug_of_a_listener_error_names_the_address_and_its_cause() {
        let e = Error::Listen {
            name: "http".to_owned(),
            address: "127.0.0.1:8080".to_owned(),
            source: io::Error::from_raw_os_error(libc::EADDRINUSE),
        };
        let os = io::Error::from_raw_os_error(libc::EADDRINUSE).to_string();
        assert_eq!(
            format!("{e:?}"),
            format!("could not open listener http on 127.0.0.1:8080\n\nCaused by:\n    {os}")
        );
    }

    #[test]
    fn debug_of_a_toml_error_keeps_its_newlines() {
        let e = Error::Config {
            path: "/etc/app.toml".into(),
            reason: "TOML parse error at line 1, column 11\n  |\n1 | workers = [\n  |           ^\ninvalid array".to_owned(),
        };
        let shown = format!("{e:?}");
        assert!(!shown.contains("\\n"), "{shown}");
        assert_eq!(shown.lines().count(), 5, "{shown}");
        assert!(
            shown.starts_with("configuration /etc/app.toml: TOML parse error at line 1"),
            "{shown}"
        );
    }

    #[test]
    fn debug_numbers_a_chain_of_causes() {
        #[derive(Debug)]
        struct Outer(io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let inner = io::Error::other("inner");
        let e = Error::SignalSetup(io::Error::other(Outer(inner)));
        assert_eq!(
            format!("{e:?}"),
            "could not set up signal handling\n\nCaused by:\n    0: outer\n    1: inner"
        );
    }
}
