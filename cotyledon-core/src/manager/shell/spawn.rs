//! Forking one worker: a registry slot for the emergency path, a clean shared
//! slot, the fork itself, and the child's entry (never returns).

use std::os::fd::AsRawFd;

use super::Shell;
use super::edge::{flush_output, warn_if_threaded};
use crate::ids::WorkerId;
use crate::manager::policy::Readiness;
use crate::manager::supervisor::Input;
use crate::signals::SelfPipe;
use crate::sys;
use crate::sys::handler::master as emergency;
use crate::worker::WorkerStart;

impl Shell {
    /// Forks worker `worker` of service `index`; the answer for the supervisor.
    pub(super) fn spawn(&mut self, index: usize, worker: WorkerId) -> Input {
        if !self.checked_threads {
            self.checked_threads = true;
            warn_if_threaded();
        }
        let Some(slot) = emergency::reserve() else {
            return Input::ForkFailed {
                index,
                worker,
                error: "no free slot in the worker registry".to_owned(),
            };
        };
        flush_output();
        let upgrade_fds = self.upgrade_fds();
        let m = &mut self.m;
        let [pipe_read, pipe_write] = m.pipe.raw_fds();
        let mut close = vec![pipe_read, pipe_write, m.death_write.as_raw_fd()];
        close.extend(emergency::notify_fd());
        close.extend(upgrade_fds);
        // The control endpoint's listeners and clients are the master's alone.
        close.extend(self.control.iter().flat_map(|c| c.raw_fds()));
        close.extend(m.control.iter().flat_map(|e| e.raw_fds()));
        let service_id = m.sup.table.service(index).id;
        let explicit_ready = m.sup.services[index].policy.readiness == Readiness::Explicit;
        let entry = &m.entries[index];
        let hooks = &mut m.hooks.new_worker;
        let death_pipe = m.death_read.as_raw_fd();
        let master_pid = self.master_pid;
        let titler = &self.titler;
        crate::notice::reset(slot);
        let at = std::time::Instant::now();
        let forked = sys::fork::fork_worker(&close, |(read, write)| {
            (entry.start)(WorkerStart {
                service_id,
                worker_id: worker,
                signal_pipe: SelfPipe::targeted(read, write),
                death_pipe,
                master_pid,
                titler,
                hooks,
                slot,
                explicit_ready,
            })
        });
        match forked {
            Ok(pid) => {
                emergency::fill(slot, pid.as_raw());
                Input::Forked {
                    index,
                    worker,
                    pid: pid.as_raw(),
                    slot,
                    at,
                }
            }
            Err(e) => {
                emergency::release(slot);
                Input::ForkFailed {
                    index,
                    worker,
                    error: e.to_string(),
                }
            }
        }
    }
}
