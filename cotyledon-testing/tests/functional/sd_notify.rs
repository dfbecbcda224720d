//! systemd notification: READY=1 once the initial workers are started, to a path
//! or an abstract socket; NOTIFY_SOCKET is not inherited by workers.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use cotyledon_testing::{Scenario, Signal};

use crate::{SOON, bin};

fn check_ready(sock: &UnixDatagram, notify_socket: &str) {
    sock.set_read_timeout(Some(SOON)).expect("timeout");
    let mut s = Scenario::builder(bin(), "notify_app")
        .env("NOTIFY_SOCKET", notify_socket)
        .spawn();
    for id in 0..3 {
        s.wait_for_run("light", id, SOON);
        // The variable was removed before the first fork: no worker inherits it.
        s.wait_for_line(&format!("worker {id} NOTIFY_SOCKET=None"), SOON);
    }
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).expect("READY=1 within the deadline");
    assert_eq!(&buf[..n], b"READY=1");
    // Once only: nothing else arrives.
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    assert!(sock.recv(&mut buf).is_err(), "a second notification");
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn ready_is_sent_to_a_path_socket_and_the_variable_is_unset() {
    let path = std::env::temp_dir().join(format!("cotyledon-notify-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    check_ready(&sock, path.to_str().expect("utf-8 path"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn ready_is_sent_to_an_abstract_socket() {
    let name = format!("cotyledon-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
    let sock = UnixDatagram::bind_addr(&addr).expect("bind abstract socket");
    check_ready(&sock, &format!("@{name}"));
}
