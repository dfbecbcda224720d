//! Signal handling at the lowest level. The handler is async-signal-safe: it saves
//! errno, records the signal in a per-signal *pending* flag, writes one byte to the
//! self-pipe (if the pipe is still ours) to wake the loop, calls the process's
//! registered emergency hook, and restores errno. The flags, not the bytes, say
//! which signals came: a full pipe drops bytes but never loses a signal.
//!
//! A process forked by user code (a plain `fork()` in a worker or in a master hook)
//! inherits the handlers but is not ours: there the handler restores the default
//! disposition and re-raises the signal, so the process behaves as if no handler had
//! been installed and never writes into its parent's pipe.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering};

use nix::errno::Errno;

use super::pipe;

/// Highest signal number tracked (Linux has 64).
const MAX_SIGNAL: usize = 64;

/// Write end of the pipe the handler writes to, or -1.
static TARGET: AtomicI32 = AtomicI32::new(-1);
/// Identity of the target pipe: `st_dev`, `st_ino`.
static TARGET_DEV: AtomicU64 = AtomicU64::new(0);
static TARGET_INO: AtomicU64 = AtomicU64::new(0);
/// The process the handlers belong to (0 before any target is set).
static OWNER_PID: AtomicI32 = AtomicI32::new(0);
/// One flag per signal number (0 = a thread's wake-up): set by the handler, taken by
/// the reader.
static PENDING: [AtomicBool; MAX_SIGNAL + 1] = [const { AtomicBool::new(false) }; MAX_SIGNAL + 1];
/// The emergency hook: a `fn(c_int)` called by the handler after the signal is
/// recorded, or null.
static HOOK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_signal(signum: libc::c_int) {
    let saved = Errno::last_raw();
    let owner = OWNER_PID.load(Ordering::Acquire);
    if owner != 0 && process_id() != owner {
        // A plain fork of ours: act as the default disposition would. The signal is
        // blocked while its handler runs, so the re-raised one is delivered (with the
        // default action) when the handler returns.
        let _ = set_action(signum, libc::SIG_DFL, 0);
        // SAFETY: raise(3) is async-signal-safe and takes a signal number.
        unsafe { libc::raise(signum) };
        Errno::set_raw(saved);
        return;
    }
    mark(signum as usize);
    let hook = HOOK.load(Ordering::Acquire);
    if !hook.is_null() {
        // SAFETY: only `set_hook` stores into HOOK, and it stores a valid
        // `fn(c_int)` pointer cast to `*mut ()`; function pointers and data pointers
        // have the same size on every supported platform.
        let f: fn(libc::c_int) = unsafe { std::mem::transmute(hook) };
        f(signum);
    }
    Errno::set_raw(saved);
}

/// `getpid(2)`, async-signal-safe.
pub(crate) fn process_id() -> libc::pid_t {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// Records `index` as pending and wakes the reader.
fn mark(index: usize) {
    if let Some(flag) = PENDING.get(index) {
        flag.store(true, Ordering::SeqCst);
    }
    let fd = TARGET.load(Ordering::Acquire);
    let expected = (
        TARGET_DEV.load(Ordering::Acquire),
        TARGET_INO.load(Ordering::Acquire),
    );
    // Write only to our pipe: after user code closed it, its fd number may be a file
    // of theirs. The reader is woken anyway (closing the write end wakes it with
    // end of file) and checks the flags.
    if pipe::identity(fd) == Some(expected) {
        pipe::write_byte(fd, index as u8);
    }
}

/// Records a wake-up (`0`) or a request (a signal number) and wakes the reader, as
/// the handler would. Callable from any thread.
pub(crate) fn notify(byte: u8) {
    mark(usize::from(byte));
}

/// Takes the pending flag of `index` (a signal number, or 0 for a wake-up).
pub(crate) fn take_pending(index: usize) -> bool {
    PENDING
        .get(index)
        .is_some_and(|flag| flag.swap(false, Ordering::SeqCst))
}

/// Makes the handler write to `write` (the write end of a pipe from
/// [`pipe::pipe`]) from now on, in this process.
pub(crate) fn set_target(write: &OwnedFd) {
    let fd = write.as_raw_fd();
    let (dev, ino) = pipe::identity(fd).unwrap_or((0, 0));
    TARGET.store(-1, Ordering::SeqCst);
    TARGET_DEV.store(dev, Ordering::SeqCst);
    TARGET_INO.store(ino, Ordering::SeqCst);
    OWNER_PID.store(process_id(), Ordering::SeqCst);
    TARGET.store(fd, Ordering::SeqCst);
}

/// The identity the handler checks its target against.
pub(crate) fn target_identity() -> (u64, u64) {
    (
        TARGET_DEV.load(Ordering::Acquire),
        TARGET_INO.load(Ordering::Acquire),
    )
}

/// Makes the handler drop signals (before the pipe it wrote to is closed).
pub(crate) fn clear_target() {
    TARGET.store(-1, Ordering::SeqCst);
}

/// Sets the emergency hook the handler calls after recording a signal.
///
/// # Safety
///
/// `hook` runs inside the signal handler, for every signal the process
/// handles, on whatever thread the signal interrupts (possibly in the middle of
/// a `malloc`, a logger's lock or a `RefCell` borrow). It must only do what is
/// async-signal-safe (atomics, `kill`, `waitpid`, `setitimer`, `_exit`), or
/// else be bounded by a timer back-stop that ends the process whatever the
/// interrupted code holds; and it must not unwind out of the handler. The
/// manager's only hook is `sys::emergency`'s, which keeps to that.
pub(crate) unsafe fn set_hook(hook: fn(libc::c_int)) {
    HOOK.store(hook as *mut (), Ordering::Release);
}

/// A signal's disposition as it was before [`install`] replaced it.
pub(crate) struct SavedAction {
    signum: libc::c_int,
    action: libc::sigaction,
}

/// Installs the handler for each of `signals` (SA_RESTART, so other threads' system
/// calls are not interrupted; SA_NOCLDSTOP for SIGCHLD; SA_NODEFER for those in
/// `nodefer`, whose handler may be re-entered) and returns the dispositions found.
pub(crate) fn install(
    signals: &[libc::c_int],
    nodefer: &[libc::c_int],
) -> io::Result<Vec<SavedAction>> {
    let mut saved = Vec::with_capacity(signals.len());
    for &signum in signals {
        let mut flags = libc::SA_RESTART;
        if signum == libc::SIGCHLD {
            flags |= libc::SA_NOCLDSTOP;
        }
        if nodefer.contains(&signum) {
            flags |= libc::SA_NODEFER;
        }
        let handler: extern "C" fn(libc::c_int) = on_signal;
        let action = set_action(signum, handler as libc::sighandler_t, flags)?;
        saved.push(SavedAction { signum, action });
    }
    Ok(saved)
}

/// Puts back dispositions saved by [`install`].
pub(crate) fn restore(saved: &[SavedAction]) {
    for s in saved {
        // SAFETY: `s.action` was filled by sigaction(2) itself; installing it again
        // restores exactly what the program had.
        unsafe { libc::sigaction(s.signum, &s.action, std::ptr::null_mut()) };
    }
}

/// Restores the default disposition of each of `signals`.
pub(crate) fn reset_default(signals: &[libc::c_int]) -> io::Result<()> {
    for &signum in signals {
        set_action(signum, libc::SIG_DFL, 0)?;
    }
    Ok(())
}

/// Gives every signal that has a handler its default disposition back
/// (ignored ones stay ignored), as `execve` would: for a child about to exec,
/// whose mask is then lifted, so that no handler of the parent's runs in it.
/// Async-signal-safe (`sigaction` only).
pub(crate) fn reset_handled_to_default() {
    for signum in 1..max_signal() {
        let mut old = MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: a null new action only reads the current one into `old`,
        // writable storage for one sigaction; a bad number is EINVAL.
        let rc = unsafe { libc::sigaction(signum, std::ptr::null(), old.as_mut_ptr()) };
        if rc != 0 {
            continue;
        }
        // SAFETY: sigaction succeeded, so it filled `old`.
        let handler = unsafe { old.assume_init() }.sa_sigaction;
        if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
            let _ = set_action(signum, libc::SIG_DFL, 0);
        }
    }
}

/// One past the highest signal number.
fn max_signal() -> libc::c_int {
    #[cfg(target_os = "linux")]
    {
        libc::SIGRTMAX() + 1
    }
    #[cfg(not(target_os = "linux"))]
    {
        32
    }
}

/// Sets one disposition and returns the previous one (async-signal-safe).
fn set_action(
    signum: libc::c_int,
    handler: usize,
    flags: libc::c_int,
) -> io::Result<libc::sigaction> {
    // SAFETY: sigaction is a plain C struct for which all-zero bytes are a valid
    // value (empty mask, no flags, SIG_DFL); the fields we need are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: `action` is fully initialised, `on_signal` only does async-signal-safe
    // work (its hook is bounded by a timer), and `old` is writable storage.
    let rc = unsafe { libc::sigaction(signum, &action, old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sigaction succeeded and wrote the previous action into `old` (which
    // was zeroed, a valid value, in any case).
    Ok(unsafe { old.assume_init() })
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
/// (`PR_SET_PDEATHSIG`): a real-time signal nobody else uses. Its default action
/// terminates, so a program that a worker `exec`s dies with the master too.
#[cfg(target_os = "linux")]
pub(crate) fn parent_death_signal() -> libc::c_int {
    libc::SIGRTMIN() + 3
}

/// Asks the kernel to send [`parent_death_signal`] to this process when the master
/// dies. The setting belongs to the calling *thread* (a thread that `exec`s passes
/// its own on to the new program), so every thread that may run user code calls it.
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

/// No parent-death signal outside Linux: the death pipe alone watches the master.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_parent_death_signal() -> io::Result<()> {
    Ok(())
}

/// Whether `index` is pending, without taking it.
pub(crate) fn is_pending(index: usize) -> bool {
    PENDING
        .get(index)
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// Removes the emergency hook (a forked worker drops the master's).
pub(crate) fn clear_hook() {
    HOOK.store(std::ptr::null_mut(), Ordering::Release);
}

/// Forgets every pending signal (a forked child starts with none of its parent's).
pub(crate) fn clear_pending() {
    for flag in &PENDING {
        flag.store(false, Ordering::SeqCst);
    }
}

/// The signal a worker sends the master when its shared slot changed (it is
/// ready, or finished a reload): a real-time signal nobody else uses, SIGUSR2
/// where there are none.
pub(crate) fn notice_signal() -> libc::c_int {
    #[cfg(target_os = "linux")]
    {
        libc::SIGRTMIN() + 5
    }
    #[cfg(not(target_os = "linux"))]
    {
        libc::SIGUSR2
    }
}

/// Sends [`notice_signal`] to `pid` (the master), only while it is still this
/// process's parent: once the master is gone its pid may belong to another
/// process, which the signal's default action would kill. Async-signal-safe.
pub(crate) fn send_notice(pid: libc::pid_t) {
    // SAFETY: getppid has no preconditions and cannot fail.
    if unsafe { libc::getppid() } != pid {
        return;
    }
    // SAFETY: kill(2) takes a pid and a signal number and touches no memory.
    unsafe { libc::kill(pid, notice_signal()) };
}
