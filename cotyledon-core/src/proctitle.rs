//! Process titles as cotyledon sets them: master `PROG: master process [ARGV]`,
//! worker `PROG: NAME worker(ID)`.
//!
//! The arguments are kept as `OsString`s (an argument need not be UTF-8); they are
//! turned into text, lossily, only to be shown in a title.

use std::ffi::OsString;

use crate::ids::WorkerId;
use crate::sys;

/// `PROG`: the file name of argv\[0\].
pub(crate) fn program_name(argv: &[OsString]) -> String {
    argv.first()
        .map(|a| {
            let path = std::path::Path::new(a);
            path.file_name().unwrap_or(a).to_string_lossy().into_owned()
        })
        .unwrap_or_else(|| "cotyledon".to_owned())
}

/// The master's title.
pub(crate) fn master_title(argv: &[OsString]) -> String {
    let args: Vec<_> = argv.iter().map(|a| a.to_string_lossy()).collect();
    format!(
        "{}: master process [{}]",
        program_name(argv),
        args.join(" ")
    )
}

/// A worker's title.
pub(crate) fn worker_title(prog: &str, service: &str, worker_id: WorkerId) -> String {
    format!("{prog}: {service} worker({worker_id})")
}

/// What is needed to set titles, prepared once in the master before any fork.
#[derive(Debug)]
pub(crate) struct Titler {
    prog: String,
    area: Option<sys::argv::Area>,
}

impl Titler {
    /// Reads the argv area once; `argv` is the copy taken before any rewrite.
    pub(crate) fn new(argv: &[OsString]) -> Self {
        Titler {
            prog: program_name(argv),
            area: sys::argv::area(),
        }
    }

    /// Sets the master's title.
    pub(crate) fn set_master(&self, argv: &[OsString]) {
        sys::argv::set_title(self.area, &master_title(argv));
    }

    /// Sets a worker's title (in the worker).
    pub(crate) fn set_worker(&self, service: &str, worker_id: WorkerId) {
        sys::argv::set_title(self.area, &worker_title(&self.prog, service, worker_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_cotyledon() {
        let argv: Vec<OsString> = ["/usr/bin/agent", "--config", "x"]
            .into_iter()
            .map(OsString::from)
            .collect();
        assert_eq!(program_name(&argv), "agent");
        assert_eq!(
            master_title(&argv),
            "agent: master process [/usr/bin/agent --config x]"
        );
        assert_eq!(
            worker_title("agent", "heavy", WorkerId::new(3)),
            "agent: heavy worker(3)"
        );
    }

    #[test]
    fn arguments_that_are_not_utf8_are_shown_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe");
        let argv = vec![OsString::from(bad), OsString::from("x")];
        assert_eq!(program_name(&argv), "\u{fffd}\u{fffd}");
        assert_eq!(
            master_title(&argv),
            "\u{fffd}\u{fffd}: master process [\u{fffd}\u{fffd} x]"
        );
        assert_eq!(program_name(&[]), "cotyledon");
    }
}
