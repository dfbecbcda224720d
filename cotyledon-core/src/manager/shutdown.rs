//! The master's way out: the graceful shutdown (SIGTERM or `shutdown()`), its
//! timeout, and the instantaneous exit; and the settings hooks may change.

use std::time::Instant;

use log::{debug, info};
use nix::sys::signal::Signal;

use super::super::emergency::{self, InHook};
use super::super::handle::ManagerHandle;
use super::{INSTANT_EXIT_GRACE, Loop, Phase, TARGET};
use crate::hooks;

impl Loop {
    pub(super) fn begin_graceful(&mut self, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        info!(target: TARGET, "Caught SIGTERM signal, graceful exiting of master process");
        let msgs = self.protocol.stopping();
        self.tell_systemd(msgs);
        // Armed already if a SIGTERM arrived; not for shutdown() from a hook.
        emergency::arm_graceful();
        let timeout = self.m.settings.graceful_shutdown_timeout;
        self.phase = Phase::Graceful {
            // A deadline too far to represent is no deadline.
            deadline: (!timeout.is_zero())
                .then(|| now.checked_add(timeout))
                .flatten(),
        };
        let mut handle = ManagerHandle::new(&mut self.m.state);
        let _in_hook = InHook::enter();
        hooks::run_list(TARGET, "terminate", &mut self.m.hooks.terminate, |h| {
            h(&mut handle)
        });
        // A hook's own shutdown() request is this shutdown.
        self.m.state.shutdown_requested = false;
        debug!(target: TARGET, "Killing services with signal SIGTERM");
        self.signal_all(Signal::SIGTERM);
        debug!(target: TARGET, "Waiting services to terminate");
    }

    /// Applies the manager settings a hook changed.
    pub(super) fn apply_settings(&mut self) {
        if let Some(timeout) = self.m.state.graceful_timeout.take() {
            self.m.settings.graceful_shutdown_timeout = timeout;
            emergency::set_graceful(timeout);
        }
    }

    pub(super) fn graceful_timeout(&mut self, now: Instant) {
        info!(
            target: TARGET,
            "Graceful shutdown timeout exceeded, instantaneous exiting of master process"
        );
        self.begin_instant(now);
    }

    pub(super) fn begin_instant(&mut self, now: Instant) {
        self.phase = Phase::Instant {
            deadline: now + INSTANT_EXIT_GRACE,
        };
        self.signal_all(Signal::SIGINT);
    }
}
