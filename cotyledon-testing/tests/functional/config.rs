//! Configuration glue (feature `config`): the master re-reads a TOML file on SIGHUP
//! before the reload hooks; worker counts and the graceful timeout follow the
//! file; workers forked after a reload see the new values. A refused file changes
//! nothing (`refused`), and no file can block or bloat the master (`files`).

mod files;
mod refused;

use std::path::PathBuf;
use std::time::Duration;

use cotyledon_testing::{Scenario, Signal};

use crate::{SOON, bin};

/// A config file in a temp directory of its own, with `workers`, `graceful_ms`,
/// `greeting` and optional extra lines.
struct File(PathBuf);

impl File {
    fn new(tag: &str) -> File {
        let dir =
            std::env::temp_dir().join(format!("cotyledon-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        File(dir.join("app.toml"))
    }

    fn write(&self, text: &str) {
        // A new file in place of whatever is at the path (a FIFO, a symlink).
        let _ = std::fs::remove_file(&self.0);
        std::fs::write(&self.0, text).expect("write the config file");
    }

    fn start(&self) -> Scenario {
        Scenario::builder(bin(), "config_app")
            .env("SCENARIO_CONFIG", &self.0)
            .spawn()
    }

    /// Starts with [`HELLO`]; returns the scenario and the pids of conf(0) and
    /// conf(1), once both have logged their greeting.
    fn start_hello(&self) -> (Scenario, [i32; 2]) {
        self.write(HELLO);
        let mut s = self.start();
        let pids = [
            s.wait_for_run("conf", 0, SOON),
            s.wait_for_run("conf", 1, SOON),
        ];
        s.wait_for_line("conf 0 greeting=hello", SOON);
        s.wait_for_line("conf 1 greeting=hello", SOON);
        (s, pids)
    }
}

/// After a refused reload: SIGKILL conf(1) and wait for its replacement's
/// greeting, which must be `greeting` (the value a new fork sees). Once that
/// line is in, the master has long served the SIGHUP; checks that conf(0) was
/// not touched by it (same pid, alive, no SIGTERM line) and that nothing was
/// applied.
fn expect_unchanged(s: &mut Scenario, pids: [i32; 2], greeting: &str) {
    s.kill(pids[1], Signal::SIGKILL);
    s.wait_for_line(&format!("Child {} killed by signal SIGKILL", pids[1]), SOON);
    s.wait_for_line(&format!("conf 1 greeting={greeting}"), SOON);
    assert!(
        cotyledon_testing::is_alive(pids[0]),
        "conf(0) was restarted"
    );
    let lines = s.lines();
    for needle in [
        "Caught SIGTERM signal, graceful exiting of service conf(0)",
        "Configuration reloaded from",
    ] {
        assert!(
            !lines.iter().any(|l| l.contains(needle)),
            "{needle:?} in {lines:#?}"
        );
    }
    let applied = lines
        .iter()
        .filter(|l| l.contains("config applied"))
        .count();
    assert_eq!(applied, 1, "applied at start only: {lines:#?}");
}

impl Drop for File {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

const HELLO: &str = "workers = 2\ngraceful_ms = 60000\ngreeting = \"hello\"\n";

#[test]
fn a_changed_file_reaches_the_workers_forked_after_the_sighup() {
    let file = File::new("change");
    file.write(HELLO);
    let mut s = file.start();
    s.wait_for_line("config applied workers=2 graceful_ms=60000", SOON);
    s.wait_for_line("conf 0 greeting=hello", SOON);
    s.wait_for_line("conf 1 greeting=hello", SOON);
    file.write(&HELLO.replace("hello", "bonjour"));
    s.signal(Signal::SIGHUP);
    s.wait_for_line("Configuration reloaded from", SOON);
    // The default reload() restarts each worker: the new ones see the new file.
    s.wait_for_line("conf 0 greeting=bonjour", SOON);
    s.wait_for_line("conf 1 greeting=bonjour", SOON);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn worker_counts_follow_the_file() {
    let file = File::new("scale");
    file.write(HELLO);
    let mut s = file.start();
    s.wait_for_run("conf", 1, SOON);
    file.write(&HELLO.replace("workers = 2", "workers = 4"));
    s.signal(Signal::SIGHUP);
    s.wait_for_line("config applied workers=4", SOON);
    s.wait_for_run("conf", 2, SOON);
    s.wait_for_run("conf", 3, SOON);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn the_graceful_timeout_follows_the_file() {
    let file = File::new("timeout");
    file.write(HELLO);
    let mut s = file.start();
    s.wait_for_line("conf 1 greeting=hello", SOON);
    // From now on: a 500 ms master timeout, and workers whose terminate() hangs
    // (their own timeout is 0: only the master's can end the shutdown).
    let next = HELLO.replace("60000", "500").replace("hello", "bye");
    file.write(&format!("{next}stuck_terminate = true\n"));
    s.signal(Signal::SIGHUP);
    s.wait_for_line("config applied workers=2 graceful_ms=500", SOON);
    s.wait_for_line("conf 0 greeting=bye", SOON);
    s.wait_for_line("conf 1 greeting=bye", SOON);
    // Not waiting for "terminate hangs": a worker that gets no CPU within the
    // 500 ms has the master's SIGINT first, and never logs it.
    s.signal(Signal::SIGTERM);
    s.wait_for_line(
        "Graceful shutdown timeout exceeded, instantaneous exiting of master process",
        Duration::from_secs(20),
    );
    s.expect_exit(1);
}
