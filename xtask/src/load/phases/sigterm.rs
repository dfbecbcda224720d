//! The SIGTERM phase of `cargo xtask load`: SIGTERM to the master under load, with
//! an idle keep-alive connection held through the drain (`idle.rs`).

use std::time::Duration;

use super::Runner;
use crate::load::idle::IdleConn;
use crate::load::procfs;
use crate::load::report::Phase;
use crate::load::server::{self, Exit, WORKERS};
use crate::load::wrk;

impl Runner {
    /// SIGTERM to the master under load. The task's own idle keep-alive
    /// connection keeps one worker waiting (up to 1 s) for its next request after
    /// the others have drained: wrk is stopped then, before the master can close
    /// the listening socket, so its counts cover the whole drain and nothing after.
    pub(super) fn sigterm(&self) -> Result<Phase, String> {
        let mut server = self.server("sigterm", &[], Duration::ZERO)?;
        let idle = IdleConn::open(self.port)?;
        let run = wrk::Run::start(&self.url(), 3600)?;
        eprintln!("$ {} (stopped with SIGINT)", run.command);
        std::thread::sleep(self.plan.sigterm_after);
        let mark = server.mark();
        server.signal("TERM", server.pid)?;
        let others = server.wait_lines(mark, WORKERS - 1, Duration::from_secs(5), |line| {
            line.contains(" drained: ")
        });
        run.interrupt()?;
        let report = run.finish()?.0;
        let queued = procfs::accept_queue(self.port);
        let answered = idle.last_request();
        let status = server.wait_exit(Duration::from_secs(30))?;
        let lines = server.lines_since(0);
        let exits = server::exits(&lines);
        let served = server::served(&lines);

        let load = format!("SIGTERM after {} s", self.plan.sigterm_after.as_secs());
        let mut phase = Phase::new("SIGTERM under load", load, report);
        let requests = phase.report.requests;
        phase.check_no_failure();
        phase.check(
            others.is_ok(),
            format!(
                "{} workers drained while one waited for its idle connection",
                WORKERS - 1
            ),
        );
        phase.check(
            matches!(answered, Ok(true)),
            format!(
                "the idle keep-alive connection's next request was answered with \
                 `Connection: close`, then the connection closed ({answered:?})"
            ),
        );
        phase.check(
            status.code() == Some(0),
            format!("the master exited 0: {status}"),
        );
        let clean = exits.iter().all(|(_, e)| *e == Exit::Status(0));
        phase.check(
            clean && exits.len() == WORKERS,
            format!("every worker drained and exited 0: {exits:?}"),
        );
        // The idle connection's two requests are the only ones not from wrk.
        phase.check(
            served == requests + 2,
            format!(
                "every response written reached its client: {served} written, \
                 {requests} to wrk + 2 to the idle connection"
            ),
        );
        phase.note(format!(
            "wrk was stopped when {} of {WORKERS} workers had drained: its connections \
             then waited in the listen queue ({} seen), never accepted; the master's \
             exit closed the socket and reset them, requests unread",
            WORKERS - 1,
            queued.map_or("none".to_owned(), |n| n.to_string())
        ));
        Ok(phase)
    }
}
