//! The harness itself, on small `sh` programs: the command's settings reach the
//! program, stderr is read as lines on request, output that is not UTF-8, waits
//! that fail, pending lines set aside, children from /proc, and signals to the
//! whole group.

use std::process::Command;
use std::time::Duration;

use cotyledon_testing::{Scenario, Signal};

/// Deadline for what should happen at once; generous for a loaded machine.
const SOON: Duration = Duration::from_secs(10);

/// How long to wait for a line that must not come, once the program has written
/// everything it will write (it then sleeps).
const ABSENT: Duration = Duration::from_millis(300);

fn sh(script: &str) -> Scenario {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    Scenario::command(cmd).spawn()
}

#[test]
fn a_command_s_arguments_environment_and_directory_reach_the_program() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo \"$0 $1 $K $(pwd)\"", "zero"])
        .env("K", "from-command");
    let mut s = Scenario::command(cmd).arg("one").current_dir("/").spawn();
    s.wait_for_line("zero one from-command /", SOON);
    s.expect_exit(0);

    let mut s = Scenario::program("sh")
        .args(["-c", "echo \"[$K] [$W] [${HOME-unset}]\""])
        .env("K", "from-builder")
        .env_remove("HOME")
        .wrapped_in(&["env", "W=from-wrapper"])
        .spawn();
    s.wait_for_line("[from-builder] [from-wrapper] [unset]", SOON);
    s.expect_exit(0);
}

#[test]
fn stderr_is_kept_apart_unless_merged() {
    let script = "echo out; echo err >&2; exit 3";
    let mut s = sh(script);
    s.wait_for_line("out", SOON);
    let output = s.wait_exit(SOON);
    assert_eq!(Scenario::code_of(output.status), 3);
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");
    assert!(!s.lines().iter().any(|l| l == "err"), "{:?}", s.lines());

    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    let mut s = Scenario::command(cmd).merge_stderr().spawn();
    s.wait_for_line("err", SOON);
    s.wait_for_line("out", SOON);
    s.expect_exit(3);
    assert!(s.stderr().is_empty());
}

#[test]
fn output_that_is_not_utf8_is_read_lossily_and_reading_goes_on() {
    let mut s = sh("printf 'caf\\351\\n'; echo after");
    assert_eq!(s.wait_for_line("caf", SOON), "caf\u{fffd}");
    s.wait_for_line("after", SOON);
    s.expect_exit(0);
}

#[test]
fn a_wait_reports_the_end_of_the_output_and_its_deadline() {
    let mut s = sh("echo only; exec sleep 30");
    s.wait_for_line("only", SOON);
    assert_eq!(
        s.wait_for(|l| l == "never", ABSENT),
        Err(format!("timed out after {ABSENT:?}"))
    );
    s.signal(Signal::SIGKILL);
    let output = s.wait_exit(SOON);
    assert_eq!(Scenario::code_of(output.status), 128 + 9);
    assert_eq!(
        s.wait_for(|l| l == "never", SOON),
        Err("output closed".to_owned())
    );
    s.assert_no_process_left(SOON);
}

#[test]
fn pending_lines_can_be_set_aside() {
    let mut s = sh("echo tick; echo tick; echo mark; exec sleep 30");
    s.wait_for_line("mark", SOON);
    // Both ticks are pending: a wait would match one at once.
    s.skip_pending_lines();
    assert!(s.wait_for(|l| l == "tick", ABSENT).is_err());
    assert_eq!(s.lines(), ["tick", "tick", "mark"]);
    s.signal(Signal::SIGTERM);
    let output = s.wait_exit(SOON);
    assert_eq!(Scenario::code_of(output.status), 128 + 15);
    s.assert_no_process_left(SOON);
}

#[test]
fn children_are_found_in_proc_and_a_group_signal_reaches_them_all() {
    let mut s = sh("sleep 30 & sleep 30 & echo started; wait");
    s.wait_for_line("started", SOON);
    let children = s.wait_for_workers(2, SOON);
    assert!(!children.contains(&s.pid()));
    // SIGTERM to the shell alone would leave both sleeps running; to the group,
    // it ends every process.
    s.signal_group(Signal::SIGTERM);
    let output = s.wait_exit(SOON);
    assert_eq!(Scenario::code_of(output.status), 128 + 15);
    s.assert_no_process_left(SOON);
}

#[test]
#[should_panic(expected = "processes left in group")]
fn a_process_left_in_the_group_fails_the_check() {
    let mut s = sh("sleep 30 & echo started; exit 0");
    s.wait_for_line("started", SOON);
    s.wait_exit(SOON);
    // The sleep outlives the shell; the check fails (and kills the group).
    s.assert_no_process_left(Duration::from_millis(200));
}
