//! Environment mutation, which edition 2024 makes `unsafe` because another thread
//! may read the environment concurrently.

/// Removes `key` from the process environment.
///
/// Called by the master (single-threaded by design) before it forks any worker.
pub(crate) fn remove_var(key: &str) {
    // SAFETY: the manager calls this from its only thread, before any fork; no
    // other thread reads the environment concurrently (the manager warns if the
    // process has other threads).
    unsafe { std::env::remove_var(key) };
}
