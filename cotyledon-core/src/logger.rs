//! An optional logger (feature `logger`, std only) that prints every record as one
//! line `LEVEL:TARGET:MESSAGE`, the format of Python's `logging.basicConfig()`
//! that cotyledon's users know, so that a program gets its workers' and the
//! manager's messages with one call in `main`.
//!
//! The library itself never installs a logger: this one exists only once the
//! program calls [`init`] (or [`Logger::init`]). Any other `log` implementation
//! (env_logger, a journald or syslog logger, tracing's `LogTracer`) works as well.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

use crate::error::Error;

/// The environment variable [`init`] and [`Logger::from_env`] read the level
/// from: `error`, `warn`, `info` (the default), `debug`, `trace` or `off`, in any
/// case.
pub const ENV_VAR: &str = "COTYLEDON_LOG";

/// The level used when [`ENV_VAR`] is unset or not a level.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::Info;

/// Installs a [`Logger`] with the level from [`ENV_VAR`] (default `info`),
/// writing to stderr. Call it first in `main`, before the manager exists, so that
/// every worker inherits it with the fork.
///
/// # Errors
///
/// [`Error::SetLogger`] if the program already installed a logger.
///
/// # Examples
///
/// ```
/// fn main() -> Result<(), cotyledon::Error> {
///     cotyledon::logger::init()?;
///     log::info!("printed as INFO:rust_out:…"); // the target is the module path
///     Ok(())
/// }
/// ```
pub fn init() -> Result<(), Error> {
    Logger::from_env().init()
}

/// A logger that writes each record as one line `LEVEL:TARGET:MESSAGE`
/// (`INFO:cotyledon::manager:Caught SIGTERM signal, graceful exiting of master
/// process`) to stderr or stdout, in a single `write` per line and flushed at
/// once, so that lines from the master and its workers never mix within a line
/// and none waits in a buffer when a process exits or forks.
///
/// ```
/// use log::LevelFilter;
///
/// cotyledon::logger::Logger::new()
///     .level(LevelFilter::Debug)
///     .stdout()
///     .init()?;
/// log::debug!("shown: the level is DEBUG");
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Logger {
    level: LevelFilter,
    stdout: bool,
    /// A value of [`ENV_VAR`] that is not a level, reported once installed.
    bad_env: Option<String>,
}

impl Default for Logger {
    fn default() -> Self {
        Logger::new()
    }
}

impl Logger {
    /// A logger at [`DEFAULT_LEVEL`] (`info`) writing to stderr; the environment
    /// is not read.
    ///
    /// ```
    /// let logger = cotyledon::logger::Logger::new();
    /// # drop(logger);
    /// ```
    pub fn new() -> Self {
        Logger {
            level: DEFAULT_LEVEL,
            stdout: false,
            bad_env: None,
        }
    }

    /// A logger whose level comes from [`ENV_VAR`] (`COTYLEDON_LOG=debug`), or
    /// [`DEFAULT_LEVEL`] when it is unset. A value that is not a level is
    /// reported with a WARN line once the logger is installed, and the default
    /// is used.
    ///
    /// ```
    /// // COTYLEDON_LOG=debug ./my-program
    /// cotyledon::logger::Logger::from_env().init()?;
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn from_env() -> Self {
        let mut logger = Logger::new();
        if let Some(value) = std::env::var_os(ENV_VAR) {
            let value = value.to_string_lossy().into_owned();
            match parse_level(&value) {
                Some(level) => logger.level = level,
                None => logger.bad_env = Some(value),
            }
        }
        logger
    }

    /// Sets the most verbose level printed (overrides what [`ENV_VAR`] said).
    ///
    /// ```
    /// use log::LevelFilter;
    ///
    /// let logger = cotyledon::logger::Logger::from_env().level(LevelFilter::Warn);
    /// # drop(logger);
    /// ```
    pub fn level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self.bad_env = None;
        self
    }

    /// Writes to stdout instead of stderr.
    ///
    /// ```
    /// let logger = cotyledon::logger::Logger::new().stdout();
    /// # drop(logger);
    /// ```
    pub fn stdout(mut self) -> Self {
        self.stdout = true;
        self
    }

    /// Installs this logger for the whole process (and so for every worker the
    /// manager forks later) and sets `log`'s maximum level to its own.
    ///
    /// # Errors
    ///
    /// [`Error::SetLogger`] if the program already installed a logger.
    ///
    /// ```
    /// cotyledon::logger::Logger::new().init()?;
    /// // A second logger is refused.
    /// assert!(cotyledon::logger::Logger::new().init().is_err());
    /// # Ok::<(), cotyledon::Error>(())
    /// ```
    pub fn init(self) -> Result<(), Error> {
        let level = self.level;
        let bad_env = self.bad_env.clone();
        log::set_boxed_logger(Box::new(self)).map_err(Error::SetLogger)?;
        log::set_max_level(level);
        if let Some(value) = bad_env {
            log::warn!(
                target: "cotyledon::logger",
                "{ENV_VAR}={value:?} is not a level (error, warn, info, debug, trace, off): using {DEFAULT_LEVEL}"
            );
        }
        Ok(())
    }
}

/// `level` in any case, or `None`.
fn parse_level(level: &str) -> Option<LevelFilter> {
    level.trim().parse().ok()
}

/// One record as the line the logger writes, newline included.
fn format_line(record: &Record<'_>) -> String {
    format!("{}:{}:{}\n", record.level(), record.target(), record.args())
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // The whole line in one write, then a flush: no partial line is left in a
        // buffer to be duplicated by a fork or lost at exit.
        let line = format_line(record);
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        } else {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        if self.stdout {
            let _ = std::io::stdout().flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_level_target_message() {
        let line = format_line(
            &Record::builder()
                .level(log::Level::Warn)
                .target("cotyledon::manager")
                .args(format_args!("Forking too fast, sleeping"))
                .build(),
        );
        assert_eq!(line, "WARN:cotyledon::manager:Forking too fast, sleeping\n");
    }

    #[test]
    fn levels_parse_in_any_case() {
        assert_eq!(parse_level("debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("WARN"), Some(LevelFilter::Warn));
        assert_eq!(parse_level(" Off "), Some(LevelFilter::Off));
        assert_eq!(parse_level("loud"), None);
    }

    #[test]
    fn records_above_the_level_are_not_enabled() {
        let logger = Logger::new().level(LevelFilter::Info);
        let debug = Metadata::builder().level(log::Level::Debug).build();
        let error = Metadata::builder().level(log::Level::Error).build();
        assert!(!logger.enabled(&debug));
        assert!(logger.enabled(&error));
    }
}
