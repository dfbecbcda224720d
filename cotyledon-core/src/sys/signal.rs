//! Self-pipe signal handling: the handler only saves errno, writes one byte (the
//! signal number) to a non-blocking CLOEXEC pipe and restores errno. The pipe can be
//! re-targeted (a forked worker gets its own) and written from threads to wake the
//! loop ([`notify`]).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;

/// Write end of the pipe the handler writes to, or -1 before any pipe is set.
static TARGET: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signum: libc::c_int) {
    let saved = Errno::last_raw();
    write_byte(TARGET.load(Ordering::Relaxed), signum as u8);
    Errno::set_raw(saved);
}

fn write_byte(fd: RawFd, byte: u8) {
    if fd < 0 {
        return;
    }
    // SAFETY: `byte` is a valid one-byte buffer for the duration of the call; write(2)
    // is async-signal-safe. A full pipe (EAGAIN) or a closed fd just drops the byte:
    // the reader wakes anyway for the bytes already queued.
    let _ = unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// Writes `byte` to the current self-pipe, waking its reader. Callable from any thread.
pub(crate) fn notify(byte: u8) {
    write_byte(TARGET.load(Ordering::Relaxed), byte);
}

/// Creates a non-blocking, close-on-exec pipe: `(read, write)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: `fds` is a valid array of two ints for pipe to fill.
        let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        for fd in fds {
            set_cloexec_nonblock(fd)?;
        }
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above, for the write end.
    let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((read, write))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_cloexec_nonblock(fd: RawFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
    // SAFETY: fd was just returned by pipe(2) and is open.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    fcntl(borrowed, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Makes the handler write to `fd` from now on.
pub(crate) fn set_target(fd: &OwnedFd) {
    TARGET.store(fd.as_raw_fd(), Ordering::SeqCst);
}

/// Makes the handler drop signals (before the pipe it wrote to is closed).
pub(crate) fn clear_target() {
    TARGET.store(-1, Ordering::SeqCst);
}

/// Installs the self-pipe handler for each of `signals` (SA_RESTART, so other
/// threads' system calls are not interrupted; SA_NOCLDSTOP for SIGCHLD).
pub(crate) fn install(signals: &[libc::c_int]) -> io::Result<()> {
    for &signum in signals {
        let mut flags = libc::SA_RESTART;
        if signum == libc::SIGCHLD {
            flags |= libc::SA_NOCLDSTOP;
        }
        let handler: extern "C" fn(libc::c_int) = on_signal;
        set_action(signum, handler as libc::sighandler_t, flags)?;
    }
    Ok(())
}

/// Restores the default disposition of each of `signals`.
pub(crate) fn reset_default(signals: &[libc::c_int]) -> io::Result<()> {
    for &signum in signals {
        set_action(signum, libc::SIG_DFL, 0)?;
    }
    Ok(())
}

fn set_action(signum: libc::c_int, handler: usize, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: sigaction is a plain C struct for which all-zero bytes are a valid
    // value (empty mask, no flags, SIG_DFL); the fields we need are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised and `on_signal` only does
    // async-signal-safe work; the old action is not requested.
    let rc = unsafe { libc::sigaction(signum, &action, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A saved signal mask, restored by [`restore_mask`].
pub(crate) struct SavedMask(libc::sigset_t);

/// Blocks every signal in the calling thread and returns the previous mask.
pub(crate) fn block_all() -> io::Result<SavedMask> {
    let mut all = MaybeUninit::<libc::sigset_t>::zeroed();
    let mut old = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `all` points to writable storage for a sigset_t.
    unsafe { libc::sigfillset(all.as_mut_ptr()) };
    // SAFETY: `all` was initialised by sigfillset; `old` is writable storage.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: pthread_sigmask succeeded, so it wrote the previous mask into `old`.
    Ok(SavedMask(unsafe { old.assume_init() }))
}

/// Restores a mask saved by [`block_all`].
pub(crate) fn restore_mask(mask: &SavedMask) {
    // SAFETY: `mask.0` is a valid sigset_t obtained from pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut()) };
}

/// The signal the worker asks the kernel to send when the master dies
/// (`PR_SET_PDEATHSIG`): a real-time signal nobody else uses.
#[cfg(target_os = "linux")]
pub(crate) fn parent_death_signal() -> libc::c_int {
    libc::SIGRTMIN() + 3
}

/// Asks the kernel to send [`parent_death_signal`] when the parent dies.
#[cfg(target_os = "linux")]
pub(crate) fn set_parent_death_signal() -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory of ours.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            parent_death_signal() as libc::c_ulong,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Drains the pipe without blocking and returns the bytes read.
pub(crate) fn drain(fd: &OwnedFd, out: &mut Vec<u8>) -> io::Result<()> {
    let mut buf = [0u8; 256];
    loop {
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(Errno::EAGAIN) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
