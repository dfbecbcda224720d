//! Hook lists. Hooks run in registration order; one that returns an error or
//! panics is logged ("Exception raised during NAME hooks", cotyledon's wording) and
//! the rest of that list is skipped. The process carries on either way.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use log::error;

use crate::ids::{ServiceId, WorkerId};

/// What a hook may return: `()` or a `Result<(), E>` whose error is displayed in
/// the log when the hook fails.
///
/// ```
/// # #[derive(cotyledon::Service)] struct Light;
/// # impl cotyledon::Service for Light {}
/// let mut manager = cotyledon::ServiceManager::new()?;
/// let light = manager.add(|_| Light, 1)?;
/// // `()`: nothing can fail.
/// manager.on_terminate(|_| log::info!("bye"));
/// // A `Result`: an `Err` is logged ("Exception raised during reload hooks: …")
/// // and the next reload hooks are skipped.
/// manager.on_reload(move |handle| handle.reconfigure(light, 2));
/// # Ok::<(), cotyledon::Error>(())
/// ```
pub trait HookOutput: sealed::Sealed {
    /// Turns the hook's return value into a result; an `Err` holds the message.
    ///
    /// ```
    /// use cotyledon::HookOutput;
    ///
    /// assert_eq!(().into_result(), Ok(()));
    /// assert_eq!(Err::<(), _>("no database").into_result(), Err("no database".to_owned()));
    /// ```
    fn into_result(self) -> Result<(), String>;
}

impl sealed::Sealed for () {}
impl<E: fmt::Display> sealed::Sealed for Result<(), E> {}

impl HookOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> HookOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// How a worker process ended, as given to `on_dead_worker` hooks. Its `Display`
/// reads like cotyledon's log lines: "exited with status 2", "killed by signal
/// SIGKILL".
///
/// ```
/// use cotyledon::WorkerExit;
///
/// # let mut manager = cotyledon::ServiceManager::new()?;
/// manager.on_dead_worker(|_, _, worker, exit| match exit {
///     WorkerExit::Exited(0) => {}
///     WorkerExit::Exited(code) => log::warn!("worker {worker} failed with status {code}"),
///     WorkerExit::Signaled(sig) => log::error!("worker {worker} killed by signal {sig}"),
/// });
/// # Ok::<(), cotyledon::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerExit {
    /// The worker exited with this status.
    Exited(i32),
    /// The worker was killed by this signal number.
    Signaled(i32),
}

impl WorkerExit {
    /// The exit status, or `None` if the worker was killed by a signal.
    ///
    /// ```
    /// use cotyledon::WorkerExit;
    ///
    /// assert_eq!(WorkerExit::Exited(42).code(), Some(42));
    /// assert_eq!(WorkerExit::Signaled(9).code(), None);
    /// assert_eq!(WorkerExit::Signaled(9).to_string(), "killed by signal SIGKILL");
    /// ```
    pub fn code(self) -> Option<i32> {
        match self {
            WorkerExit::Exited(code) => Some(code),
            WorkerExit::Signaled(_) => None,
        }
    }
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WorkerExit::Exited(code) => write!(f, "exited with status {code}"),
            WorkerExit::Signaled(sig) => write!(f, "killed by signal {}", signal_name(sig)),
        }
    }
}

/// The seal of [`HookOutput`]: only `()` and `Result<(), E>` implement it, so
/// the trait can grow without breaking anyone.
mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// `SIGKILL`-style name of a signal number (or its number when unknown).
pub(crate) fn signal_name(signum: i32) -> String {
    nix::sys::signal::Signal::try_from(signum)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| signum.to_string())
}

/// A hook run in each new worker process (`on_new_worker`).
pub(crate) type NewWorkerHook = Box<dyn FnMut(ServiceId, WorkerId, &dyn Any) -> Result<(), String>>;

/// Runs `hooks` in order through `call`; the first one that fails or panics is
/// logged under `target` and ends the list. Returns whether every hook succeeded.
pub(crate) fn run_list<H: ?Sized>(
    target: &str,
    kind: &str,
    hooks: &mut [Box<H>],
    mut call: impl FnMut(&mut H) -> Result<(), String>,
) -> bool {
    for hook in hooks.iter_mut() {
        let outcome = catch_unwind(AssertUnwindSafe(|| call(hook)))
            .unwrap_or_else(|payload| Err(format!("panicked: {}", panic_message(&*payload))));
        if let Err(msg) = outcome {
            error!(target: target, "Exception raised during {kind} hooks: {msg}");
            return false;
        }
    }
    true
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Hook = Box<dyn FnMut(&mut Vec<u32>) -> Result<(), String>>;

    #[test]
    fn a_failing_hook_skips_the_rest_of_its_list() {
        let mut hooks: Vec<Hook> = vec![
            Box::new(|v| {
                v.push(1);
                Ok(())
            }),
            Box::new(|_| Err("boom".to_owned())),
            Box::new(|v| {
                v.push(3);
                Ok(())
            }),
        ];
        let mut seen = Vec::new();
        assert!(!run_list("t", "test", &mut hooks, |h| h(&mut seen)));
        assert_eq!(seen, vec![1]);
    }

    #[test]
    fn a_panicking_hook_is_caught() {
        let mut hooks: Vec<Hook> = vec![Box::new(|_| panic!("hook panic")), Box::new(|_| Ok(()))];
        let mut seen = Vec::new();
        assert!(!run_list("t", "test", &mut hooks, |h| h(&mut seen)));
    }

    #[test]
    fn exit_statuses_display_like_cotyledon() {
        assert_eq!(WorkerExit::Exited(42).to_string(), "exited with status 42");
        assert_eq!(
            WorkerExit::Signaled(9).to_string(),
            "killed by signal SIGKILL"
        );
        assert_eq!(WorkerExit::Signaled(9).code(), None);
    }
}
