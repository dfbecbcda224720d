//! `fork` + `execve` of a new master for a binary upgrade, with its fds laid out
//! as socket activation wants them: every listener at 3, 4, … and the hand-over
//! pipe right after them. Everything the child does between the fork and the
//! exec is prepared by the parent (paths, argument and environment arrays, the
//! buffers its pid is written into): the child only calls async-signal-safe
//! functions (`getpid`, `fcntl`, `dup2`, `sigaction`, `sigprocmask`, `execve`,
//! `write`, `_exit`) and allocates nothing.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use nix::unistd::Pid;

use super::fork::exit_now;
use super::signal;

/// Room for a pid's decimal digits and the terminating NUL.
const PID_ROOM: usize = 24;

/// The most fds a plan passes.
pub(crate) const MAX_FDS: usize = 256;

/// Everything the child needs, made before the fork.
#[derive(Debug)]
pub(crate) struct ExecPlan {
    path: CString,
    /// Owns the bytes `argv_ptrs` points into.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// Owns the bytes `env_ptrs` points into; each a NUL-terminated `KEY=VALUE`.
    /// Those at `pid_slots` end with [`PID_ROOM`] bytes the child writes its
    /// pid into.
    env: Vec<Vec<u8>>,
    env_ptrs: Vec<*const libc::c_char>,
    pid_slots: Vec<(usize, usize)>,
    /// The fds to pass, in order: the child gets them at 3, 4, …
    fds: Vec<RawFd>,
    /// The first fd number above every source and every target.
    base: RawFd,
    /// What the child writes to its last passed fd if `execve` fails, before
    /// the errno's digits and a newline.
    failure_prefix: Vec<u8>,
}

/// A NUL-free C string of `bytes`, or `InvalidInput`.
fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
}

impl ExecPlan {
    /// `path` with `argv` and the environment `env` (`KEY`, `VALUE`); the
    /// variables named in `pid_vars` get the child's own pid as their value.
    /// `fds` go to 3, 4, … in the child, in order; if `execve` fails the child
    /// writes `failure_prefix`, the errno and a newline to the last of them.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a NUL byte in any string, or no fd to pass.
    pub(crate) fn new(
        path: &OsStr,
        argv: &[&OsStr],
        env: &[(&OsStr, &OsStr)],
        pid_vars: &[&str],
        fds: Vec<RawFd>,
        failure_prefix: &[u8],
    ) -> io::Result<ExecPlan> {
        if fds.is_empty() || fds.len() > MAX_FDS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} fds to pass (1 to {MAX_FDS})", fds.len()),
            ));
        }
        let path = c_string(path.as_bytes())?;
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| c_string(a.as_bytes()))
            .collect::<io::Result<_>>()?;
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut strings: Vec<Vec<u8>> = Vec::with_capacity(env.len() + pid_vars.len());
        for (key, value) in env {
            let mut kv = key.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(value.as_bytes());
            strings.push(c_string(&kv)?.into_bytes_with_nul());
        }
        let mut pid_slots = Vec::new();
        for var in pid_vars {
            let mut kv = c_string(var.as_bytes())?.into_bytes();
            kv.push(b'=');
            pid_slots.push((strings.len(), kv.len()));
            kv.resize(kv.len() + PID_ROOM, 0);
            strings.push(kv);
        }
        let env_ptrs = strings
            .iter()
            .map(|s| s.as_ptr().cast())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let top = fds.iter().copied().max().unwrap_or(0);
        let last_target = 3 + RawFd::try_from(fds.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many fds"))?;
        Ok(ExecPlan {
            path,
            _argv: argv,
            argv_ptrs,
            env: strings,
            env_ptrs,
            pid_slots,
            base: top.max(last_target) + 1,
            fds,
            failure_prefix: failure_prefix.to_vec(),
        })
    }
}

/// Forks, and in the child lays out the fds and execs `plan`. Returns the
/// child's pid; a failed `execve` is reported by the child on its last fd
/// (then it exits with status 127).
///
/// # Errors
///
/// Blocking the signals or the fork itself failed.
pub(crate) fn spawn(plan: &mut ExecPlan) -> io::Result<Pid> {
    // The child calls only async-signal-safe functions on memory prepared
    // before the fork, then execs or _exits; every signal stays blocked until
    // its handlers are back to the default. (It writes its pid into its own
    // copy of the buffers: the parent's are untouched.)
    super::fork::fork_blocked(|saved| in_child(plan, saved))
}

/// The child's side of [`spawn`]: never returns.
fn in_child(plan: &mut ExecPlan, saved: &signal::SavedMask) -> ! {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // The pid into the room left for it (in place: the buffers do not move),
    // and the pointer to each such variable taken again after the write.
    for &(i, at) in &plan.pid_slots {
        write_decimal(&mut plan.env[i][at..], i64::from(pid));
        plan.env_ptrs[i] = plan.env[i].as_ptr().cast();
    }
    // Every fd to a high number first, so that no source is overwritten by an
    // earlier target; then each to its place (dup2 clears close-on-exec there).
    let mut high = [0 as RawFd; MAX_FDS];
    let count = plan.fds.len().min(high.len());
    for (i, &fd) in plan.fds.iter().take(count).enumerate() {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on an fd number: EBADF at worst.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, plan.base) };
        if dup < 0 {
            exit_now(127);
        }
        high[i] = dup;
    }
    for (i, &dup) in high.iter().take(count).enumerate() {
        let target = 3 + i as RawFd;
        // SAFETY: dup2 on two fd numbers: EBADF at worst.
        if unsafe { libc::dup2(dup, target) } < 0 {
            exit_now(127);
        }
    }
    signal::reset_handled_to_default();
    signal::restore_mask(saved);
    // SAFETY: path, argv and envp are NUL-terminated strings in arrays that end
    // with a null pointer, all alive (the child's copy of `plan`).
    unsafe {
        libc::execve(
            plan.path.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.env_ptrs.as_ptr(),
        )
    };
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut line = [0u8; 128];
    let prefix = plan.failure_prefix.len().min(line.len() - PID_ROOM);
    line[..prefix].copy_from_slice(&plan.failure_prefix[..prefix]);
    let digits = write_decimal(&mut line[prefix..], i64::from(errno));
    line[prefix + digits] = b'\n';
    let last = 3 + count as RawFd - 1;
    // SAFETY: `line` is a live buffer of at least that many bytes; write(2) is
    // async-signal-safe.
    let _ = unsafe { libc::write(last, line.as_ptr().cast(), prefix + digits + 1) };
    exit_now(127)
}

/// Writes `n` in decimal at the start of `out`, then a NUL if there is room;
/// returns the number of digits (and sign) written. No allocation.
fn write_decimal(out: &mut [u8], n: i64) -> usize {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut v = n.unsigned_abs();
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut at = 0;
    if n < 0 && at < out.len() {
        out[at] = b'-';
        at += 1;
    }
    for d in digits[..len].iter().rev() {
        if at < out.len() {
            out[at] = *d;
            at += 1;
        }
    }
    if at < out.len() {
        out[at] = 0;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_without_allocating() {
        let mut out = [0xffu8; 8];
        assert_eq!(write_decimal(&mut out, 4_194_304), 7);
        assert_eq!(&out, b"4194304\0");
        let mut out = [0xffu8; 4];
        assert_eq!(write_decimal(&mut out, -12), 3);
        assert_eq!(&out, b"-12\0");
        assert_eq!(write_decimal(&mut [0u8; 1], 0), 1);
    }

    #[test]
    fn a_plan_refuses_nul_bytes_and_no_fds() {
        let nul = OsStr::from_bytes(b"a\0b");
        let ok = OsStr::new("x");
        assert!(ExecPlan::new(nul, &[ok], &[], &[], vec![0], b"").is_err());
        assert!(ExecPlan::new(ok, &[nul], &[], &[], vec![0], b"").is_err());
        assert!(ExecPlan::new(ok, &[ok], &[(ok, nul)], &[], vec![0], b"").is_err());
        assert!(ExecPlan::new(ok, &[ok], &[], &[], vec![], b"").is_err());
    }

    #[test]
    fn pid_variables_get_room_and_fds_a_base_above_everything() {
        let ok = OsStr::new("x");
        let plan = ExecPlan::new(ok, &[ok], &[(ok, ok)], &["LISTEN_PID"], vec![9, 4], b"")
            .expect("a valid plan");
        assert_eq!(plan.base, 10);
        assert_eq!(plan.pid_slots, vec![(1, "LISTEN_PID=".len())]);
        assert_eq!(plan.env[1].len(), "LISTEN_PID=".len() + PID_ROOM);
        let plan = ExecPlan::new(ok, &[ok], &[], &[], vec![3], b"").expect("a valid plan");
        assert_eq!(plan.base, 5);
    }
}
