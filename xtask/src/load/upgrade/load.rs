//! The load of the upgrade phases: two wrk runs at once. The first is the one of
//! every phase of `cargo xtask load` (`-t2 -c32`, keep-alive: it opens a new
//! connection only when a response says `Connection: close`, as a draining
//! worker's do). The second asks for `Connection: close` on every request
//! (`-t1 -c4`), so that every one of its requests comes on a new connection:
//! the listening socket's accept path, shared by the old and the new
//! generation, is under load all along, as it is with clients that do not keep
//! their connections. Both must fail no request.

use crate::load::report::{Phase, latency};
use crate::load::wrk::{self, Report};

/// The second run's threads and connections.
const FRESH: (u32, u32) = (1, 4);

/// Both runs in progress.
pub(super) struct Load {
    kept: wrk::Run,
    fresh: wrk::Run,
}

impl Load {
    /// Starts both for `seconds` against `url`.
    pub(super) fn start(url: &str, seconds: u64) -> Result<Load, String> {
        let kept = wrk::Run::start(url, seconds)?;
        let fresh = wrk::Run::start_with(url, seconds, FRESH, &["-H", "Connection: close"])?;
        let until = match seconds {
            3600 => " (stopped with SIGINT)",
            _ => "",
        };
        eprintln!("$ {}{until}\n$ {}{until}", kept.command, fresh.command);
        Ok(Load { kept, fresh })
    }

    /// Stops both early.
    pub(super) fn interrupt(&self) -> Result<(), String> {
        self.kept.interrupt()?;
        self.fresh.interrupt()
    }

    /// Waits for both reports: a phase with the first run's figures in the
    /// table, and the checks that neither failed a request.
    pub(super) fn finish(self, name: &'static str, load: String) -> Result<Phase, String> {
        // Without its duration and port, which change from run to run.
        let (threads, connections) = FRESH;
        let command = format!("wrk -t{threads} -c{connections} -H 'Connection: close'");
        let kept = self.kept.finish()?.0;
        let fresh = self.fresh.finish()?.0;
        let mut phase = Phase::new(name, load, kept);
        phase.check_no_failure();
        judge_fresh(&mut phase, &command, &fresh);
        Ok(phase)
    }
}

/// The checks and the note of the run that opens a connection per request.
fn judge_fresh(phase: &mut Phase, command: &str, fresh: &Report) {
    let e = fresh.errors;
    phase.check(
        e.total() == 0 && fresh.non_2xx == 0,
        format!(
            "a new connection per request (`{command}`): 0 socket errors (got \
             {}/{}/{}/{}), 0 non-2xx (got {}), {} requests",
            e.connect, e.read, e.write, e.timeout, fresh.non_2xx, fresh.requests
        ),
    );
    phase.note(format!(
        "a new connection per request: {:.0} req/s, p50 {}, p99 {}, max {}",
        fresh.per_second,
        latency(fresh.p50),
        latency(fresh.p99),
        latency(fresh.max)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::wrk::SocketErrors;

    #[test]
    fn a_failed_request_on_a_new_connection_fails_the_phase() {
        let mut phase = Phase::new("x", String::new(), Report::default());
        let clean = Report {
            requests: 10,
            ..Report::default()
        };
        judge_fresh(&mut phase, "wrk", &clean);
        assert_eq!(phase.failed(), 0);
        let refused = Report {
            errors: SocketErrors {
                connect: 1,
                ..SocketErrors::default()
            },
            ..clean
        };
        judge_fresh(&mut phase, "wrk", &refused);
        assert_eq!(phase.failed(), 1);
        assert!(phase.checks[1].text.contains("got 1/0/0/0"));
    }
}
