//! How many threads the process has: the precondition of what is only sound, or
//! only safe, in a single-threaded process (changing the environment, forking).

/// The number of threads of this process, or `None` where it cannot be known
/// (`/proc` not mounted, or a platform without `/proc/self/task`).
pub(crate) fn count() -> Option<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        std::fs::read_dir("/proc/self/task")
            .ok()
            .map(Iterator::count)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_second_thread_is_counted() {
        let (stop, parked) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = parked.recv();
        });
        let n = count().expect("/proc/self/task");
        drop(stop);
        thread.join().expect("the parked thread ends");
        assert!(n >= 2, "{n} threads with a second one alive");
    }
}
