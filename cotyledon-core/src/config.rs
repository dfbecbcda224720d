//! Configuration glue (feature `config`), cotyledon's `oslo_config_glue` for Rust:
//! a typed TOML file that the master loads at start and re-reads on every SIGHUP,
//! before the reload hooks.
//!
//! - A file that cannot be read or parsed keeps the previous configuration and
//!   logs an ERROR with the reason.
//! - Workers forked after a reload see the new configuration (they are copies of
//!   the master). A worker that reloads in place reads the new file itself with
//!   [`Config::reload`], typically from `Service::reload`.
//! - The manager's own settings come from it through
//!   [`ServiceManager::watch_config`]: worker counts (`handle.reconfigure`) and the
//!   graceful shutdown timeout (`handle.set_graceful_shutdown_timeout`), at start
//!   and after every successful reload.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use log::{error, info};
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::hooks::HookOutput;
use crate::manager::{ManagerHandle, ServiceManager};

const TARGET: &str = "cotyledon::manager";

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

impl<T: DeserializeOwned> Config<T> {
    /// Reads and parses `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the file cannot be read or parsed as a `T`.
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
    /// [`Error::Config`] if the file cannot be read or parsed as a `T`.
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
        *self.lock() = Arc::clone(&value);
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<T>> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn read<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let fail = |reason: String| Error::Config {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    toml::from_str(&text).map_err(|e| fail(e.to_string().trim_end().to_owned()))
}

impl ServiceManager {
    /// Makes `config` the manager's configuration: `apply` runs now (it may call
    /// `handle.reconfigure` and `handle.set_graceful_shutdown_timeout`), and on
    /// every SIGHUP the file is re-read before the reload hooks run and, if it
    /// parses, `apply` runs again with the new value. A file that does not parse
    /// logs an ERROR ("Could not reload the configuration from PATH, keeping the
    /// previous one: …") and changes nothing.
    ///
    /// # Errors
    ///
    /// What `apply` returns the first time, as [`Error::Config`].
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
        self.on_config(Box::new(move |handle| match config.reload() {
            Ok(value) => {
                info!(
                    target: TARGET,
                    "Configuration reloaded from {}",
                    config.path().display()
                );
                apply(&value, handle).into_result()
            }
            Err(e) => {
                error!(
                    target: TARGET,
                    "Could not reload the configuration from {}, keeping the previous one: {}",
                    config.path().display(),
                    match &e {
                        Error::Config { reason, .. } => reason.as_str(),
                        _ => "",
                    }
                );
                Ok(())
            }
        }));
        Ok(())
    }
}
