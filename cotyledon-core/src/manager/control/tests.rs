//! The endpoint's bounds on real sockets, without a manager: a reply the
//! client does not read is dropped at the connection's deadline, and
//! connections beyond the cap are closed at once.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::{Conn, Endpoint, MAX_CONNECTIONS, MasterInfo, Server, Stream};
use crate::manager::supervisor::{Settings, Supervisor};

fn world() -> (Supervisor, MasterInfo) {
    let sup = Supervisor::new(
        Settings {
            wait_interval: Duration::ZERO,
            graceful_shutdown_timeout: Duration::ZERO,
            fork_limiter: false,
            crash_backoff: (Duration::ZERO, Duration::ZERO),
            upgrade_timeout: Duration::from_secs(60),
        },
        Instant::now(),
    );
    let info = MasterInfo {
        pid: 1,
        uptime: Duration::ZERO,
        started_unix: 0.0,
        binary: None,
        rss: |_| None,
        read: Default::default(),
    };
    (sup, info)
}

#[test]
fn a_reply_the_client_does_not_read_is_dropped_at_its_deadline() {
    use nix::sys::socket::{setsockopt, sockopt};
    let (sup, info) = world();
    let (server, mut client) = UnixStream::pair().expect("socketpair");
    server.set_nonblocking(true).expect("non-blocking");
    setsockopt(&server, sockopt::SndBuf, &4096).expect("SO_SNDBUF");
    let mut srv = Server::new(Endpoint {
        unix: None,
        tcp: None,
    });
    let reply = 1 << 20;
    srv.conns.push(Conn {
        stream: Stream::Unix(server),
        deadline: Instant::now() + Duration::from_millis(100),
        buf: vec![b'x'; reply],
        written: Some(0),
    });
    assert!(srv.serve(&sup, &info).is_empty());
    assert_eq!(srv.conns.len(), 1, "a full socket buffer does not block");
    let written = srv.conns[0].written.expect("writing");
    assert!(written < reply, "{written}");
    assert!(srv.deadline().is_some());
    let give_up = Instant::now() + Duration::from_secs(10);
    while !srv.conns.is_empty() {
        assert!(Instant::now() < give_up, "never dropped");
        std::thread::sleep(Duration::from_millis(10));
        srv.serve(&sup, &info);
    }
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut got = Vec::new();
    client.read_to_end(&mut got).expect("end of file");
    assert!(got.len() < reply, "the rest was never sent: {}", got.len());
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once() {
    let (sup, info) = world();
    let dir = std::env::temp_dir().join(format!("cotyledon-ctl-cap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("c.sock");
    let endpoint = Endpoint::open(Some(&path), None, (None, None))
        .expect("bound")
        .expect("asked");
    let mut srv = Server::new(endpoint);
    let clients: Vec<UnixStream> = (0..MAX_CONNECTIONS + 6)
        .map(|_| UnixStream::connect(&path).expect("connect"))
        .collect();
    srv.serve(&sup, &info);
    assert_eq!(srv.conns.len(), MAX_CONNECTIONS);
    let mut closed = 0;
    for mut c in clients {
        c.set_nonblocking(true).expect("non-blocking");
        let mut b = [0u8; 1];
        if matches!(c.read(&mut b), Ok(0)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 6);
    drop(srv);
    assert!(!path.exists(), "the socket file goes with the endpoint");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_listener_that_fails_to_accept_is_left_out_of_the_poll_for_a_while() {
    use std::os::fd::AsRawFd;
    let (sup, info) = world();
    let endpoint = Endpoint::open(None, Some(([127, 0, 0, 1], 0).into()), (None, None))
        .expect("bound")
        .expect("asked");
    // A listener that accept() refuses for good (EINVAL once a TCP listener
    // is shut down).
    let fd = endpoint.tcp.as_ref().expect("tcp").as_raw_fd();
    nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both).expect("shutdown");
    let mut srv = Server::new(endpoint);
    assert_eq!(srv.poll_fds().len(), 1);
    srv.serve(&sup, &info);
    assert!(srv.poll_fds().is_empty(), "paused: not polled");
    let until = srv.deadline().expect("the pause's end is a deadline");
    assert!(until > Instant::now());
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    srv.serve(&sup, &info);
    assert!(srv.paused.is_some(), "tried again, paused again");
}
