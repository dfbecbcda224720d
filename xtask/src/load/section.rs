//! The `cargo xtask load` section of BENCHMARKS.md: written by `load --write`
//! between two markers, and kept by `bench --write` when it rewrites the rest.

use std::fmt::Write as _;

use super::report::{self, Phase};

/// The first line of the section.
const BEGIN: &str = "<!-- cargo xtask load: begin (rewritten by `cargo xtask load --write`) -->";
/// Its last line.
const END: &str = "<!-- cargo xtask load: end -->";

/// Where and how the figures were taken.
pub(crate) struct Header {
    pub(crate) date: String,
    pub(crate) machine: String,
    pub(crate) revision: String,
    pub(crate) elapsed_s: u64,
}

/// The whole section, markers included.
pub(crate) fn render(header: &Header, phases: &[Phase]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}");
    let _ = write!(
        out,
        "## Pre-fork HTTP server under load (`cargo xtask load`)

`examples/http_server.rs` with 4 workers (one listening socket bound by the master;
each worker drains on SIGTERM, see its module doc) under
`wrk --latency -t2 -c32` on loopback, one wrk run per phase (the overhead
comparison alternates several), each with something done to the master or its
workers meanwhile. The task checks claims after each run and fails if one does
not hold.

- Date: {}
- Machine: {} (wrk and the server share the 2 cores)
- Command: `cargo xtask load --write`
- Revision: {}
- Duration of the run: {} s

wrk keeps one request in flight on each of its 32 keep-alive connections. A
request slower than its timeout (2 s) is a `timeout` socket error and is left out
of the latencies; its percentiles are corrected for coordinated omission (a stall
of T counts as the requests that would have been sent meanwhile), so a stall
shows in p99, not only in max.

",
        header.date, header.machine, header.revision, header.elapsed_s
    );
    out.push_str(&report::table(phases));
    out.push_str(
        "
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

",
    );
    out.push_str(&report::details(phases));
    let _ = writeln!(out, "{END}");
    out
}

/// `doc` with its load section replaced by `section`, or `section` appended.
pub(crate) fn splice(doc: &str, section: &str) -> String {
    match span(doc) {
        Some((start, end)) => format!("{}{section}{}", &doc[..start], &doc[end..]),
        None => format!("{}\n\n{section}", doc.trim_end()),
    }
}

/// `new_doc` (a rewrite of the rest of BENCHMARKS.md) with the load section of
/// `old_doc` kept at its end, if it had one.
pub(crate) fn keep(new_doc: &str, old_doc: &str) -> String {
    match span(old_doc) {
        Some((start, end)) => splice(new_doc, &old_doc[start..end]),
        None => new_doc.to_owned(),
    }
}

/// Byte range of the section in `doc`, from its first marker to the end of the
/// line of its last.
fn span(doc: &str) -> Option<(usize, usize)> {
    let start = doc.find(BEGIN)?;
    let end = start + doc[start..].find(END)? + END.len();
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

    fn section(text: &str) -> String {
        format!("{BEGIN}\n{text}\n{END}\n")
    }

    #[test]
    fn replaces_the_section_in_place_or_appends_it() {
        let doc = format!("# B\n\nfigures\n\n{}\n## After\n", section("old"));
        let new = splice(&doc, &section("new"));
        assert_eq!(
            new,
            format!("# B\n\nfigures\n\n{}\n## After\n", section("new"))
        );
        let appended = splice("# B\n\nfigures\n", &section("new"));
        assert_eq!(appended, format!("# B\n\nfigures\n\n{}", section("new")));
    }

    #[test]
    fn a_rewrite_of_the_rest_keeps_the_section() {
        let old = format!("# B\n\nold figures\n\n{}", section("load"));
        assert_eq!(
            keep("# B\n\nnew figures\n", &old),
            format!("# B\n\nnew figures\n\n{}", section("load"))
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
        let text = render(&header, &phases);
        assert!(text.starts_with(BEGIN) && text.ends_with(&format!("{END}\n")));
        assert!(text.contains("- Revision: abc1234\n"));
        assert!(text.contains("| baseline | 20 s |"));
        assert_eq!(span(&text), Some((0, text.len())));
    }
}
