//! The examples' minimal logger: `[pid] LEVEL message` on stdout, one line per
//! record, so that the master's lines and each worker's can be told apart.
//! Shared by `demo.rs` and `async_demo.rs` (`#[path]` module).

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record, SetLoggerError};

/// `[pid] LEVEL message` on stdout.
struct Stdout;

impl Log for Stdout {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "[{:>6}] {:<5} {}",
            std::process::id(),
            record.level(),
            record.args()
        );
    }
    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

/// Installs the logger at INFO.
pub(crate) fn init() -> Result<(), SetLoggerError> {
    log::set_logger(&Stdout)?;
    log::set_max_level(LevelFilter::Info);
    Ok(())
}
