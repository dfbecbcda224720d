//! Configuration glue (feature `config`), cotyledon's `oslo_config_glue` for Rust:
//! a typed TOML file that the master loads at start and re-reads on every SIGHUP,
//! before the reload hooks.
//!
//! - A reload is all or nothing: a file that cannot be read or parsed, or whose
//!   value `watch_config`'s closure refuses, changes nothing (no value stored, no
//!   worker count or timeout changed, no worker restarted) and logs an ERROR
//!   with the reason.
//! - Reading never blocks or bloats the master: only a regular file is read (a
//!   FIFO, a device or a socket is refused without blocking), and at most
//!   [`Config::MAX_BYTES`].
//! - Workers forked after a reload see the new configuration (they are copies of
//!   the master). A worker that reloads in place reads the new file itself with
//!   [`Config::reload`], typically from `Service::reload`.
//! - The manager's own settings come from it through
//!   [`ServiceManager::watch_config`]: worker counts (`handle.reconfigure`) and the
//!   graceful shutdown timeout (`handle.set_graceful_shutdown_timeout`), at start
//!   and after every successful reload.

use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use log::{error, info};
use nix::fcntl::OFlag;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::hooks::HookOutput;
use crate::manager::{ManagerHandle, ServiceManager};

const TARGET: &str = "cotyledon::manager";

/// The largest configuration file [`Config`] reads: 1 MiB. A larger one is
/// [`Error::ConfigTooLarge`]; at a reload, the previous configuration stays.
pub(crate) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A typed configuration read from a TOML file. Cheap to clone: clones share the
/// current value.
///
/// ```no_run
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Settings {
///     workers: usize,
///     queue: String,
/// }
///
/// let config = cotyledon::Config::<Settings>::load("/etc/consumer.toml")?;
/// println!("consuming {} with {} workers", config.get().queue, config.get().workers);
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[derive(Debug)]
pub struct Config<T> {
    inner: Arc<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    path: PathBuf,
    current: Mutex<Arc<T>>,
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Config {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Config<T> {
    /// The largest configuration file a `Config` reads: 1 MiB. A larger one is
    /// [`Error::ConfigTooLarge`]; at a reload, the previous configuration stays.
    pub const MAX_BYTES: u64 = MAX_CONFIG_BYTES;
}

impl<T: DeserializeOwned> Config<T> {
    /// Reads and parses `path`: a regular file (or a symlink to one) of at most
    /// [`MAX_BYTES`](Self::MAX_BYTES), UTF-8 TOML. The read never blocks on a FIFO or a
    /// device: those are refused.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the file cannot be opened, read or parsed as a `T`;
    /// [`Error::ConfigNotRegular`] for a FIFO, a device, a socket or a directory;
    /// [`Error::ConfigTooLarge`] above [`MAX_BYTES`](Self::MAX_BYTES).
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Settings {
    ///     workers: usize,
    /// }
    ///
    /// # let dir = std::env::temp_dir().join(format!("cotyledon-doc-load-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("app.toml");
    /// std::fs::write(&path, "workers = 4\n").unwrap();
    /// let config = cotyledon::Config::<Settings>::load(&path)?;
    /// assert_eq!(config.get().workers, 4);
    ///
    /// // A file that does not parse as a `Settings` is an error naming the file.
    /// std::fs::write(&path, "workers = \"four\"\n").unwrap();
    /// let err = cotyledon::Config::<Settings>::load(&path).err().unwrap();
    /// assert!(matches!(err, cotyledon::Error::Config { .. }));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_owned();
        let value = read(&path)?;
        Ok(Config {
            inner: Arc::new(Inner {
                path,
                current: Mutex::new(Arc::new(value)),
            }),
        })
    }

    /// The current configuration.
    ///
    /// ```
    /// # #[derive(serde::Deserialize)] struct Settings { queue: String }
    /// # let dir = std::env::temp_dir().join(format!("cotyledon-doc-get-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("app.toml");
    /// # std::fs::write(&path, "queue = \"jobs\"\n").unwrap();
    /// let config = cotyledon::Config::<Settings>::load(&path)?;
    /// // An `Arc`: a value taken now stays the same while the file is re-read.
    /// let settings = config.get();
    /// assert_eq!(settings.queue, "jobs");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn get(&self) -> Arc<T> {
        Arc::clone(&self.lock())
    }

    /// The file it is read from.
    ///
    /// ```
    /// # #[derive(serde::Deserialize)] struct Settings {}
    /// # let dir = std::env::temp_dir().join(format!("cotyledon-doc-path-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("app.toml");
    /// # std::fs::write(&path, "").unwrap();
    /// let config = cotyledon::Config::<Settings>::load(&path)?;
    /// assert_eq!(config.path(), path);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Reads the file again: on success it becomes the current configuration and
    /// is returned; on an error the previous one stays.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[derive(serde::Deserialize)] struct Settings { queue: String }
    /// # let dir = std::env::temp_dir().join(format!("cotyledon-doc-reload-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("app.toml");
    /// std::fs::write(&path, "queue = \"jobs\"\n").unwrap();
    /// let config = cotyledon::Config::<Settings>::load(&path)?;
    ///
    /// std::fs::write(&path, "queue = \"urgent\"\n").unwrap();
    /// assert_eq!(config.reload()?.queue, "urgent");
    ///
    /// // A broken file: an error, and the previous value stays.
    /// std::fs::write(&path, "queue = [").unwrap();
    /// assert!(config.reload().is_err());
    /// assert_eq!(config.get().queue, "urgent");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn reload(&self) -> Result<Arc<T>, Error> {
        let value = Arc::new(read(&self.inner.path)?);
        self.store(Arc::clone(&value));
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<T>> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `value` the current configuration.
    fn store(&self, value: Arc<T>) {
        *self.lock() = value;
    }
}

/// Reads and parses `path` (see [`Config::load`]).
fn read<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let fail = |reason: String| Error::Config {
        path: path.to_owned(),
        reason,
    };
    let text = read_text(path, MAX_CONFIG_BYTES)?;
    toml::from_str(&text).map_err(|e| fail(e.to_string().trim_end().to_owned()))
}

/// The text of `path`, a regular file of at most `limit` bytes. Opened without
/// blocking (`O_NONBLOCK`: a FIFO without a writer, a terminal), and judged on
/// the opened fd (`fstat`), so a symlink swapped in between cannot make the read
/// block or grow without bound: at most `limit + 1` bytes are ever read.
fn read_text(path: &Path, limit: u64) -> Result<String, Error> {
    let fail = |reason: String| Error::Config {
        path: path.to_owned(),
        reason,
    };
    // std adds O_CLOEXEC.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(Error::ConfigNotRegular {
            path: path.to_owned(),
            kind: kind_of(meta.file_type()),
        });
    }
    let too_large = || Error::ConfigTooLarge {
        path: path.to_owned(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    // The size may have changed since fstat: the read itself is bounded.
    Read::take(&file as &File, limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| fail(format!("not UTF-8 text: {e}")))
}

/// What a file that is not a regular one is, for [`Error::ConfigNotRegular`].
fn kind_of(t: FileType) -> &'static str {
    if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else if t.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Why a configuration was refused, without the path (the log line names it).
fn reason(e: &Error) -> String {
    match e {
        Error::Config { reason, .. } => reason.clone(),
        Error::ConfigTooLarge { limit, .. } => format!("larger than {limit} bytes"),
        Error::ConfigNotRegular { kind, .. } => format!("not a regular file but a {kind}"),
        other => other.to_string(),
    }
}

impl ServiceManager {
    /// Makes `config` the manager's configuration: `apply` runs now (it may call
    /// `handle.reconfigure` and `handle.set_graceful_shutdown_timeout`), and on
    /// every SIGHUP the file is re-read before the reload hooks run and `apply`
    /// runs with the new value.
    ///
    /// A reload is all or nothing. If the file cannot be read or parsed, or
    /// `apply` returns an error (say `reconfigure` refuses `workers = 0`) or
    /// panics, ERROR "Could not reload the configuration from PATH, keeping the
    /// previous one: REASON" is logged and nothing changes: [`Config::get`] keeps
    /// the previous value (in the master and in the workers forked later), what
    /// `apply` did through the handle is undone, no reload hook runs and no
    /// worker is signalled; systemd gets `STATUS=Reload failed: REASON; …` and
    /// `READY=1`. Only once `apply` succeeds does the new value become the
    /// current one (so inside `apply`, `config.get()` is still the previous one),
    /// INFO "Configuration reloaded from PATH" is logged and the reload goes on.
    ///
    /// # Errors
    ///
    /// What `apply` returns the first time, as [`Error::Config`]; what it changed
    /// through the handle is undone.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use cotyledon::{Config, Service, ServiceManager};
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize)]
    /// struct Settings {
    ///     workers: usize,
    ///     graceful_shutdown_secs: u64,
    /// }
    ///
    /// #[derive(Service)]
    /// struct Consumer;
    /// impl cotyledon::Service for Consumer {}
    ///
    /// let config = Config::<Settings>::load("/etc/consumer.toml")?;
    /// let mut manager = ServiceManager::new()?;
    /// let consumer = manager.add(|_| Consumer, 1)?;
    /// manager.watch_config(&config, move |settings, handle| {
    ///     handle.reconfigure(consumer, settings.workers)?;
    ///     handle.set_graceful_shutdown_timeout(Duration::from_secs(settings.graceful_shutdown_secs));
    ///     Ok::<(), cotyledon::Error>(())
    /// })?;
    /// manager.run()?;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn watch_config<T, F, R>(&mut self, config: &Config<T>, mut apply: F) -> Result<(), Error>
    where
        T: DeserializeOwned + 'static,
        F: FnMut(&T, &mut ManagerHandle<'_>) -> R + 'static,
        R: HookOutput,
    {
        let first = self.with_handle(|handle| apply(&config.get(), handle).into_result());
        first.map_err(|reason| Error::Config {
            path: config.path().to_owned(),
            reason,
        })?;
        let config = config.clone();
        self.on_config(Box::new(move |handle| {
            let path = config.path().display();
            // Read and check first; store only what `apply` accepted. On an
            // error the manager undoes what `apply` changed and aborts the reload.
            let outcome = read(config.path())
                .map_err(|e| reason(&e))
                .and_then(|value| {
                    let applied = catch_unwind(AssertUnwindSafe(|| {
                        apply(&value, &mut *handle).into_result()
                    }));
                    match applied {
                        Ok(Ok(())) => Ok(value),
                        Ok(Err(reason)) => Err(reason),
                        Err(payload) => Err(format!(
                            "panicked: {}",
                            crate::hooks::panic_message(&*payload)
                        )),
                    }
                });
            match outcome {
                Ok(value) => {
                    config.store(Arc::new(value));
                    info!(target: TARGET, "Configuration reloaded from {path}");
                    Ok(())
                }
                Err(reason) => {
                    error!(
                        target: TARGET,
                        "Could not reload the configuration from {path}, keeping the previous one: {reason}"
                    );
                    Err(reason)
                }
            }
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
