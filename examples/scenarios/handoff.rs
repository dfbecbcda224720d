//! Scenarios of the worker's thread economy: which thread calls `terminate()`
//! (the run thread when it is free, a thread of its own otherwise) and that every
//! case still exits with `terminate()`'s value. Each `terminate()` logs the name
//! of the thread it runs on.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use cotyledon::{BoxError, Context, Error, Service, ServiceManager};
use log::error;

use super::manager;

/// The kernel's name of the calling thread (`comm`).
fn thread() -> String {
    std::fs::read_to_string("/proc/thread-self/comm")
        .map_or_else(|e| e.to_string(), |comm| comm.trim_end().to_owned())
}

/// A flag that `run()` raises as it returns and `terminate()` waits for: the way
/// a service that must finish its job before it exits is written.
#[derive(Default)]
struct Done {
    done: Mutex<bool>,
    cond: Condvar,
}

impl Done {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_all();
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.cond.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// run() waits for the stop and returns; terminate() waits until it has.
#[derive(Service, Default)]
#[service(name = "waiter", graceful_shutdown_timeout = 10)]
struct Waiter(Done);

impl cotyledon::Service for Waiter {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        ctx.wait_for_stop();
        error!("waiter run returns");
        self.0.set();
        Ok(())
    }

    fn terminate(&self) -> i32 {
        self.0.wait();
        error!("waiter terminate on {}", thread());
        42
    }
}

/// run() returns at once.
#[derive(Service)]
#[service(name = "returner", graceful_shutdown_timeout = 10)]
struct Returner;

impl cotyledon::Service for Returner {
    fn run(&self, _ctx: &Context) -> Result<(), BoxError> {
        error!("returner run returned");
        Ok(())
    }

    fn terminate(&self) -> i32 {
        error!("returner terminate on {}", thread());
        43
    }
}

/// run() wakes up from its wait on the stop, then goes on without returning;
/// terminate() waits until run() woke up (the worker exits as it returns, so
/// without the wait a run thread that got no CPU yet would never say so).
#[derive(Service, Default)]
#[service(name = "lingerer", graceful_shutdown_timeout = 10)]
struct Lingerer(Done);

impl cotyledon::Service for Lingerer {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        ctx.wait_for_stop();
        error!("lingerer woke up");
        self.0.set();
        std::thread::sleep(Duration::from_secs(60));
        Ok(())
    }

    fn terminate(&self) -> i32 {
        self.0.wait();
        error!("lingerer terminate on {}", thread());
        44
    }
}

/// run() is busy in code of its own (not waiting on its context) at the stop.
#[derive(Service)]
#[service(name = "busy", graceful_shutdown_timeout = 10)]
struct Busy;

impl cotyledon::Service for Busy {
    fn run(&self, _ctx: &Context) -> Result<(), BoxError> {
        error!("busy run sleeps");
        std::thread::sleep(Duration::from_secs(60));
        Ok(())
    }

    fn terminate(&self) -> i32 {
        error!("busy terminate on {}", thread());
        45
    }
}

/// run() works in steps; after the stop it finishes its job (longer than the
/// run thread's handoff) and returns; terminate() waits until it has.
#[derive(Service, Default)]
#[service(name = "finisher", graceful_shutdown_timeout = 10)]
struct Finisher(Done);

impl cotyledon::Service for Finisher {
    fn run(&self, ctx: &Context) -> Result<(), BoxError> {
        error!("finisher run");
        while !ctx.wait_timeout(Duration::from_millis(5)) {}
        std::thread::sleep(Duration::from_secs(1));
        error!("finisher job done");
        self.0.set();
        Ok(())
    }

    fn terminate(&self) -> i32 {
        self.0.wait();
        error!("finisher terminate on {}", thread());
        46
    }
}

/// One worker of each.
pub(super) fn handoff_app() -> Result<ServiceManager, Error> {
    let mut m = manager()?;
    m.add(|_| Waiter::default(), 1)?;
    m.add(|_| Returner, 1)?;
    m.add(|_| Lingerer::default(), 1)?;
    m.add(|_| Busy, 1)?;
    m.add(|_| Finisher::default(), 1)?;
    Ok(m)
}
