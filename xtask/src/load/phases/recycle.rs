//! The recycling phase of `cargo xtask load`: a master whose workers are recycled
//! every few seconds (`--max-lifetime-ms`, `max_lifetime`) under wrk. The claim:
//! recycling goes through the rolling path, one worker at a time, each once the
//! previous replacement is ready, so capacity holds and no request fails.
//!
//! Worker `i` of 4 comes due on a grid of its own, `L/2 × (k + i/4)` from the
//! master's start, about `L` after its own start: with L = 3 s, at 3, 3.375,
//! 3.75, 4.125 s, then every 3 s per id, about 22 recycles in 20 s, one every
//! 0.75 s at most. A recycle's fork is planned: cotyledon's fork limiter (on in
//! the example) does not count it, so no pause may ever leave an id empty, in
//! the full run as in `--smoke` (L = 1 s, 2 s of load).

use std::time::Duration;

use super::{Runner, count};
use crate::load::report::{Phase, latency};
use crate::load::server::{self, Exit, WORKERS};

/// How long the recycles started under load may take to be over, once wrk is
/// done: a fork-limiter pause (5 s) and a boot, with room to spare.
const SETTLE: Duration = Duration::from_secs(20);

impl Runner {
    pub(super) fn recycling(&self) -> Result<Phase, String> {
        let (secs, lifetime, least) = self.plan.recycle;
        let ms = lifetime.as_millis().to_string();
        let mut server = self.server("recycle", &["--max-lifetime-ms", &ms], Duration::ZERO)?;
        let mark = server.mark();
        let report = self.timed(secs, 0, || Ok(()))?;
        let end = server.mark() - mark;
        let lines = server.lines_since(mark);
        let during = server::recycles(&lines[..end]);
        let recycled: Vec<u32> = during.iter().map(|r| r.pid).collect();
        // Recycles go on; wait for those started under load to be over.
        let replaced = server.wait_replaced(&recycled, SETTLE);
        server.signal("TERM", server.pid)?;
        let status = server.wait_exit(Duration::from_secs(30))?;
        let lines = server.lines_since(mark);
        let times = server.times_since(mark);
        let all = server::recycles(&lines);
        let exits = server::exits(&lines);
        let drained = server::drained_pids(&lines);

        let load = format!("{secs} s, max lifetime {}", latency(lifetime));
        let mut phase = Phase::new("workers recycled every few seconds", load, report);
        phase.check_no_failure();
        let n = during.len();
        let ids: Vec<usize> = during.iter().map(|r| r.worker).collect();
        phase.check(
            n >= least,
            format!(
                "{} under load (at least {least}), worker ids {ids:?}",
                count(n, "recycle")
            ),
        );
        let unclean: Vec<u32> = recycled
            .iter()
            .copied()
            .filter(|pid| !drained.contains(pid) || !exits.contains(&(*pid, Exit::Status(0))))
            .collect();
        phase.check(
            unclean.is_empty(),
            format!(
                "every recycled worker drained, then exited 0 (not: {unclean:?}; see {})",
                self.logs.join("recycle.log").display()
            ),
        );
        let serial = server::one_at_a_time(&lines, &all);
        phase.check(
            serial.is_ok(),
            format!(
                "one at a time: each recycle started once the previous worker had exited \
                 and its replacement served ({} recycles in all{})",
                all.len(),
                serial.err().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        );
        phase.check(
            replaced.is_ok(),
            format!(
                "the workers recycled under load were replaced: {WORKERS} serving \
                 ({replaced:?})"
            ),
        );
        phase.check(
            status.success(),
            format!("the master then stopped: {status}"),
        );
        let pauses = server::fork_pauses(&lines[..end]);
        phase.check(
            pauses == 0,
            format!(
                "the fork limiter never paused forking under load (paused {}): no \
                 worker id left empty",
                count(pauses, "time")
            ),
        );
        let at = |line: usize| times.get(line).copied();
        let took: Vec<Duration> = all
            .iter()
            .filter_map(|r| Some(at(server::replaced_at(&lines, r)?)? - at(r.line)?))
            .collect();
        let starts: Vec<Duration> = all.iter().filter_map(|r| at(r.line)).collect();
        let gap = starts.windows(2).map(|w| w[1].saturating_sub(w[0])).min();
        if let (Some(min), Some(max), Some(gap)) = (took.iter().min(), took.iter().max(), gap) {
            phase.note(format!(
                "a recycle took {} to {} (the master's `Recycling` line to the \
                 replacement's `serving`); the closest two recycle starts were {} apart \
                 (each id on a grid of its own: {} apart with L = {})",
                latency(*min),
                latency(*max),
                latency(gap),
                latency(lifetime / (2 * WORKERS as u32)),
                latency(lifetime),
            ));
        }
        Ok(phase)
    }
}
