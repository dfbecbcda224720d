//! Process titles: `comm` via `PR_SET_NAME` (15 bytes), and the full title by
//! rewriting the argv area the kernel reports as `arg_start..arg_end` in
//! `/proc/self/stat`, which is what `/proc/PID/cmdline` and `ps` show. The title is
//! truncated to the space argv had.
//!
//! Before the first rewrite the argument strings are moved out of the area, as
//! setproctitle and PostgreSQL do, so that `std::env::args()` keeps returning the
//! program's arguments: std (with glibc or musl) reads them through the `char **argv`
//! array each time, and that array lies on the initial stack right after `argc`, at
//! the kernel's `start_stack` (field 28 of `/proc/self/stat`). Each argument is
//! copied to a leaked heap string and `argv[i]` is pointed at the copy. Everything
//! is checked first (the array, its pointers, its mappings, that std sees the same
//! arguments, that this is the only thread); if anything is not as expected, the
//! area is left alone and only `comm` is set: better no title than a wild write.

/// The argv area of this process (inherited unchanged by forked children, so
/// the master reads it once for all of them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Area {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    start: usize,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    end: usize,
}

/// The argv area, with the arguments moved out of it (once per process; later
/// calls return the first answer). `None` where anything was not as expected:
/// then no title is written there.
#[cfg(target_os = "linux")]
pub(crate) fn area() -> Option<Area> {
    static AREA: std::sync::OnceLock<Option<Area>> = std::sync::OnceLock::new();
    *AREA.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields = StatFields::parse(&stat)?;
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        if !only_thread() {
            return None;
        }
        relocate(&fields, &maps)?;
        Some(Area {
            start: fields.arg_start,
            end: fields.arg_end,
        })
    })
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

/// The fields of `/proc/self/stat` this module needs.
#[derive(Debug, PartialEq, Eq)]
struct StatFields {
    /// Field 28: the address of `argc` on the initial stack.
    start_stack: usize,
    /// Fields 48 and 49: the argument strings, NULs included.
    arg_start: usize,
    arg_end: usize,
}

impl StatFields {
    fn parse(stat: &str) -> Option<StatFields> {
        // The command name (field 2) may hold spaces and parentheses: split after
        // the last ')'; the rest starts at field 3.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> Option<usize> { fields.get(n - 3)?.parse().ok() };
        let f = StatFields {
            start_stack: field(28)?,
            arg_start: field(48)?,
            arg_end: field(49)?,
        };
        (f.arg_end > f.arg_start && f.start_stack != 0).then_some(f)
    }
}

/// Whether `start..end` lies inside one readable and writable private mapping
/// listed in `maps` (the text of `/proc/self/maps`).
fn in_rw_mapping(maps: &str, start: usize, end: usize) -> bool {
    maps.lines().any(|line| {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            return false;
        };
        let Some((lo, hi)) = range.split_once('-') else {
            return false;
        };
        let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
        else {
            return false;
        };
        perms.starts_with("rw") && perms.ends_with('p') && lo <= start && start <= end && end <= hi
    })
}

/// Whether this process has a single thread (so that nothing reads `argv`
/// while it is changed).
#[cfg(target_os = "linux")]
fn only_thread() -> bool {
    super::threads::count() == Some(1)
}

/// Checks the argv array against everything known about it, then copies each
/// argument to a leaked heap string and points `argv[i]` at it. Writes nothing
/// unless every check passed.
#[cfg(target_os = "linux")]
fn relocate(f: &StatFields, maps: &str) -> Option<()> {
    use std::ffi::{CStr, CString};
    use std::mem::{align_of, size_of};
    let word = size_of::<usize>();
    if !f.start_stack.is_multiple_of(align_of::<usize>())
        || !in_rw_mapping(maps, f.start_stack, f.start_stack.checked_add(word)?)
        || !in_rw_mapping(maps, f.arg_start, f.arg_end)
    {
        return None;
    }
    // SAFETY: `start_stack` is aligned for a usize and the word there lies in a
    // mapped, readable region of this process (checked just above); the kernel
    // stored `argc` there at exec, and reading it changes nothing.
    let argc = unsafe { (f.start_stack as *const usize).read() };
    // Every argument takes at least its NUL in the area; std must see as many.
    let std_args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argc == 0 || argc > f.arg_end - f.arg_start || argc != std_args.len() {
        return None;
    }
    let argv = f.start_stack + word;
    // argv[0..argc] and the NULL after them.
    let argv_end = argv.checked_add(argc.checked_add(1)?.checked_mul(word)?)?;
    if !in_rw_mapping(maps, argv, argv_end) {
        return None;
    }
    let slot = |i: usize| (argv + i * word) as *mut *mut libc::c_char;
    // SAFETY: `arg_start..arg_end` lies in a mapped, readable and writable region
    // of this process (checked above). Nothing writes it while this shared view
    // lives: this is the only thread, and the view ends before any write below.
    let area =
        unsafe { std::slice::from_raw_parts(f.arg_start as *const u8, f.arg_end - f.arg_start) };
    let mut copies = Vec::with_capacity(argc);
    let mut previous = None;
    for (i, expected) in std_args.iter().enumerate() {
        // SAFETY: slot(i) for i < argc is an aligned word inside `argv..argv_end`,
        // which lies in a mapped, readable region (checked above).
        let ptr = unsafe { slot(i).read() } as usize;
        // Inside the area, in increasing order, argv[0] at its start.
        let offset = ptr.checked_sub(f.arg_start).filter(|&o| o < area.len())?;
        if (i == 0 && offset != 0) || previous.is_some_and(|p| offset <= p) {
            return None;
        }
        previous = Some(offset);
        // NUL-terminated inside the area, and the same bytes std returns.
        let arg = CStr::from_bytes_until_nul(&area[offset..]).ok()?;
        if std::os::unix::ffi::OsStrExt::as_bytes(expected.as_os_str()) != arg.to_bytes() {
            return None;
        }
        copies.push(CString::from(arg));
    }
    // SAFETY: slot(argc) is the aligned word right before `argv_end`, inside the
    // mapped, readable region checked above.
    if !unsafe { slot(argc).read() }.is_null() {
        return None;
    }
    for (i, copy) in copies.into_iter().enumerate() {
        // Leaked on purpose: argv[i] points at it for the life of the process.
        let copy = copy.into_raw();
        // SAFETY: slot(i) is an aligned, writable word of the argv array (checked
        // above: inside a read-write mapping). This is the only thread, so no
        // reader of argv (std::env::args) runs concurrently; the new pointer is a
        // valid NUL-terminated string with the same bytes, never freed.
        unsafe { slot(i).write(copy) };
    }
    Some(())
}

#[cfg(target_os = "linux")]
fn write_area(start: usize, end: usize, title: &[u8]) {
    let len = end - start;
    // Keep the last byte NUL so the kernel reports exactly this area.
    let n = title.len().min(len - 1);
    // SAFETY: `start..end` is this process's own argv string area, as reported by the
    // kernel and checked to lie in a read-write mapping (`area` returns it only
    // then); `len` bytes long. Nothing reads it any more but the kernel: the
    // arguments were moved out of it and argv points at the copies, and no Rust
    // reference into it outlives `relocate`.
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, len) };
    area[..n].copy_from_slice(&title[..n]);
    area[n..].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_last_parenthesis() {
        // Fields 3..52 numbered by their own value, with a command name that holds
        // spaces and a ')'.
        let rest: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        let stat = format!("1234 (a) b (c) {}\n", rest.join(" "));
        assert_eq!(
            StatFields::parse(&stat),
            Some(StatFields {
                start_stack: 28,
                arg_start: 48,
                arg_end: 49,
            })
        );
        assert_eq!(StatFields::parse("1234 (a) 3 4"), None);
        // An empty area or an unknown stack is refused.
        let rest: Vec<String> = (3..=52)
            .map(|n| {
                if n == 49 {
                    "48".to_owned()
                } else {
                    n.to_string()
                }
            })
            .collect();
        assert_eq!(
            StatFields::parse(&format!("1 (a) {}", rest.join(" "))),
            None
        );
    }

    #[test]
    fn ranges_must_lie_in_one_private_read_write_mapping() {
        let maps = "\
00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/prog
7ffc0000-7ffc2000 rw-p 00000000 00:00 0 [stack]
7ffc2000-7ffc3000 rw-p 00000000 00:00 0
7ffd0000-7ffd1000 rw-s 00000000 00:05 1 /dev/shm/x
";
        assert!(in_rw_mapping(maps, 0x7ffc_0010, 0x7ffc_0100));
        assert!(in_rw_mapping(maps, 0x7ffc_0000, 0x7ffc_2000));
        assert!(!in_rw_mapping(maps, 0x7ffc_1ff0, 0x7ffc_2010), "spans two");
        assert!(!in_rw_mapping(maps, 0x0040_0000, 0x0040_0010), "read-only");
        assert!(!in_rw_mapping(maps, 0x7ffd_0000, 0x7ffd_0010), "shared");
        assert!(!in_rw_mapping(maps, 0x1000, 0x1008), "unmapped");
        assert!(!in_rw_mapping(maps, 0x7ffc_0100, 0x7ffc_0010), "reversed");
        assert!(!in_rw_mapping("garbage\n-\nzz-yy rw-p", 0, 1));
    }
}
