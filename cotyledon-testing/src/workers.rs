//! Signals to the program under test, its group and its workers, and finding the
//! workers without any log line: the program's live children, from /proc.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::procs::{children, state};
use crate::scenario::Scenario;

/// How often the /proc waits look again (reading output in between).
const POLL: Duration = Duration::from_millis(5);

impl Scenario {
    /// Sends `signal` to the program (a cotyledon manager: SIGTERM for a graceful
    /// shutdown, SIGINT for an instantaneous one, SIGHUP to reload).
    ///
    /// # Panics
    ///
    /// When `kill` fails (the program has been reaped already).
    pub fn signal(&self, signal: Signal) {
        self.kill(self.pid, signal);
    }

    /// Sends `signal` to any process, typically a worker found with
    /// [`workers`](Scenario::workers) or [`wait_for_run`](Scenario::wait_for_run).
    ///
    /// # Panics
    ///
    /// When `kill` fails (no such process).
    pub fn kill(&self, pid: i32, signal: Signal) {
        kill(Pid::from_raw(pid), signal)
            .unwrap_or_else(|e| panic!("kill({pid}, {signal}) failed: {e}"));
    }

    /// Sends `signal` to every process of the group at once, as a terminal does
    /// on Ctrl-C (SIGINT) to its foreground group.
    ///
    /// # Panics
    ///
    /// When `killpg` fails (no process left in the group).
    pub fn signal_group(&self, signal: Signal) {
        killpg(Pid::from_raw(self.pid), signal)
            .unwrap_or_else(|e| panic!("killpg({}, {signal}) failed: {e}", self.pid));
    }

    /// The program's live children, sorted, zombies left out (Linux, from
    /// `/proc/PID/task/*/children`). For a cotyledon manager these are its
    /// workers (plus any process the master itself started, in a hook for
    /// instance). Needs no log line; to tell which worker is which, see
    /// [`wait_for_run`](Scenario::wait_for_run) or [`cmdline`](crate::cmdline)
    /// (a worker's title is `PROG: NAME worker(ID)`).
    pub fn workers(&self) -> Vec<i32> {
        live(children(self.pid), state)
    }

    /// Waits until the program has exactly `count` live children (see
    /// [`workers`](Scenario::workers)); returns them.
    ///
    /// # Panics
    ///
    /// When `timeout` passes first (the group is killed).
    #[track_caller]
    pub fn wait_for_workers(&mut self, count: usize, timeout: Duration) -> Vec<i32> {
        self.wait_for_workers_where(|w| w.len() == count, timeout)
    }

    /// Waits until `pred` holds for the program's live children (see
    /// [`workers`](Scenario::workers)); returns them. Looks every 5 ms, reading
    /// the output in between (those lines stay available to later waits).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use cotyledon_testing::{Scenario, Signal};
    /// # let mut app = Scenario::program("consumer").spawn();
    /// let [old, _] = app.wait_for_workers(2, Duration::from_secs(10))[..] else { panic!() };
    /// app.kill(old, Signal::SIGKILL);
    /// // The manager replaces it: two workers again, the killed one not among them.
    /// let now = app.wait_for_workers_where(|w| w.len() == 2 && !w.contains(&old), Duration::from_secs(10));
    /// ```
    ///
    /// # Panics
    ///
    /// When `timeout` passes first (the group is killed; the message lists the
    /// children last seen).
    #[track_caller]
    pub fn wait_for_workers_where(
        &mut self,
        pred: impl Fn(&[i32]) -> bool,
        timeout: Duration,
    ) -> Vec<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            let workers = self.workers();
            if pred(&workers) {
                return workers;
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "the children of {} were {workers:?} after {timeout:?}, not as expected",
                    self.pid
                ));
            }
            self.read_for(POLL);
        }
    }

    /// Reads the output for `pause` (the lines stay available to later waits).
    fn read_for(&mut self, pause: Duration) {
        let until = Instant::now() + pause;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.record(at, &line);
                    self.unclaimed.push_back(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(left);
                    return;
                }
            }
        }
    }
}

/// The pids whose state `state_of` knows and that are not zombies, sorted, each
/// once (a process with several threads may list a child once per thread).
fn live(mut pids: Vec<i32>, state_of: impl Fn(i32) -> Option<char>) -> Vec<i32> {
    pids.retain(|&pid| matches!(state_of(pid), Some(s) if s != 'Z'));
    pids.sort_unstable();
    pids.dedup();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_children_leave_out_zombies_and_the_vanished() {
        let state_of = |pid| match pid {
            10 => Some('S'),
            11 => Some('Z'),
            12 => Some('R'),
            13 => Some('T'),
            _ => None,
        };
        assert_eq!(live(vec![13, 12, 11, 10, 99, 12], state_of), [10, 12, 13]);
        assert!(live(Vec::new(), state_of).is_empty());
    }

    #[test]
    fn this_process_children_are_seen_then_not_once_reaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        let pid = child.id() as i32;
        let me = std::process::id() as i32;
        assert!(live(children(me), state).contains(&pid));
        child.kill().expect("kill sleep");
        child.wait().expect("reap sleep");
        assert!(!live(children(me), state).contains(&pid));
    }
}
