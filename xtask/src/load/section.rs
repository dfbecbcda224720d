//! The `cargo xtask load` sections of BENCHMARKS.md, one per example and one
//! per example's upgrade phases: each written by `load [--example NAME] [--phase
//! upgrade] --write` between two markers of its own, and all kept by `bench
//! --write` when it rewrites the rest.

use std::fmt::Write as _;

use super::Example;
use super::report::{self, Phase};
use super::upgrade::section as upgrade;

/// Which section: an example's phases, or its upgrade phases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Key {
    pub(crate) example: Example,
    /// `--phase upgrade`.
    pub(crate) upgrade: bool,
}

impl From<Example> for Key {
    /// The section of `example`'s phases.
    fn from(example: Example) -> Key {
        Key {
            example,
            upgrade: false,
        }
    }
}

impl Key {
    /// Every section, in the order they are kept in.
    fn all() -> impl Iterator<Item = Key> {
        let phases = Example::ALL.map(|example| Key {
            example,
            upgrade: false,
        });
        let upgrades = [Example::HttpServer, Example::AsyncHttpServer].map(|example| Key {
            example,
            upgrade: true,
        });
        phases.into_iter().chain(upgrades)
    }

    /// The task's arguments: ` --example NAME --phase upgrade`, or less.
    fn flags(self) -> String {
        let phase = if self.upgrade { " --phase upgrade" } else { "" };
        format!("{}{phase}", self.example.flag())
    }

    /// `http_server`, `async_http_server upgrade`: for messages.
    pub(crate) fn title(self) -> String {
        let phase = if self.upgrade { " upgrade" } else { "" };
        format!("{}{phase}", self.example.name())
    }
}

/// The first and the last line of a section (`http_server`'s are
/// `<!-- cargo xtask load: begin ... -->` and `<!-- cargo xtask load: end -->`).
fn markers(key: Key) -> (String, String) {
    let flags = key.flags();
    (
        format!(
            "<!-- cargo xtask load{flags}: begin (rewritten by `cargo xtask load{flags} --write`) -->"
        ),
        format!("<!-- cargo xtask load{flags}: end -->"),
    )
}

/// The section's title and what runs under load.
fn subject(key: Key) -> &'static str {
    if key.upgrade {
        return upgrade::subject(key.example);
    }
    match key.example {
        Example::HttpServer => {
            "## Pre-fork HTTP server under load (`cargo xtask load`)

`examples/http_server.rs` with 4 workers (one listening socket bound by the master;
each worker drains on SIGTERM, see its module doc)"
        }
        Example::AsyncHttpServer => {
            "## Async pre-fork HTTP server under load (`cargo xtask load --example async_http_server`)

`examples/async_http_server.rs`, hyper-util's server on a current-thread tokio
runtime in each worker with cotyledon's drain (feature `drain`), with 4 workers
(one listening socket bound by the master; each worker drains on SIGTERM, see
its module doc)"
        }
        Example::AxumService => {
            "## A user's axum service with the drain (`cargo xtask load --example axum_service`)

`examples/axum_service.rs`: the service of the section above plus cotyledon's
drain (4 lines, feature `axum`), 4 workers, `Reload::Rolling { batch: 1 }`,"
        }
        Example::AxumServiceNaive => {
            "## The same axum service without the drain (`cargo xtask load --example axum_service_naive`)

`examples/axum_service_naive.rs`: `axum::serve(..).with_graceful_shutdown(ctx.stopped())`,
as a user writes it from the rustdoc of `Context::stopped`, 4 workers,
`Reload::Rolling { batch: 1 }`,"
        }
    }
}

/// Where and how the figures were taken.
pub(crate) struct Header {
    pub(crate) date: String,
    pub(crate) machine: String,
    pub(crate) revision: String,
    pub(crate) elapsed_s: u64,
}

/// A section, markers included.
pub(crate) fn render(key: Key, header: &Header, phases: &[Phase]) -> String {
    let (begin, end) = markers(key);
    let mut out = String::new();
    let _ = writeln!(out, "{begin}");
    let runs = if key.upgrade {
        "two wrk runs at once per phase (see
below), each phase with something done to the master or its workers meanwhile.
The task checks claims after each phase and fails if one does not hold."
    } else {
        "one wrk run per phase (the overhead
comparison alternates several), each with something done to the master or its
workers meanwhile. The task checks claims after each run and fails if one does
not hold."
    };
    let _ = write!(
        out,
        "{} under
`wrk --latency -t2 -c32` on loopback, {runs}

- Date: {}
- Machine: {} (wrk and the server share the 2 cores)
- Command: `cargo xtask load{} --write`
- Revision: {}
- Duration of the run: {} s

wrk keeps one request in flight on each of its 32 keep-alive connections. A
request slower than its timeout (2 s) is a `timeout` socket error and is left out
of the latencies; its percentiles are corrected for coordinated omission (a stall
of T counts as the requests that would have been sent meanwhile), so a stall
shows in p99, not only in max.

",
        subject(key),
        header.date,
        header.machine,
        key.flags(),
        header.revision,
        header.elapsed_s
    );
    out.push_str(&report::table(phases));
    out.push_str(match key.example {
        _ if key.upgrade => upgrade::PHASES,
        Example::HttpServer => PHASES,
        Example::AsyncHttpServer => SAME_PHASES,
        Example::AxumService | Example::AxumServiceNaive => USER_PHASES,
    });
    out.push_str(&report::details(phases));
    let _ = writeln!(out, "{end}");
    out
}

/// What the phase of the user services' sections is.
const USER_PHASES: &str = "
One phase: wrk for 21 s with one SIGHUP to the master per second (20), each a
rolling reload of the 4 workers one at a time; then SIGTERM. A socket error is a
request the client saw fail (`read`: the connection closed under it).

";

/// What the phases of `http_server`'s section are.
const PHASES: &str = "
Phases: *baseline*; *one worker SIGKILLed per second* (the oldest); *rolling
reload*: one SIGHUP to the master per second, `Reload::Rolling { batch: 1 }`;
*all-at-once reload*: the same with cotyledon's default; *slow boot*: workers
that take 2 s to be ready (`--boot-delay-ms 2000`, `Readiness::Explicit`), 10
SIGHUPs, each once the previous reload has replaced every worker, rolling then
all-at-once; *SIGTERM under load* to the master; *workers recycled every few
seconds*: `--max-lifetime-ms 3000` (`max_lifetime`: each worker after about
3 s, worker id i of 4 on a grid of its own, 1.5 s × (k + i/4) from the master's
start), counted from the master's `Recycling` lines, each of which must wait for
the previous replacement to serve, with no fork-limiter pause; *overhead*: the 4 workers against the
same accept loop and handler in one process with 4 threads and no manager
(`--single-process`), 10 pairs of 3 s runs, alternating which goes first, a fresh
server per run on the same port; the median of the pairs' req/s ratios must be at
least 95%. The p99 ratio is shown, not judged: with wrk on the same 2 cores it
moves by tens of percent from one pair to the next.

With slow-booting workers, the all-at-once reload stops every worker and the
requests queue on the socket until the replacements are ready (2 s): p99 and max
near 2 s, and timeouts for those that waited longer. The rolling reload keeps
three workers serving while the fourth boots. For comparison (from issue 8, same
machine and wrk run, 4 workers, an app that takes 2 s to boot, SIGHUPs):
gunicorn 27 had 0 errors but p99 1.91 s and max 1.98 s, because it stops old
workers before the new ones are ready.

Checks and notes of this run:

";

/// The same, in the other examples' sections.
const SAME_PHASES: &str = "
The phases and their checks are those of `http_server`'s section, but for the
overhead comparison, which needs `--single-process` (`http_server` only).

Checks and notes of this run:

";

/// `doc` with the section `key` replaced by `section`, or `section` appended.
pub(crate) fn splice(key: Key, doc: &str, section: &str) -> String {
    match span(key, doc) {
        Some((start, end)) => format!("{}{section}{}", &doc[..start], &doc[end..]),
        None => format!("{}\n\n{section}", doc.trim_end()),
    }
}

/// `new_doc` (a rewrite of the rest of BENCHMARKS.md) with the load sections of
/// `old_doc` kept at its end, those it had, in the order of [`Key::all`].
pub(crate) fn keep(new_doc: &str, old_doc: &str) -> String {
    let mut doc = new_doc.to_owned();
    for key in Key::all() {
        if let Some((start, end)) = span(key, old_doc) {
            doc = splice(key, &doc, &old_doc[start..end]);
        }
    }
    doc
}

/// Byte range of the section `key` in `doc`, from its first marker to the end
/// of the line of its last.
fn span(key: Key, doc: &str) -> Option<(usize, usize)> {
    let (begin, end) = markers(key);
    let start = doc.find(&begin)?;
    let end = start + doc[start..].find(&end)? + end.len();
    let end = match doc[end..].find('\n') {
        Some(nl) => end + nl + 1,
        None => doc.len(),
    };
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::wrk::Report;

    fn section(key: impl Into<Key>, text: &str) -> String {
        let (begin, end) = markers(key.into());
        format!("{begin}\n{text}\n{end}\n")
    }

    #[test]
    fn the_markers_of_http_server_stay_those_of_benchmarks_md() {
        let (begin, end) = markers(Example::HttpServer.into());
        assert_eq!(
            begin,
            "<!-- cargo xtask load: begin (rewritten by `cargo xtask load --write`) -->"
        );
        assert_eq!(end, "<!-- cargo xtask load: end -->");
        let (begin, _) = markers(Example::AsyncHttpServer.into());
        assert!(begin.starts_with("<!-- cargo xtask load --example async_http_server: begin"));
    }

    #[test]
    fn replaces_the_section_in_place_or_appends_it() {
        let sync = Key::from(Example::HttpServer);
        let doc = format!("# B\n\nfigures\n\n{}\n## After\n", section(sync, "old"));
        let new = splice(sync, &doc, &section(sync, "new"));
        assert_eq!(
            new,
            format!("# B\n\nfigures\n\n{}\n## After\n", section(sync, "new"))
        );
        let appended = splice(sync, "# B\n\nfigures\n", &section(sync, "new"));
        assert_eq!(
            appended,
            format!("# B\n\nfigures\n\n{}", section(sync, "new"))
        );
    }

    #[test]
    fn each_example_writes_its_own_section() {
        let (sync, tokio) = (
            Key::from(Example::HttpServer),
            Key::from(Example::AsyncHttpServer),
        );
        let doc = format!("# B\n\n{}", section(sync, "threads"));
        let both = splice(tokio, &doc, &section(tokio, "hyper"));
        let want = format!(
            "# B\n\n{}\n{}",
            section(sync, "threads"),
            section(tokio, "hyper")
        );
        assert_eq!(both, want);
        let again = splice(tokio, &both, &section(tokio, "hyper 2"));
        assert!(
            again.contains("threads") && again.contains("hyper 2") && !again.contains("hyper\n")
        );
        let sync_again = splice(sync, &again, &section(sync, "threads 2"));
        assert!(sync_again.contains("threads 2") && sync_again.contains("hyper 2"));
    }

    #[test]
    fn a_rewrite_of_the_rest_keeps_the_sections() {
        let (sync, tokio) = (
            Key::from(Example::HttpServer),
            Key::from(Example::AsyncHttpServer),
        );
        let old = format!("# B\n\nold figures\n\n{}", section(sync, "load"));
        assert_eq!(
            keep("# B\n\nnew figures\n", &old),
            format!("# B\n\nnew figures\n\n{}", section(sync, "load"))
        );
        let old = format!("{old}\n{}", section(tokio, "async load"));
        assert_eq!(
            keep("# B\n", &old),
            format!(
                "# B\n\n{}\n{}",
                section(sync, "load"),
                section(tokio, "async load")
            )
        );
        assert_eq!(keep("# B\n", "# B\nno section\n"), "# B\n");
    }

    #[test]
    fn renders_between_the_markers() {
        let header = Header {
            date: "2026-12-01 05:22 UTC".to_owned(),
            machine: "2 cores".to_owned(),
            revision: "abc1234".to_owned(),
            elapsed_s: 200,
        };
        let phases = [Phase::new("baseline", "20 s".to_owned(), Report::default())];
        for key in Key::all() {
            let (begin, end) = markers(key);
            let text = render(key, &header, &phases);
            assert!(text.starts_with(&begin) && text.ends_with(&format!("{end}\n")));
            assert!(text.contains("- Revision: abc1234\n"));
            assert!(text.contains("| baseline | 20 s |"));
            assert!(text.contains(&format!("`examples/{}.rs`", key.example.name())));
            let command = format!("- Command: `cargo xtask load{} --write`", key.flags());
            assert!(text.contains(&command), "{text}");
            assert_eq!(span(key, &text), Some((0, text.len())));
            assert_eq!(text.contains("Binary upgrade"), key.upgrade);
        }
    }

    #[test]
    fn the_upgrade_sections_are_kept_apart_from_the_examples() {
        let sync = Key::from(Example::HttpServer);
        let upgrade = Key {
            example: Example::HttpServer,
            upgrade: true,
        };
        let (begin, end) = markers(upgrade);
        assert_eq!(
            begin,
            "<!-- cargo xtask load --phase upgrade: begin (rewritten by \
             `cargo xtask load --phase upgrade --write`) -->"
        );
        assert_eq!(end, "<!-- cargo xtask load --phase upgrade: end -->");
        let doc = format!("# B\n\n{}", section(sync, "load"));
        let both = splice(upgrade, &doc, &section(upgrade, "upgrades"));
        let again = splice(sync, &both, &section(sync, "load 2"));
        assert!(
            again.contains("upgrades") && again.contains("load 2") && !again.contains("load\n")
        );
        assert_eq!(keep("# B\n", &again), again);
        assert_eq!(upgrade.title(), "http_server upgrade");
    }
}
