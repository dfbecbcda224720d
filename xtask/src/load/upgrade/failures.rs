//! The failed upgrades of `cargo xtask load --phase upgrade`, each under wrk
//! against a master of its own (build a, `--upgrade-timeout-ms 2000`): the
//! deploy path holds a file that is not executable; nothing; a program that
//! exits at once (a shell script, `exit 3`); build b told to boot for a minute
//! (a script that execs it with `--boot-delay-ms 60000`: never ready within
//! the upgrade timeout); the same, SIGKILLed while its workers boot. After
//! each, the old master must have logged the ERROR saying why and still serve
//! with the same 4 workers; the process group must hold nothing else (nothing
//! of the attempt left); and the listening socket must be in the mode the old
//! workers set (non-blocking in both examples): its file status flags are
//! shared by every process holding it, so a new master that changed them would
//! change them under the old one. Then SIGTERM must stop the old master
//! cleanly; but after the last case, build b is installed and a SIGUSR2 must
//! upgrade: a failed attempt blocks no later one.

use std::time::{Duration, Instant};

use super::generation::{self, Generation, pid_of, version_of, wait_group};
use super::load::Load;
use super::{Started, Upgrades, VERSIONS, WITHIN, judge};
use crate::bench::procfs::children;
use crate::load::procfs::{O_NONBLOCK, listener_flags};
use crate::load::report::Phase;
use crate::load::server::WORKERS;

/// The failure server's upgrade timeout.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What the deploy path holds when SIGUSR2 comes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Case {
    NotExecutable,
    Missing,
    ExitsAtOnce,
    NeverReady,
    KilledMidBoot,
}

impl Case {
    const ALL: [Case; 5] = [
        Case::NotExecutable,
        Case::Missing,
        Case::ExitsAtOnce,
        Case::NeverReady,
        Case::KilledMidBoot,
    ];

    /// Its row in the table.
    fn name(self) -> &'static str {
        match self {
            Case::NotExecutable => "failed upgrade: binary not executable",
            Case::Missing => "failed upgrade: binary missing",
            Case::ExitsAtOnce => "failed upgrade: new master exits at once",
            Case::NeverReady => "failed upgrade: never ready in time",
            Case::KilledMidBoot => "failed upgrade: new master SIGKILLed mid-boot",
        }
    }

    /// What is at the deploy path, for the table.
    fn load(self) -> String {
        match self {
            Case::NotExecutable => "SIGUSR2; build b installed with mode 644".to_owned(),
            Case::Missing => "SIGUSR2; nothing at the deploy path".to_owned(),
            Case::ExitsAtOnce => "SIGUSR2; `#!/bin/sh` + `exit 3` installed".to_owned(),
            Case::NeverReady | Case::KilledMidBoot => format!(
                "SIGUSR2; build b with 60 s boots, upgrade timeout {}",
                super::latency(TIMEOUT)
            ),
        }
    }

    /// A part of the reason its ERROR line must give (`current`: the deploy path).
    fn reason(self, current: &str) -> String {
        match self {
            Case::NotExecutable => format!("{current} is not executable"),
            Case::Missing => format!("{current}: No such file or directory"),
            Case::ExitsAtOnce => "exited with status 3 before it was ready".to_owned(),
            Case::NeverReady => format!("was not ready within {TIMEOUT:?}"),
            Case::KilledMidBoot => "was killed by signal SIGKILL before it was ready".to_owned(),
        }
    }
}

impl Upgrades {
    /// One phase per case, each with a master of its own (a case must not
    /// inherit what the previous one did), then the upgrade that must succeed
    /// after the last one, on its master.
    pub(super) fn failures(&self) -> Result<Vec<Phase>, String> {
        let extra = [
            "--upgrade-timeout-ms".to_owned(),
            TIMEOUT.as_millis().to_string(),
        ];
        let mut phases = Vec::new();
        let mut last = None;
        for (i, case) in Case::ALL.into_iter().enumerate() {
            let name = format!("upgrade-failed-{}", i + 1);
            let s = self.start(&name, &extra, Duration::ZERO)?;
            let mut phase = self.case(&s, case)?;
            if i + 1 < Case::ALL.len() {
                let master = s.first.master;
                self.stop(s, master, &mut phase)?;
            } else {
                last = Some(s);
            }
            phases.push(phase);
        }
        let s = last.ok_or("no failure case")?;
        let run = Load::start(&self.url(), 3600)?;
        std::thread::sleep(self.plan.steady);
        let series = self.series(&s, 1, WITHIN, |_| None);
        std::thread::sleep(self.plan.steady);
        run.interrupt()?;
        let load = "SIGUSR2; build b installed".to_owned();
        let mut phase = run.finish("upgrade after a failed attempt", load)?;
        judge(&mut phase, &series, 1);
        self.stop(s, series.last(), &mut phase)?;
        phases.push(phase);
        Ok(phases)
    }

    /// SIGUSR2 under wrk with `case` at the deploy path.
    fn case(&self, s: &Started, case: Case) -> Result<Phase, String> {
        let old = &s.first;
        let b = self.deploy.build_of(VERSIONS[1]);
        match case {
            Case::NotExecutable => self.deploy.install_not_executable(VERSIONS[1])?,
            Case::Missing => self.deploy.remove()?,
            Case::ExitsAtOnce => self.deploy.install_script("exit 3")?,
            Case::NeverReady | Case::KilledMidBoot => {
                let exec = format!("exec '{}' \"$@\" --boot-delay-ms 60000", b.display());
                self.deploy.install_script(&exec)?;
            }
        }
        let run = Load::start(&self.url(), 3600)?;
        std::thread::sleep(self.plan.steady);
        let server = &s.server;
        let blocking = || {
            let flags = listener_flags(old.workers[0], self.port);
            flags.map(|f| f & O_NONBLOCK == 0)
        };
        let was_blocking = blocking();
        let mark = server.mark();
        server.signal("USR2", old.master)?;
        let killed = match case {
            Case::KilledMidBoot => Some(self.kill_mid_boot(s, mark)),
            _ => None,
        };
        let said = server.wait_lines(mark, 1, TIMEOUT + WITHIN, |l| {
            l.contains("Upgrade failed: ")
        });
        let lines = server.lines_since(mark);
        let error = lines.iter().find(|l| l.contains("Upgrade failed: "));
        let new = lines.iter().find_map(|l| started(l, old.master));
        let left = wait_group(server.pid, &old.pids(), WITHIN);
        let is_blocking = blocking();
        std::thread::sleep(self.plan.steady);
        let answer = generation::ask(self.port);
        run.interrupt()?;

        let mut phase = run.finish(case.name(), case.load())?;
        let current = self.deploy.current.display().to_string();
        let reason = case.reason(&current);
        let error_text = error.map_or(format!("{said:?}"), |l| format!("`{l}`"));
        phase.check(
            error.is_some_and(|l| l.starts_with("ERROR ") && l.contains(&reason)),
            format!("an ERROR saying \"{reason}\": {error_text}"),
        );
        if let Some(killed) = killed {
            let killed = killed.map_err(|e| format!("not killed: {e}"));
            phase.check(
                killed.is_ok(),
                format!(
                    "SIGKILLed before it was ready: {}",
                    killed.unwrap_or_else(|e| e)
                ),
            );
        }
        let mode = |b: Option<bool>| match b {
            Some(true) => "blocking",
            Some(false) => "non-blocking",
            None => "unknown",
        };
        phase.check(
            was_blocking.is_some() && was_blocking == is_blocking,
            format!(
                "the listening socket's mode is as the old workers set it: {} before, {} \
                 after (O_NONBLOCK belongs to the socket, shared by every process that \
                 holds it)",
                mode(was_blocking),
                mode(is_blocking)
            ),
        );
        let serving = serves(old, &answer);
        phase.check(
            serving.is_ok(),
            format!(
                "the old master [{}] still serves with the same {WORKERS} workers ({})",
                old.master,
                serving.unwrap_or_else(|e| e)
            ),
        );
        let attempt = match new {
            Some(pid) => format!("new master [{pid}] and its workers"),
            None => "no new master was started".to_owned(),
        };
        phase.check(
            left.is_ok(),
            format!(
                "nothing of the attempt is left ({attempt}): the process group holds the \
                 old master and its workers only{}",
                left.err().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        );
        Ok(phase)
    }

    /// Waits for the new master to have forked every worker, then SIGKILLs it:
    /// which master, and how many workers it had forked.
    fn kill_mid_boot(&self, s: &Started, mark: usize) -> Result<String, String> {
        let server = &s.server;
        let master = s.first.master;
        server.wait_lines(mark, 1, WITHIN, |l| started(l, master).is_some())?;
        let lines = server.lines_since(mark);
        let new = lines
            .iter()
            .find_map(|l| started(l, master))
            .ok_or("no new master")?;
        // Its workers forked, preferably; but killed well within the upgrade
        // timeout in any case (a loaded machine may fork slowly).
        let deadline = Instant::now() + TIMEOUT / 2;
        while children(new).len() < WORKERS && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let forked = children(new).len();
        server.signal("KILL", new)?;
        Ok(format!(
            "new master [{new}] with {forked} of {WORKERS} workers forked"
        ))
    }
}

/// The new master's pid in `Upgrade: executing PATH as new master [PID] ...`
/// logged by `old`.
fn started(line: &str, old: u32) -> Option<u32> {
    let rest = line.split_once(&format!("[{old}] Upgrade: executing "))?.1;
    let pid = rest.split_once(" as new master [")?.1.split_once(']')?.0;
    pid.parse().ok()
}

/// Whether `old` still serves: its workers are the same, and one of them
/// answered with build a.
fn serves(old: &Generation, answer: &Result<String, String>) -> Result<String, String> {
    let mut now = children(old.master);
    now.sort_unstable();
    let mut before = old.workers.clone();
    before.sort_unstable();
    if now != before {
        return Err(format!("workers {before:?} then {now:?}"));
    }
    let answer = answer.as_ref().map_err(|e| format!("no answer: {e}"))?;
    let by_old = pid_of(answer).is_some_and(|p| before.contains(&p));
    if by_old && version_of(answer) == Some(VERSIONS[0]) {
        Ok(format!("answered {answer:?}"))
    } else {
        Err(format!("answered {answer:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_new_master_of_an_attempt() {
        let line = "INFO [10] Upgrade: executing /t/current as new master [42] with 1 listeners";
        assert_eq!(started(line, 10), Some(42));
        assert_eq!(started(line, 42), None);
        assert_eq!(
            Case::NeverReady.reason("/t/current"),
            "was not ready within 2s"
        );
        let old = Generation {
            master: std::process::id(),
            workers: Vec::new(),
        };
        let answer = Ok("worker 0 pid 1 version a".to_owned());
        assert!(serves(&old, &answer).is_err());
    }
}
