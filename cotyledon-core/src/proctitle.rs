//! Process titles as cotyledon sets them: master `PROG: master process [ARGV]`,
//! worker `PROG: NAME worker(ID)`.

use crate::service::WorkerId;
use crate::sys;

/// `PROG`: the file name of argv\[0\].
pub(crate) fn program_name(argv: &[String]) -> String {
    argv.first()
        .map(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| a.clone())
        })
        .unwrap_or_else(|| "cotyledon".to_owned())
}

/// The master's title.
pub(crate) fn master_title(argv: &[String]) -> String {
    format!(
        "{}: master process [{}]",
        program_name(argv),
        argv.join(" ")
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
    pub(crate) fn new(argv: &[String]) -> Self {
        Titler {
            prog: program_name(argv),
            area: sys::argv::area(),
        }
    }

    /// Sets the master's title.
    pub(crate) fn set_master(&self, argv: &[String]) {
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
        let argv = vec![
            "/usr/bin/agent".to_owned(),
            "--config".to_owned(),
            "x".to_owned(),
        ];
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
}
