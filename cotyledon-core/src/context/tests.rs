//! Unit tests of [`Context`]'s blocking waits.

use super::*;

#[test]
fn stop_wakes_waiters() {
    let ctx = Context::new("t", WorkerId::new(3));
    assert_eq!(ctx.worker_id().get(), 3);
    assert!(!ctx.wait_timeout(Duration::from_millis(5)));
    let other = ctx.clone();
    let t = std::thread::spawn(move || other.wait_for_stop());
    ctx.stop();
    t.join().expect("waiter thread");
    assert!(ctx.is_stopping());
    assert!(ctx.wait_timeout(Duration::from_secs(10)));
}

#[test]
fn a_timeout_of_duration_max_waits_for_the_stop() {
    let ctx = Context::new("t", WorkerId::new(0));
    let other = ctx.clone();
    let t = std::thread::spawn(move || other.wait_timeout(Duration::MAX));
    ctx.stop();
    assert!(t.join().expect("no overflow panic"));
    assert!(ctx.wait_timeout(Duration::MAX));
}
