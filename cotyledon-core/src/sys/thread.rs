//! A worker's run thread, started with `pthread_create` alone.
//!
//! `std::thread::spawn` does more per thread than a worker uses: it looks up
//! `RUST_MIN_STACK` and `__pthread_get_minstack` (a dynamic-symbol lookup that
//! faults in pages of libc's symbol tables in every forked worker, because no
//! thread was ever started in the single-threaded master), asks
//! `pthread_getattr_np` for the stack bounds (which allocates, and so makes glibc
//! create a malloc arena for the thread: four more `mmap`-family calls, their
//! TLB flushes and their teardown at exit), and maps a signal stack with a guard
//! page for its stack-overflow message. This starts a detached thread with the
//! stack std would give it (`RUST_MIN_STACK`, else 2 MiB) and a kernel name,
//! and nothing else: a stack overflow on it ends the worker with SIGSEGV instead
//! of std's message and SIGABRT.

use std::ffi::{CStr, c_void};
use std::io;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// std's default stack size for a spawned thread.
const DEFAULT_STACK: usize = 2 << 20;

/// What the thread runs.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// What the new thread gets: its name and its job.
struct Start {
    name: &'static CStr,
    job: Job,
}

extern "C" fn thread_main(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Box<Start>` that `spawn` leaked for this thread and
    // handed to no one else; the thread takes it back exactly once.
    let start = unsafe { Box::from_raw(arg.cast::<Start>()) };
    set_name(start.name);
    // A panic must not unwind into C: the jobs catch their own, and anything
    // that still escapes ends the process, as an uncaught panic on a thread that
    // must not die would.
    if catch_unwind(AssertUnwindSafe(start.job)).is_err() {
        std::process::abort();
    }
    std::ptr::null_mut()
}

/// Sets the calling thread's kernel name (`comm`, 15 bytes).
fn set_name(name: &CStr) {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes
    // (longer ones are cut by the kernel); `name` is NUL-terminated.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr());
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
}

/// The stack size std would give a spawned thread: `RUST_MIN_STACK`, else 2 MiB.
fn stack_size() -> usize {
    std::env::var_os("RUST_MIN_STACK")
        .and_then(|s| s.to_str()?.parse::<usize>().ok())
        .unwrap_or(DEFAULT_STACK)
        .max(libc::PTHREAD_STACK_MIN)
}

/// Starts `job` on a new detached thread named `name`.
///
/// # Errors
///
/// `pthread_create` failed (EAGAIN: no memory or thread limit; EINVAL: a
/// `RUST_MIN_STACK` too small for the thread-local storage).
pub(crate) fn spawn(name: &'static CStr, job: Job) -> io::Result<()> {
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `attr` is storage for pthread_attr_init to initialise.
    let rc = unsafe { libc::pthread_attr_init(attr.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let result = create(attr.as_mut_ptr(), Box::new(Start { name, job }));
    // SAFETY: `attr` was initialised by pthread_attr_init and is destroyed once.
    unsafe { libc::pthread_attr_destroy(attr.as_mut_ptr()) };
    result
}

/// Sets the attributes up and creates the thread; `start` goes to the thread.
fn create(attr: *mut libc::pthread_attr_t, start: Box<Start>) -> io::Result<()> {
    // SAFETY: `attr` points to initialised attributes.
    let rc = unsafe { libc::pthread_attr_setstacksize(attr, stack_size()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: as above; PTHREAD_CREATE_DETACHED is a valid detach state.
    let rc = unsafe { libc::pthread_attr_setdetachstate(attr, libc::PTHREAD_CREATE_DETACHED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let arg = Box::into_raw(start);
    let mut thread = MaybeUninit::<libc::pthread_t>::uninit();
    // SAFETY: `thread` is storage for the id, `attr` is initialised, `thread_main`
    // has the signature pthread_create expects, and `arg` is a leaked box that
    // only the new thread takes back.
    let rc = unsafe { libc::pthread_create(thread.as_mut_ptr(), attr, thread_main, arg.cast()) };
    if rc != 0 {
        // SAFETY: no thread was created, so `arg` is still ours alone.
        drop(unsafe { Box::from_raw(arg) });
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_runs_on_a_named_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(
            c"cot-test",
            Box::new(move || {
                let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
                let _ = tx.send((comm, std::thread::current().id()));
            }),
        )
        .expect("a thread");
        let (comm, id) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the job ran");
        assert_ne!(id, std::thread::current().id());
        if cfg!(target_os = "linux") {
            assert_eq!(comm.trim_end(), "cot-test");
        }
    }
}
