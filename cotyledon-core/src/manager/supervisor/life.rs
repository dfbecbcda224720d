//! A worker's life as the master sees it: one phase at a time, changed only
//! through [`Table::set_life`](super::Table::set_life) (as systemd's
//! `service_set_state()`); the deadlines that apply follow from the phase.

use std::time::Instant;

/// Why the master asked a worker to stop: its death is then not a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopWhy {
    /// A hook asked for a restart of this worker (`restart_worker`).
    Restart,
    /// A hook held its id down (`stop_worker`).
    Held,
    /// Its id is above the service's count (a scale-down).
    ScaledDown,
    /// A step of a rolling restart, or of a reload whose in-place `reload()`
    /// was not used.
    Rollout,
    /// Recycled (lifetime, memory, or its own request).
    Recycle,
    /// Its in-place `reload()` did not return within the boot timeout.
    StuckReload,
    /// The manager's graceful shutdown.
    Shutdown,
    /// The worker began a graceful exit itself (SIGTERM from elsewhere, or
    /// its own request outside a reload).
    OwnExit,
}

/// Where a worker process is in its life, as the master sees it. Every change
/// goes through [`Table::set_life`]; the deadlines that apply (boot timeout,
/// heartbeat, reload step, abort grace) follow from the phase and its stamps,
/// so a phase change drops the timers the old phase had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    /// Forked, not ready yet.
    Booting,
    /// Ready: serving.
    Ready,
    /// Sent SIGHUP at `since` for an in-place reload; serving meanwhile.
    Reloading { since: Instant },
    /// Sent SIGTERM at `since`, for `why`.
    Stopping { why: StopWhy, since: Instant },
    /// Sent SIGABRT at `since` for a missed heartbeat (SIGKILL after a grace).
    Aborting { since: Instant },
    /// Sent SIGKILL: not ready within the boot timeout (`boot`), or still
    /// there after an abort.
    Killed { boot: bool },
}

impl Life {
    /// Whether the worker has said it is ready and still serves: ready, or
    /// reloading in place (its `reload()` runs beside its `run()`).
    pub(crate) fn serving(self) -> bool {
        matches!(self, Life::Ready | Life::Reloading { .. })
    }

    /// Whether the master asked the worker to go: its death is not a crash.
    pub(crate) fn asked_to_stop(self) -> bool {
        matches!(self, Life::Stopping { .. })
    }
}

/// A running worker process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Running {
    pub(crate) pid: i32,
    /// When the master forked it.
    pub(crate) started: Instant,
    /// Its slot in the pid registry and the shared region.
    pub(crate) slot: usize,
    /// Its phase.
    pub(crate) life: Life,
    /// When the master saw it ready (`None`: not yet).
    pub(crate) ready_at: Option<Instant>,
    /// When the code it runs started: its fork, or the start of its last
    /// in-place `reload()` that finished. A rollout replaces what is older than
    /// its SIGHUP.
    pub(crate) code_since: Instant,
    /// Its last heartbeat, as read from its shared slot.
    pub(crate) beat: Option<Instant>,
    /// It asked to be recycled.
    pub(crate) wants_recycle: bool,
}
