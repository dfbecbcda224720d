//! [`ScenarioBuilder`]: what to start (any command), and how (its own process
//! group or not, through a wrapper or not, stderr read as lines or kept).

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::procs::become_subreaper;
use crate::scenario::Scenario;

/// How to start the program under test: the command (program, arguments,
/// environment, working directory) and how the harness runs it.
///
/// Made by [`Scenario::command`], [`Scenario::program`] or [`Scenario::builder`];
/// [`spawn`](ScenarioBuilder::spawn) starts it.
///
/// ```no_run
/// use std::time::Duration;
/// use cotyledon_testing::Scenario;
///
/// let mut app = Scenario::program("target/debug/consumer")
///     .arg("--config")
///     .arg("tests/consumer.toml")
///     .env("RUST_LOG", "debug")
///     .merge_stderr() // its logger writes to stderr
///     .spawn();
/// app.wait_for_line("listening", Duration::from_secs(10));
/// ```
#[derive(Debug)]
pub struct ScenarioBuilder {
    cmd: Command,
    label: String,
    own_group: bool,
    wrapper: Vec<OsString>,
    merge_stderr: bool,
}

impl ScenarioBuilder {
    /// A builder for `cmd`, named `label` in failure messages.
    pub(crate) fn new(cmd: Command, label: String) -> Self {
        ScenarioBuilder {
            cmd,
            label,
            own_group: true,
            wrapper: Vec::new(),
            merge_stderr: false,
        }
    }

    /// Adds an argument (it need not be UTF-8).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments (they need not be UTF-8).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable (any bytes but NUL, so values that are not
    /// UTF-8 can be tested). The rest of the environment is the test's.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Removes an environment variable that the program would inherit.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.cmd.env_remove(key);
        self
    }

    /// Sets the working directory of the program.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Reads the program's stderr as lines too, into the one stream that
    /// [`wait_for_line`](Scenario::wait_for_line) and [`lines`](Scenario::lines)
    /// read (for a logger that writes to stderr, as `env_logger` does by
    /// default). Lines of the two pipes interleave in the order the harness
    /// reads them, which need not be the order they were written in. Without
    /// it, stderr is kept as bytes: in [`stderr`](Scenario::stderr), in the
    /// [`Output`](std::process::Output) of [`wait_exit`](Scenario::wait_exit) and
    /// in failure messages.
    pub fn merge_stderr(mut self) -> Self {
        self.merge_stderr = true;
        self
    }

    /// Runs the program through `wrapper` (e.g. `unshare --fork --pid`, or
    /// `systemd-socket-activate -l PORT`), which must exec it or wait for it:
    /// the program and its arguments follow the wrapper's arguments, and the
    /// environment set here is the wrapper's (it passes it on). [`Scenario::pid`]
    /// is then the wrapper's, and [`Scenario::workers`] its children.
    ///
    /// The command is rebuilt from its program, arguments, environment changes
    /// and working directory; other settings of a [`Command`] given to
    /// [`Scenario::command`] (`env_clear`, `pre_exec`, uid…) are not kept.
    pub fn wrapped_in(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(OsString::from).collect();
        self
    }

    /// Starts the program in the test's own process group instead of a new one,
    /// so that a cotyledon manager's own `setsid()` can succeed (it fails for a
    /// group leader). Either way the manager's pid is then its group's id; a
    /// program that does not call `setsid()` stays in the test's group, where
    /// [`assert_no_process_left`](Scenario::assert_no_process_left) cannot work.
    pub fn without_process_group(mut self) -> Self {
        self.own_group = false;
        self
    }

    /// Starts the program, by default as the leader of a new process group, with
    /// stdin from `/dev/null` and its stdout (and stderr) piped to the harness.
    /// This test process becomes a child subreaper (Linux), so that the workers
    /// of a manager that dies are reaped here rather than lingering.
    ///
    /// # Panics
    ///
    /// If the program cannot be started.
    pub fn spawn(self) -> Scenario {
        become_subreaper();
        let ScenarioBuilder {
            cmd,
            label,
            own_group,
            wrapper,
            merge_stderr,
        } = self;
        let mut cmd = match wrapped(&cmd, &wrapper) {
            Some(outer) => outer,
            None => cmd,
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if own_group {
            cmd.process_group(0);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label} ({cmd:?}): {e}"));
        Scenario::start(child, label, merge_stderr)
    }
}

/// What failure messages call a command: the program's file name and its
/// arguments, lossily (`consumer --workers 2`).
pub(crate) fn label_of(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    let mut label = name.to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        label.push(' ');
        label.push_str(&arg.to_string_lossy());
    }
    label
}

/// `cmd` run through `wrapper` (`None` for no wrapper): the wrapper's program and
/// arguments, then `cmd`'s program and arguments; `cmd`'s environment changes and
/// working directory.
fn wrapped(cmd: &Command, wrapper: &[OsString]) -> Option<Command> {
    let (program, args) = wrapper.split_first()?;
    let mut outer = Command::new(program);
    outer.args(args).arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => outer.env(key, value),
            None => outer.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    Some(outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings<'a>(it: impl Iterator<Item = &'a OsStr>) -> Vec<String> {
        it.map(|s| s.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn a_label_is_the_program_name_and_arguments() {
        let mut cmd = Command::new("/x/target/debug/consumer");
        cmd.args(["--workers", "2"]);
        assert_eq!(label_of(&cmd), "consumer --workers 2");
        assert_eq!(label_of(&Command::new("consumer")), "consumer");
    }

    #[test]
    fn no_wrapper_keeps_the_command() {
        assert!(wrapped(&Command::new("consumer"), &[]).is_none());
    }

    #[test]
    fn a_wrapper_comes_first_and_keeps_the_environment_and_directory() {
        let mut cmd = Command::new("/bin/consumer");
        cmd.arg("fast")
            .env("A", "1")
            .env_remove("B")
            .current_dir("/tmp");
        let wrapper: Vec<OsString> = ["unshare", "--fork", "--pid"]
            .iter()
            .map(OsString::from)
            .collect();
        let outer = wrapped(&cmd, &wrapper).expect("a wrapper");
        assert_eq!(outer.get_program(), "unshare");
        assert_eq!(
            strings(outer.get_args()),
            ["--fork", "--pid", "/bin/consumer", "fast"]
        );
        let envs: Vec<_> = outer.get_envs().collect();
        assert_eq!(
            envs,
            [
                (OsStr::new("A"), Some(OsStr::new("1"))),
                (OsStr::new("B"), None)
            ]
        );
        assert_eq!(outer.get_current_dir(), Some(Path::new("/tmp")));
    }

    #[test]
    fn builder_settings_reach_the_command() {
        let b = ScenarioBuilder::new(Command::new("consumer"), "consumer".to_owned())
            .arg("a")
            .args(["b", "c"])
            .env("K", "v")
            .env_remove("GONE")
            .current_dir("/srv");
        assert_eq!(strings(b.cmd.get_args()), ["a", "b", "c"]);
        assert_eq!(b.cmd.get_envs().count(), 2);
        assert_eq!(b.cmd.get_current_dir(), Some(Path::new("/srv")));
        assert!(b.own_group && !b.merge_stderr && b.wrapper.is_empty());
    }
}
