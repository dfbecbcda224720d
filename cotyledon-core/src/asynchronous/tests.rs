//! Unit tests of the async layer: the stop as a tokio future and token, and the
//! [`Tokio`] adapter's lifecycle (lazy runtime, terminate after run, failures).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::WorkerId;

fn ctx() -> Context {
    Context::new("t", WorkerId::new(0))
}

/// A service whose run drains a 50 ms job after the stop, and records it all.
#[derive(Default)]
struct Drainer {
    drained: AtomicBool,
    terminated_after_drain: AtomicBool,
    reloads: AtomicUsize,
    fail: bool,
}

impl ServiceConfig for Drainer {
    const NAME: &'static str = "drainer";
}

impl AsyncService for Drainer {
    async fn run(&self, ctx: Context) -> Result<(), BoxError> {
        ctx.stopped().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.drained.store(true, Ordering::SeqCst);
        if self.fail {
            return Err("drainer failed".into());
        }
        Ok(())
    }

    async fn terminate(&self) -> i32 {
        let drained = self.drained.load(Ordering::SeqCst);
        self.terminated_after_drain.store(drained, Ordering::SeqCst);
        // The runtime still serves timers here.
        tokio::time::sleep(Duration::from_millis(1)).await;
        7
    }

    async fn reload(&self) {
        tokio::task::yield_now().await;
        self.reloads.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn the_stop_wakes_a_tokio_select() {
    let ctx = ctx();
    let waiter = ctx.clone();
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = waiter.stopped() => true,
            _ = tokio::time::sleep(Duration::from_secs(30)) => false,
        }
    });
    tokio::task::yield_now().await;
    ctx.stop();
    assert!(task.await.expect("task"), "the stop, not the 30 s sleep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_cancelled_by_the_stop_and_only_by_it() {
    let ctx = ctx();
    let token = ctx.cancellation_token();
    let other = ctx.cancellation_token();
    // Cancelling a token one was given does not stop the worker.
    other.cancel();
    assert!(!ctx.is_stopping());
    assert!(!token.is_cancelled());
    let waiter = tokio::spawn({
        let token = token.clone();
        async move { token.cancelled().await }
    });
    ctx.stop();
    tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("cancelled within the deadline")
        .expect("task");
    assert!(token.is_cancelled());
    // Asked for after the stop: cancelled from the start.
    assert!(ctx.cancellation_token().is_cancelled());
}

#[test]
fn a_token_asked_for_while_the_stop_runs_is_cancelled() {
    for _ in 0..300 {
        let ctx = ctx();
        let stopper = {
            let ctx = ctx.clone();
            std::thread::spawn(move || ctx.stop())
        };
        let token = ctx.cancellation_token();
        stopper.join().expect("stopper");
        assert!(
            token.is_cancelled(),
            "whichever came first, the token is cancelled"
        );
    }
}

#[test]
fn the_runtime_is_built_by_run_not_by_new() {
    let service = Tokio::new(Drainer::default());
    assert!(lock(&service.runtime).is_none());
    assert!(current_runtime().is_none());
    let ctx = ctx();
    ctx.stop();
    service.run(&ctx).expect("run");
    assert!(lock(&service.runtime).is_some());
}

#[test]
fn terminate_waits_for_run_to_drain_then_returns_its_code() {
    let service = Arc::new(Tokio::new(Drainer::default()));
    let ctx = ctx();
    let runner = {
        let (service, ctx) = (service.clone(), ctx.clone());
        std::thread::spawn(move || service.run(&ctx))
    };
    // As the worker does: the stop first, then terminate() on its own thread.
    ctx.stop();
    let (code_tx, code) = mpsc::channel();
    {
        let service = service.clone();
        std::thread::spawn(move || code_tx.send(service.terminate()));
    }
    let code = code
        .recv_timeout(Duration::from_secs(10))
        .expect("terminate returns");
    assert_eq!(code, 7);
    assert!(
        service
            .service()
            .terminated_after_drain
            .load(Ordering::SeqCst)
    );
    runner.join().expect("run thread").expect("run is Ok");
}

#[test]
fn a_failed_run_is_not_a_return() {
    let service = Tokio::new(Drainer {
        fail: true,
        ..Drainer::default()
    });
    let ctx = ctx();
    ctx.stop();
    assert!(service.run(&ctx).is_err());
    assert!(!service.wait_for_run());
}

#[test]
fn a_panicking_run_is_not_a_return() {
    struct Panics;
    impl ServiceConfig for Panics {
        const NAME: &'static str = "panics";
    }
    impl AsyncService for Panics {
        async fn run(&self, _ctx: Context) -> Result<(), BoxError> {
            panic!("async run panics");
        }
    }
    let service = Tokio::new(Panics);
    let ctx = ctx();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.run(&ctx)));
    assert!(caught.is_err());
    assert!(!service.wait_for_run());
}

#[test]
fn a_runtime_that_cannot_be_built_fails_run() {
    let service = Tokio::with_runtime(Drainer::default(), || Err(io::Error::other("no epoll")));
    let err = service.run(&ctx()).expect_err("no runtime");
    assert_eq!(err.to_string(), "cannot build the tokio runtime: no epoll");
    assert!(!service.wait_for_run());
}

#[test]
fn reload_runs_on_the_runtime_while_run_does() {
    // A multi-thread runtime, as with_runtime allows.
    let service = Arc::new(Tokio::with_runtime(Drainer::default(), || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
    }));
    let ctx = ctx();
    let runner = {
        let (service, ctx) = (service.clone(), ctx.clone());
        std::thread::spawn(move || service.run(&ctx))
    };
    service.reload();
    service.reload();
    assert_eq!(service.service().reloads.load(Ordering::SeqCst), 2);
    ctx.stop();
    runner.join().expect("run thread").expect("run is Ok");
}

#[test]
fn current_runtime_sees_the_runtime_it_is_called_in() {
    assert!(current_runtime().is_none());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let seen = runtime.block_on(async { current_runtime() });
    assert_eq!(seen, Some(tokio::runtime::RuntimeFlavor::CurrentThread));
}
