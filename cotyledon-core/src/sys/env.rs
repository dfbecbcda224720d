//! Environment mutation, which edition 2024 makes `unsafe` because another thread
//! may read the environment concurrently. This module owns the rule that makes it
//! sound: the environment is changed only while the process has exactly one thread.

use super::threads;

/// Why [`remove_var_if_single_threaded`] left a variable in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// The process has this many threads.
    Threads(usize),
    /// The number of threads cannot be known here (see [`threads::count`]).
    Unknown,
}

/// Removes `key` from the process environment if the calling thread is the
/// process's only one; otherwise leaves it and says why.
pub(crate) fn remove_var_if_single_threaded(key: &str) -> Result<(), Kept> {
    match threads::count() {
        Some(1) => {}
        Some(0) | None => return Err(Kept::Unknown),
        Some(n) => return Err(Kept::Threads(n)),
    }
    // SAFETY: the process has exactly one thread, this one, and it starts no other
    // before the call returns, so no thread can read or write the environment
    // concurrently.
    unsafe { std::env::remove_var(key) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn with_other_threads_the_environment_is_left_alone() {
        let (stop, parked) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = parked.recv();
        });
        let kept = remove_var_if_single_threaded("COTYLEDON_TEST_NO_SUCH_VARIABLE");
        drop(stop);
        thread.join().expect("the parked thread ends");
        assert!(matches!(kept, Err(Kept::Threads(n)) if n >= 2), "{kept:?}");
    }
}
