//! The texts of the upgrade sections of BENCHMARKS.md (`load/section.rs` writes
//! them): the title and what the phases are.

use crate::load::Example;

/// The section's title and what runs under load.
pub(crate) fn subject(example: Example) -> &'static str {
    match example {
                Example::AsyncHttpServer => {
                    "## Binary upgrade of the async HTTP server under load (`cargo xtask load --example async_http_server --phase upgrade`)

`examples/async_http_server.rs`, built twice, with 4 workers, through binary
upgrades (SIGUSR2)"
                }
                _ => {
                    "## Binary upgrade under load (`cargo xtask load --phase upgrade`)

`examples/http_server.rs`, built twice, with 4 workers, through binary upgrades
(SIGUSR2)"
                }
        }
}

/// What the phases of the upgrade sections are.
pub(crate) const PHASES: &str = "
Besides the usual wrk run, whose figures the table shows (32 keep-alive
connections, reopened only when a draining worker closes one), a second wrk
(`-t1 -c4 -H 'Connection: close'`) opens a new connection for every request
all along, so that the accept path of both generations is under load too: its
errors and non-2xx must be 0 as well, and its latencies are in the notes.

The example is built twice in release, with `HTTP_SERVER_VERSION=a` and `=b` at
compile time (each response says `version a` or `version b`), and build a is
installed at a deploy path (`target/upgrade-builds/current`) and started from
there. An upgrade installs the other build at that path (written next to it,
then renamed over it) and sends SIGUSR2 to the master that serves; the old
master hands over once the new one's workers are all ready. After each, the task
checks that the hand-over line came, that the master pid changed, that the old
master and its 4 workers are gone (a zombie counts as gone) after logging an exit
status 0 for each worker, that the process group (which every generation
inherits) holds the new master and its 4 workers only, and that a new
connection is answered by the new build.

Phases: *binary upgrades*: 10 SIGUSR2s in 20 s, alternating builds b, a, b...;
*slow boot*: the same with workers that take 2 s to be ready
(`--boot-delay-ms 2000`), each upgrade once the previous is done (the old
workers serve until the new ones are ready: p99 under 100 ms); then each failed
attempt, each on a master of its own with `--upgrade-timeout-ms 2000` under a
wrk run of its own: build b without its execute bits, nothing at the deploy
path, a script that exits 3, build b booting for 60 s (a script that execs it
with `--boot-delay-ms 60000`): not ready within the timeout, the same SIGKILLed
while its workers boot. After each, the ERROR line, the old master still
serving with the same 4 workers, nothing of the attempt left in the process
group, and the listening socket in the mode the old workers set (non-blocking:
the file status flags belong to the socket, shared by both masters' processes);
then SIGTERM stops the old master, but after the last case build b is installed
and a SIGUSR2 upgrades.

Checks and notes of this run:

";
