//! Hostile clients of the control endpoint (issue 19 item 4): an idle client,
//! one byte a second, a 10 MB request line, 1,000 connections at once,
//! garbage bytes, a client that never reads its reply. Each is bounded (in
//! time: 5 s per connection; in size: 8 KiB per request; in count: 64 open),
//! and during each a worker is SIGKILLed: its respawn time is measured and
//! printed, and must be within the suite's usual deadline.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cotyledon_testing::{Scenario, Signal, fds};

use crate::SOON;
use crate::control::{call, control_app};

/// The endpoint's per-connection deadline (`manager/control/mod.rs`).
const DEADLINE: Duration = Duration::from_secs(5);

/// SIGKILLs ctl(0) (`pid`) and waits for its replacement; prints and returns
/// how long that took, and the new pid.
fn respawn_during(s: &mut Scenario, pid: i32, attack: &str) -> i32 {
    let t = Instant::now();
    s.kill(pid, Signal::SIGKILL);
    s.wait_for_line(&format!("Child {pid} killed by signal SIGKILL"), SOON);
    let new = s.wait_for_run("ctl", 0, SOON);
    eprintln!("respawn of ctl(0) during {attack}: {:?}", t.elapsed());
    new
}

fn connect(sock: &Path) -> UnixStream {
    UnixStream::connect(sock).expect("connect")
}

/// Whether the server closed `c` (POLLHUP) within `d`, reading nothing.
fn hung_up_within(c: &UnixStream, d: Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let end = Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(c.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ms));
        let hup = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLHUP));
        if hup {
            return true;
        }
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads what the server sends until it closes (or `d` passes).
fn read_all(mut c: UnixStream, d: Duration) -> String {
    c.set_read_timeout(Some(d)).expect("timeout");
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn an_idle_client_and_a_one_byte_a_second_client_are_closed_at_their_deadline() {
    let (mut s, sock, pid) = control_app("idle", &[]);
    let started = Instant::now();
    let idle = connect(&sock);
    let slow = connect(&sock);
    let mut writer = slow.try_clone().expect("clone");
    let trickle = std::thread::spawn(move || {
        for b in b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n" {
            if writer.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    respawn_during(&mut s, pid, "an idle and a 1-byte/s client");
    // Others are served meanwhile.
    assert_eq!(call(&sock, "GET", "/status.txt").status, 200);
    assert!(hung_up_within(&idle, DEADLINE + SOON), "idle client kept");
    assert!(hung_up_within(&slow, DEADLINE + SOON), "slow client kept");
    let took = started.elapsed();
    eprintln!("idle and slow clients closed after {took:?}");
    let _ = trickle.join();
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_ten_megabyte_request_line_gets_a_413_and_is_closed() {
    let (mut s, sock, pid) = control_app("huge", &[]);
    let c = connect(&sock);
    let mut writer = c.try_clone().expect("clone");
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'A'; 64 * 1024];
        for _ in 0..160 {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    respawn_during(&mut s, pid, "a 10 MB request line");
    let reply = read_all(c, DEADLINE + SOON);
    assert!(reply.starts_with("HTTP/1.1 413 "), "{reply:?}");
    assert!(
        reply.ends_with("request head larger than 8192 bytes\n"),
        "{reply:?}"
    );
    let _ = flood.join();
    assert_eq!(call(&sock, "GET", "/status").status, 200);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn a_thousand_connections_at_once_are_capped_and_the_master_keeps_supervising() {
    let (mut s, sock, pid) = control_app("thousand", &[]);
    let conns: Vec<UnixStream> = (0..1000).map(|_| connect(&sock)).collect();
    respawn_during(&mut s, pid, "1,000 open connections");
    // Every one of them is closed: at once beyond the cap, at the deadline
    // for the 64 kept.
    let t = Instant::now();
    for (i, c) in conns.iter().enumerate() {
        assert!(hung_up_within(c, DEADLINE + SOON), "connection {i} kept");
    }
    eprintln!(
        "1,000 connections all closed {:?} after the respawn",
        t.elapsed()
    );
    drop(conns);
    assert_eq!(call(&sock, "GET", "/status").status, 200);
    s.end_with(Signal::SIGTERM, 0);
}

#[test]
fn garbage_bytes_get_a_400_and_the_master_keeps_supervising() {
    let (mut s, sock, pid) = control_app("garbage", &[]);
    let mut c = connect(&sock);
    // A TLS ClientHello's first bytes, then a line end.
    c.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n")
        .expect("write");
    let pid = respawn_during(&mut s, pid, "garbage bytes");
    let reply = read_all(c, SOON);
    assert!(
        reply.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{reply:?}"
    );
    // Binary with no line end at all: 413 at the size cap.
    let mut c = connect(&sock);
    c.write_all(&[0u8; 9000]).expect("write");
    let reply = read_all(c, SOON);
    assert!(reply.starts_with("HTTP/1.1 413 "), "{reply:?}");
    respawn_during(&mut s, pid, "binary garbage");
    s.end_with(Signal::SIGTERM, 0);
}

/// The master's sockets (its control listeners and clients, and any other).
fn master_sockets(s: &Scenario) -> usize {
    fds(s.pid())
        .iter()
        .filter(|e| e.target.starts_with("socket:"))
        .count()
}

/// Waits until the master holds `n` sockets; returns how long it took.
#[track_caller]
fn until_master_sockets(s: &Scenario, n: usize, within: Duration) -> Duration {
    let t = Instant::now();
    while master_sockets(s) != n {
        assert!(
            t.elapsed() < within,
            "the master still holds {} sockets",
            master_sockets(s)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

/// A loopback TCP client with a tiny receive buffer (on loopback the
/// master's send buffer grows large enough for any status, so its write does
/// not block there: the write deadline with a full buffer is unit-tested in
/// `manager/control/tests.rs`).
fn tiny_tcp_client(port: u16) -> std::net::TcpStream {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, setsockopt, socket, sockopt,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    setsockopt(&fd, sockopt::RcvBuf, &1024).expect("SO_RCVBUF");
    let addr = SockaddrIn::new(127, 0, 0, 1, port);
    nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).expect("connect");
    std::net::TcpStream::from(fd)
}

#[test]
fn a_client_that_never_reads_its_reply_is_closed_by_its_deadline() {
    // A port for the loopback endpoint (free a moment ago).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    // 20 workers: a /status of several KB, more than the client's receive
    // buffer; served on loopback TCP too.
    let (mut s, sock, pid) = control_app(
        "noread",
        &[("SCENARIO_WORKERS", "20"), ("SCENARIO_CONTROL_TCP", &addr)],
    );
    // The loopback endpoint serves as the socket does.
    let tcp = cotyledon::ctl::Endpoint::Tcp(addr.parse().expect("address"));
    let reply = cotyledon::ctl::request(&tcp, "GET", "/metrics").expect("scrape over TCP");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .body
            .contains("cotyledon_workers_desired{service=\"ctl\"} 20\n")
    );
    let baseline = master_sockets(&s);
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut c = tiny_tcp_client(port);
        c.write_all(b"GET /status HTTP/1.1\r\n\r\n").expect("write");
        clients.push(c);
    }
    let mut c = connect(&sock);
    c.write_all(b"GET /status HTTP/1.1\r\n\r\n").expect("write");
    clients.push(std::net::TcpStream::from(std::os::fd::OwnedFd::from(c)));
    respawn_during(&mut s, pid, "9 clients that never read their reply");
    // Each connection is dropped by the master at its deadline at the latest.
    let took = until_master_sockets(&s, baseline, DEADLINE + SOON);
    eprintln!("the non-readers' connections were closed {took:?} after the respawn");
    assert_eq!(call(&sock, "GET", "/status").status, 200);
    drop(clients);
    s.end_with(Signal::SIGTERM, 0);
}
