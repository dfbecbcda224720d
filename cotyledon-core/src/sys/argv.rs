//! Process titles: `comm` via `PR_SET_NAME` (15 bytes), and the full title by
//! rewriting the argv area the kernel reports as `arg_start..arg_end` in
//! `/proc/self/stat`, which is what `/proc/PID/cmdline` and `ps` show. The title is
//! truncated to the space argv had. After a rewrite `std::env::args()` returns the
//! title, so the manager captures the arguments before the first rewrite.

/// The argv area of this process (inherited unchanged by forked children, so
/// the master reads it once for all of them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Area {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    start: usize,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    end: usize,
}

/// Reads the argv area from /proc/self/stat (`None` where unknown).
#[cfg(target_os = "linux")]
pub(crate) fn area() -> Option<Area> {
    argv_area().map(|(start, end)| Area { start, end })
}

/// Process titles are not supported on this platform.
#[cfg(not(target_os = "linux"))]
pub(crate) fn area() -> Option<Area> {
    None
}

/// Sets the process title in `comm` and, given the argv area, in the command
/// line (best effort: failures are ignored).
#[cfg(target_os = "linux")]
pub(crate) fn set_title(area: Option<Area>, title: &str) {
    set_comm(title);
    if let Some(Area { start, end }) = area {
        write_area(start, end, title.as_bytes());
    }
}

/// Process titles are not supported on this platform: a no-op.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_title(_area: Option<Area>, _title: &str) {}

#[cfg(target_os = "linux")]
fn set_comm(title: &str) {
    let mut name = [0u8; 16];
    let bytes = title.as_bytes();
    let n = bytes.len().min(15);
    name[..n].copy_from_slice(&bytes[..n]);
    // SAFETY: `name` is a NUL-terminated buffer of 16 bytes, as PR_SET_NAME expects;
    // the kernel copies it and keeps no pointer.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// `(arg_start, arg_end)` from /proc/self/stat (fields 48 and 49).
#[cfg(target_os = "linux")]
fn argv_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after the
    // last ')'; the rest starts at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let start: usize = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    (end > start).then_some((start, end))
}

#[cfg(target_os = "linux")]
fn write_area(start: usize, end: usize, title: &[u8]) {
    let len = end - start;
    // Keep the last byte NUL so the kernel reports exactly this area.
    let n = title.len().min(len - 1);
    // SAFETY: `start..end` is this process's own argv string area, as reported by the
    // kernel: mapped, writable (it lies in the initial stack) and `len` bytes long.
    // Nothing in this crate holds a reference into it (the arguments were copied
    // before), so overwriting it cannot invalidate a Rust reference.
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, len) };
    area[..n].copy_from_slice(&title[..n]);
    area[n..].fill(0);
}
