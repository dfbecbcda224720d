//! The one region of memory that workers write and the master reads: a
//! `MAP_SHARED` anonymous mapping made before the first fork, one [`SharedSlot`] per
//! worker slot (the same index as the master's pid registry). A worker writes only
//! its own slot, through its `Context`; the master treats what it reads there as
//! hints (a flag, a counter), never as pointers or sizes.

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// One worker's shared state.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct SharedSlot {
    /// The pid of the worker the slot belongs to (0 while it is handed over).
    pub(crate) owner: AtomicI32,
    /// 1 once the worker said it is ready.
    pub(crate) ready: AtomicU32,
    /// 1 once the worker began a graceful exit (SIGTERM, or its own request).
    pub(crate) leaving: AtomicU32,
    /// The last heartbeat (`CLOCK_MONOTONIC` ns).
    pub(crate) beat: AtomicU64,
    /// 1 once the worker asked to be recycled.
    pub(crate) recycle: AtomicU32,
    /// When the last in-place `reload()` that finished had started
    /// (`CLOCK_MONOTONIC` ns; 0: none).
    pub(crate) reloaded_from: AtomicU64,
}

impl SharedSlot {
    /// Clears the slot for a new worker (in the master, before the fork).
    pub(crate) fn reset(&self) {
        self.owner.store(0, Ordering::SeqCst);
        self.ready.store(0, Ordering::SeqCst);
        self.leaving.store(0, Ordering::SeqCst);
        self.reloaded_from.store(0, Ordering::SeqCst);
        self.beat.store(0, Ordering::SeqCst);
        self.recycle.store(0, Ordering::SeqCst);
    }
}

struct Region {
    base: usize,
    len: usize,
}

static REGION: OnceLock<Option<Region>> = OnceLock::new();

/// Maps the region with room for `slots` slots (once per process; later calls
/// return the first answer). Pages are only backed once touched.
pub(crate) fn map(slots: usize) -> io::Result<()> {
    let region = REGION.get_or_init(|| {
        let len = slots.checked_mul(std::mem::size_of::<SharedSlot>())?;
        // SAFETY: an anonymous mapping with a null hint: the kernel picks fresh
        // pages (zero-filled) that alias nothing in this process; no fd involved.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Region {
            base: ptr as usize,
            len,
        })
    });
    match region {
        Some(_) => Ok(()),
        None => Err(io::Error::other("could not map the shared worker region")),
    }
}

/// Slot `index`, if the region is mapped and holds it.
pub(crate) fn slot(index: usize) -> Option<&'static SharedSlot> {
    let region = REGION.get()?.as_ref()?;
    let size = std::mem::size_of::<SharedSlot>();
    let offset = index.checked_mul(size)?;
    if offset.checked_add(size)? > region.len {
        return None;
    }
    // SAFETY: the region is mapped read-write for the life of the process (never
    // unmapped), page-aligned (so every slot is aligned for its atomics), and
    // zero-filled at creation, a valid value for `SharedSlot` (all atomics);
    // `offset + size <= len` was checked. Only atomics are accessed through it, so
    // shared access from several processes and threads is sound.
    Some(unsafe { &*((region.base + offset) as *const SharedSlot) })
}
