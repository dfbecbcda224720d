//! No configuration file can block or bloat the master (issue 15 item 7): a FIFO,
//! a symlink to `/dev/zero` and a file above the 1 MiB limit are each refused
//! with an ERROR at SIGHUP, the previous configuration stays, and the master
//! goes on serving its workers and signals.

use std::time::Duration;

use cotyledon_testing::Signal;

use super::{File, HELLO, expect_unchanged};
use crate::SOON;

/// The master's resident memory, in kB, from `/proc/PID/status`.
fn vm_rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_fifo_in_place_of_the_file_never_blocks_the_master() {
    let file = File::new("fifo");
    let (mut s, pids) = file.start_hello();
    std::fs::remove_file(&file.0).expect("remove");
    nix::unistd::mkfifo(&file.0, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    // Nobody ever writes to it: opening it for reading would block for ever.
    s.signal(Signal::SIGHUP);
    let line = s.wait_for_line("Could not reload the configuration from", SOON);
    assert!(
        line.ends_with("keeping the previous one: not a regular file but a FIFO"),
        "{line}"
    );
    // The master is free: a killed worker is respawned at once.
    s.kill(pids[0], Signal::SIGKILL);
    s.wait_for_line(
        &format!("Child {} killed by signal SIGKILL", pids[0]),
        Duration::from_secs(3),
    );
    s.wait_for_line("conf 0 greeting=hello", Duration::from_secs(3));
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_symlink_to_dev_zero_is_refused_and_the_master_stays_small() {
    let file = File::new("zero");
    let (mut s, pids) = file.start_hello();
    let before = vm_rss_kb(s.pid());
    std::fs::remove_file(&file.0).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", &file.0).expect("symlink");
    s.signal(Signal::SIGHUP);
    let line = s.wait_for_line("Could not reload the configuration from", SOON);
    assert!(
        line.ends_with("keeping the previous one: not a regular file but a character device"),
        "{line}"
    );
    let after = vm_rss_kb(s.pid());
    assert!(
        after < before + 4096,
        "the master grew from {before} kB to {after} kB"
    );
    expect_unchanged(&mut s, pids, "hello");
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_file_above_one_mib_is_refused_with_the_limit() {
    let file = File::new("large");
    let (mut s, pids) = file.start_hello();
    // Valid TOML (comments after the values), 2 MiB long.
    let comment = format!("#{}\n", "x".repeat(1023));
    let text = format!(
        "{}{}",
        HELLO.replace("hello", "bonjour"),
        comment.repeat(2048)
    );
    file.write(&text);
    s.signal(Signal::SIGHUP);
    let line = s.wait_for_line("Could not reload the configuration from", SOON);
    assert!(
        line.ends_with("keeping the previous one: larger than 1048576 bytes"),
        "{line}"
    );
    expect_unchanged(&mut s, pids, "hello");
    s.end_with(Signal::SIGTERM, 0);
}
