//! The README's complete service (`examples/readme_service.rs`, built for this
//! package as the binary `readme_service`) tested end to end the way a user tests
//! their own program: with the public API of the harness only, and the program
//! cargo built (`CARGO_BIN_EXE_readme_service`). The last test checks that the
//! example still holds the README's code, line for line.

use std::process::Command;
use std::time::Duration;

use cotyledon_testing::{Scenario, Signal};

/// Deadline for what should happen at once; generous for a loaded machine.
const SOON: Duration = Duration::from_secs(10);

/// Starts the README's service, its two workers polling.
fn start() -> Scenario {
    let mut app = Scenario::command(Command::new(env!("CARGO_BIN_EXE_readme_service")))
        // Whether the program's logger writes to stdout or stderr, and lets the
        // DEBUG lines through when asked the way cotyledon's logger is asked.
        .merge_stderr()
        .env("COTYLEDON_LOG", "debug")
        .spawn();
    // A worker logs its first line one second into run().
    app.wait_for_line("INFO:readme_service:worker 0 polls its queue", SOON);
    app.wait_for_line("INFO:readme_service:worker 1 polls its queue", SOON);
    app
}

#[test]
fn sigterm_drains_both_workers_and_the_manager_exits_zero() {
    let mut app = start();
    // The workers, found two ways: the manager's children in /proc (whatever the
    // logger prints), and the "Run service" DEBUG lines (this logger prints them).
    let from_proc = app.wait_for_workers(2, SOON);
    let mut from_log = vec![
        app.wait_for_run("consumer", 0, SOON),
        app.wait_for_run("consumer", 1, SOON),
    ];
    from_log.sort_unstable();
    assert_eq!(from_proc, from_log);

    app.signal(Signal::SIGTERM);
    app.wait_for_line("worker 0 drains and leaves", SOON);
    app.wait_for_line("worker 1 drains and leaves", SOON);
    // Each worker exits with what terminate() returned (the manager reports it).
    for pid in from_proc {
        app.wait_for_line(&format!("Child {pid} exited with status 0"), SOON);
    }
    // The manager's exit status 0, and no process of the group is left.
    app.expect_exit(0);
    assert!(
        app.lines()
            .iter()
            .any(|l| l == "DEBUG:cotyledon::manager:Shutdown finish"),
        "{:#?}",
        app.lines()
    );
}

#[test]
fn a_killed_worker_is_replaced_under_its_id() {
    let mut app = start();
    let old = app.wait_for_run("consumer", 1, SOON);
    app.kill(old, Signal::SIGKILL);
    app.wait_for_line(&format!("Child {old} killed by signal SIGKILL"), SOON);
    // The worker's lines came before the manager's line about its death.
    app.skip_pending_lines();
    let new = app.wait_for_run("consumer", 1, SOON);
    assert_ne!(new, old);
    let workers = app.wait_for_workers_where(|w| w.len() == 2 && w.contains(&new), SOON);
    assert!(!workers.contains(&old), "{workers:?}");
    // The replacement polls as worker 1.
    app.wait_for_line("worker 1 polls its queue", SOON);
    app.end_with(Signal::SIGTERM, 0);
}

#[test]
fn sigint_exits_one_at_once_and_leaves_nothing() {
    let mut app = start();
    app.signal(Signal::SIGINT);
    app.wait_for_line("Caught SIGINT signal, instantaneous exiting", SOON);
    app.expect_exit(1);
    // No worker drained: SIGINT does not call terminate().
    assert!(!app.lines().iter().any(|l| l.contains("drains and leaves")));
}

/// The README's "A complete service" block: the lines of the first ```rust
/// fence after the section's heading.
fn readme_block(readme: &str) -> Vec<&str> {
    let section = readme
        .split_once("\n## A complete service")
        .expect("README.md has a section \"A complete service\"")
        .1;
    let fenced = section
        .split_once("\n```rust")
        .expect("the section has a ```rust block")
        .1;
    let code = fenced.split_once('\n').map_or("", |(_, rest)| rest);
    let end = code.find("\n```").expect("the block is closed");
    code[..end].lines().collect()
}

/// The non-blank lines of `needle` missing from `haystack` in this order: each
/// is looked for after the line where the previous one was found.
fn missing_in_order<'a>(needle: &[&'a str], haystack: &str) -> Vec<&'a str> {
    let hay: Vec<&str> = haystack.lines().map(str::trim_end).collect();
    let mut from = 0;
    let mut missing = Vec::new();
    for line in needle.iter().filter(|l| !l.trim().is_empty()) {
        match hay[from..].iter().position(|h| *h == line.trim_end()) {
            Some(i) => from += i + 1,
            None => missing.push(*line),
        }
    }
    missing
}

#[test]
fn the_example_holds_the_readme_code_line_for_line() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let example = std::fs::read_to_string(format!("{root}/examples/readme_service.rs"))
        .expect("examples/readme_service.rs");
    let block = readme_block(&readme);
    assert!(block.len() > 10, "{block:#?}");
    let missing = missing_in_order(&block, &example);
    assert!(
        missing.is_empty(),
        "examples/readme_service.rs lacks these lines of the README's \"A complete \
         service\" (or has them in another order); copy the README's code: {missing:#?}"
    );
}

#[test]
fn the_readme_check_finds_reordered_and_missing_lines() {
    let readme =
        "intro\n## A complete service\ntext\n```rust,no_run\nfn a() {}\n\nfn b() {}\n```\nafter\n";
    assert_eq!(readme_block(readme), ["fn a() {}", "", "fn b() {}"]);
    let block = readme_block(readme);
    assert!(missing_in_order(&block, "//! doc\nfn a() {}\n\nextra();\nfn b() {}\n").is_empty());
    assert_eq!(
        missing_in_order(&block, "fn b() {}\n\nfn a() {}\n"),
        ["fn b() {}"]
    );
    assert_eq!(missing_in_order(&block, "fn a() {}\n\n"), ["fn b() {}"]);
}
