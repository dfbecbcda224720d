//! Unit tests of the listeners: the `LISTEN_*` decisions, binding and its errors,
//! the checks on the fds systemd passes, and the registry.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixDatagram, UnixListener as StdUnixListener};
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};

use super::systemd::{MAX_LISTEN_FDS, Plan, check, plan};
use super::*;

fn os(s: &str) -> Option<&OsStr> {
    Some(OsStr::new(s))
}

fn names(list: &[&str]) -> Plan {
    Plan::Adopt(list.iter().map(|s| (*s).to_owned()).collect())
}

#[test]
fn listen_variables_for_this_process_name_each_fd() {
    assert_eq!(plan(None, None, None, 42), Plan::Absent);
    assert_eq!(
        plan(os("42"), os("2"), os("http:admin"), 42),
        names(&["http", "admin"])
    );
    // Without LISTEN_FDNAMES every fd is "unknown", as systemd names them.
    assert_eq!(
        plan(os("42"), os("2"), None, 42),
        names(&["unknown", "unknown"])
    );
    // Empty names are names.
    assert_eq!(
        plan(os("42"), os("3"), os("a::b"), 42),
        names(&["a", "", "b"])
    );
    // No fd: nothing to take, whatever the names say.
    assert_eq!(plan(os("42"), os("0"), os(""), 42), names(&[]));
    let max = MAX_LISTEN_FDS.to_string();
    assert!(
        matches!(plan(os("42"), os(&max), None, 42), Plan::Adopt(v) if v.len() == MAX_LISTEN_FDS)
    );
}

#[test]
fn listen_pid_of_another_process_is_not_ours() {
    assert_eq!(
        plan(os("1"), os("1"), os("http"), 42),
        Plan::NotOurs("1".to_owned())
    );
    // Another pid with garbage in LISTEN_FDS: still simply not ours.
    assert_eq!(
        plan(os("7"), os("x"), None, 42),
        Plan::NotOurs("7".to_owned())
    );
}

#[test]
fn malformed_listen_variables_adopt_nothing() {
    let malformed = |pid, fds, names| match plan(pid, fds, names, 42) {
        Plan::Malformed(why, _) => why,
        other => panic!("{pid:?} {fds:?} {names:?}: {other:?}"),
    };
    assert_eq!(
        malformed(os("42"), os("abc"), None),
        "LISTEN_FDS=abc is not a number of fds"
    );
    assert_eq!(
        malformed(os("42"), os("-1"), None),
        "LISTEN_FDS=-1 is not a number of fds"
    );
    assert_eq!(
        malformed(os("42"), os(" 1"), None),
        "LISTEN_FDS= 1 is not a number of fds"
    );
    assert_eq!(
        malformed(os("42"), os("1025"), None),
        "LISTEN_FDS=1025 is more than 1024"
    );
    assert_eq!(
        malformed(os("42"), os("99999999999999999999999999"), None),
        "LISTEN_FDS=99999999999999999999999999 is not a number of fds"
    );
    assert_eq!(
        malformed(os("abc"), os("1"), None),
        "LISTEN_PID=abc is not a process id"
    );
    assert_eq!(
        malformed(os(""), os("1"), None),
        "LISTEN_PID= is not a process id"
    );
    assert_eq!(
        malformed(None, os("1"), None),
        "LISTEN_FDS=1 is set without LISTEN_PID"
    );
    assert_eq!(
        malformed(os("42"), None, os("a")),
        "LISTEN_PID=42 is set without LISTEN_FDS"
    );
    assert_eq!(
        malformed(os("42"), os("2"), os("http")),
        "LISTEN_FDNAMES has 1 names for LISTEN_FDS=2"
    );
    assert_eq!(
        malformed(os("42"), os("1"), os("a:b")),
        "LISTEN_FDNAMES has 2 names for LISTEN_FDS=1"
    );
    // Bytes that are not UTF-8: shown lossily, no panic.
    let bad = Some(OsStr::from_bytes(b"4\xff"));
    assert_eq!(
        malformed(bad, os("1"), None),
        "LISTEN_PID=4\u{fffd} is not a process id"
    );
    assert_eq!(
        malformed(os("42"), bad, None),
        "LISTEN_FDS=4\u{fffd} is not a number of fds"
    );
}

#[test]
fn malformed_variables_of_this_process_still_make_its_fds_close_on_exec() {
    let ours = |pid, fds, names| match plan(pid, fds, names, 42) {
        Plan::Malformed(_, ours) => ours,
        other => panic!("{other:?}"),
    };
    // LISTEN_PID is ours and the count is known: those fds are ours.
    assert_eq!(ours(os("42"), os("1"), os("http:admin")), 1);
    assert_eq!(ours(os("42"), os("3"), os("http")), 3);
    assert_eq!(ours(os("42"), os("99999"), None), MAX_LISTEN_FDS);
    // No count, or no pid that says they are ours: nothing is touched.
    assert_eq!(ours(os("42"), os("x"), None), 0);
    assert_eq!(ours(None, os("2"), None), 0);
    assert_eq!(ours(os("42"), None, None), 0);
    assert_eq!(ours(os("me"), os("2"), None), 0);
}

/// A fresh directory for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "cotyledon-unit-listen-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_cloexec(fd: &OwnedFd) -> bool {
    let flags = fcntl(fd, FcntlArg::F_GETFD).expect("F_GETFD");
    FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC)
}

fn is_nonblocking(fd: &OwnedFd) -> bool {
    let flags = fcntl(fd, FcntlArg::F_GETFL).expect("F_GETFL");
    OFlag::from_bits_truncate(flags).contains(OFlag::O_NONBLOCK)
}

fn bind_error(spec: Listen) -> std::io::Error {
    bind::bind(&spec).expect_err("the bind fails")
}

#[test]
fn a_bound_tcp_socket_is_listening_cloexec_blocking_with_reuseaddr() {
    let fd = bind::bind(&Listen::tcp((Ipv4Addr::LOCALHOST, 0))).expect("bind");
    assert!(is_cloexec(&fd));
    assert!(!is_nonblocking(&fd));
    use nix::sys::socket::{getsockopt, sockopt};
    assert!(getsockopt(&fd, sockopt::ReuseAddr).expect("SO_REUSEADDR"));
    assert!(getsockopt(&fd, sockopt::AcceptConn).expect("SO_ACCEPTCONN"));
    assert_eq!(
        check(&fd).expect("a listener systemd could pass"),
        Kind::Tcp
    );
    // It accepts.
    let listener = TcpListener::from(fd);
    let addr = listener.local_addr().expect("addr");
    let _client = std::net::TcpStream::connect(addr).expect("connect");
    listener.accept().expect("accept");
}

#[test]
fn ipv6_loopback_binds_where_the_host_has_it() {
    if std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        return; // No IPv6 on this host's loopback: nothing to compare with.
    }
    let fd = bind::bind(&Listen::tcp((Ipv6Addr::LOCALHOST, 0))).expect("bind [::1]:0");
    let bound = bound_addr(&fd);
    let addr = TcpListener::from(fd).local_addr().expect("addr");
    assert!(addr.is_ipv6() && addr.port() != 0, "{addr}");
    // What adoption by address compares a spec with.
    assert_eq!(bound, Some(Addr::Tcp(addr)));
}

#[test]
fn bind_errors_keep_the_system_error() {
    let held = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("hold a port");
    let e = bind_error(Listen::tcp(held.local_addr().expect("addr")));
    assert_eq!(
        (e.kind(), e.raw_os_error()),
        (ErrorKind::AddrInUse, Some(libc::EADDRINUSE))
    );
    // TEST-NET-1 (RFC 5737) is no address of this machine.
    let e = bind_error(Listen::tcp(([192, 0, 2, 1], 8080)));
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{e}");
    let dir = TempDir::new("errors");
    let e = bind_error(Listen::unix(dir.0.join("missing/x.sock")));
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = bind_error(Listen::unix(dir.0.join("x".repeat(200))));
    assert_eq!(e.raw_os_error(), Some(libc::ENAMETOOLONG), "{e}");
}

#[test]
fn a_stale_unix_socket_is_replaced_but_a_live_one_or_a_file_is_not() {
    let dir = TempDir::new("stale");
    let stale = dir.0.join("stale.sock");
    drop(StdUnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists(), "the socket file outlives its listener");
    let fd = bind::bind(&Listen::unix(&stale)).expect("the stale file is replaced");
    assert_eq!(check(&fd).expect("listening"), Kind::Unix);
    assert_eq!(bound_addr(&fd), Some(Addr::Unix(stale.clone())));
    // Now live: a second bind is refused, and the file is left.
    let e = bind_error(Listen::unix(&stale));
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    let live = dir.0.join("live.sock");
    let _held = StdUnixListener::bind(&live).expect("bind");
    assert_eq!(bind_error(Listen::unix(&live)).kind(), ErrorKind::AddrInUse);
    let file = dir.0.join("file");
    std::fs::write(&file, "data").expect("write");
    assert_eq!(bind_error(Listen::unix(&file)).kind(), ErrorKind::AddrInUse);
    assert_eq!(std::fs::read(&file).expect("still there"), b"data");
}

#[test]
fn only_listening_stream_sockets_pass_the_systemd_checks() {
    let file = OwnedFd::from(std::fs::File::open("/dev/null").expect("open"));
    assert_eq!(check(&file), Err("is not a socket".to_owned()));
    let udp = OwnedFd::from(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("udp"));
    assert_eq!(
        check(&udp),
        Err("is not a listening stream socket".to_owned())
    );
    let (a, _b) = UnixDatagram::pair().expect("pair");
    assert_eq!(
        check(&OwnedFd::from(a)),
        Err("is not a listening stream socket".to_owned())
    );
    // A connected stream socket is not a listener.
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let client = std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("c");
    assert_eq!(
        check(&OwnedFd::from(client)),
        Err("is not a listening stream socket".to_owned())
    );
    // A non-blocking listener passes and is made blocking.
    listener.set_nonblocking(true).expect("nonblocking");
    let fd = OwnedFd::from(listener);
    assert_eq!(check(&fd), Ok(Kind::Tcp));
    assert!(!is_nonblocking(&fd));
}

#[test]
fn workers_get_a_new_cloexec_fd_of_the_named_listener_each_call() {
    // No manager is needed: the registry is process-global.
    listen("unit-http", Listen::tcp((Ipv4Addr::LOCALHOST, 0))).expect("bind");
    let a = tcp_listener("unit-http").expect("known");
    let b = tcp_listener("unit-http").expect("known");
    assert_ne!(a.as_raw_fd(), b.as_raw_fd());
    assert_eq!(a.local_addr().expect("a"), b.local_addr().expect("b"));
    assert!(is_cloexec(&OwnedFd::from(a)));
    assert!(matches!(
        unix_listener("unit-http"),
        Err(Error::ListenerKind { name, expected: "Unix-domain" }) if name == "unit-http"
    ));
    assert!(matches!(
        tcp_listener("unit-nope"),
        Err(Error::UnknownListener(name)) if name == "unit-nope"
    ));
    // A name is bound once.
    assert!(matches!(
        listen("unit-http", Listen::tcp((Ipv4Addr::LOCALHOST, 0))),
        Err(Error::DuplicateListener(name)) if name == "unit-http"
    ));
    // A failed bind names the listener and registers nothing.
    let dir = TempDir::new("registry");
    match listen("unit-bad", Listen::unix(dir.0.join("no/such/dir"))) {
        Err(Error::Listen { name, source, .. }) => {
            assert_eq!(name, "unit-bad");
            assert_eq!(source.kind(), ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        unix_listener("unit-bad"),
        Err(Error::UnknownListener(_))
    ));
}

#[test]
fn a_name_systemd_passed_is_used_instead_of_binding() {
    let passed = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = passed.local_addr().expect("addr");
    let dir = TempDir::new("systemd");
    let unix = StdUnixListener::bind(dir.0.join("s.sock")).expect("bind");
    registry().extend([
        Entry {
            name: "unit-sd-http".to_owned(),
            fd: OwnedFd::from(passed),
            kind: Kind::Tcp,
            origin: Origin::Systemd,
        },
        Entry {
            name: "unit-sd-unix".to_owned(),
            fd: OwnedFd::from(unix),
            kind: Kind::Unix,
            origin: Origin::Systemd,
        },
    ]);
    // Offered before any listen() names it.
    assert_eq!(
        tcp_listener("unit-sd-http")
            .expect("offered")
            .local_addr()
            .expect("a"),
        addr
    );
    // listen() takes it: nothing is bound at the spec's address (TEST-NET-1,
    // which would fail).
    listen("unit-sd-http", Listen::tcp(([192, 0, 2, 1], 80))).expect("adopted");
    assert_eq!(
        tcp_listener("unit-sd-http")
            .expect("same")
            .local_addr()
            .expect("a"),
        addr
    );
    assert!(matches!(
        listen("unit-sd-http", Listen::tcp((Ipv4Addr::LOCALHOST, 0))),
        Err(Error::DuplicateListener(_))
    ));
    // A Unix socket passed under a name listen() gives a TCP spec is refused.
    assert!(matches!(
        listen("unit-sd-unix", Listen::tcp((Ipv4Addr::LOCALHOST, 0))),
        Err(Error::ListenerKind {
            expected: "TCP",
            ..
        })
    ));
    listen("unit-sd-unix", Listen::unix("/nonexistent/x.sock")).expect("adopted");
}

#[test]
fn a_socket_systemd_passed_is_taken_by_its_address_under_the_new_name() {
    let passed = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = passed.local_addr().expect("addr");
    registry().push(Entry {
        name: "unit-by-addr-unknown".to_owned(),
        fd: OwnedFd::from(passed),
        kind: Kind::Tcp,
        origin: Origin::Systemd,
    });
    // Binding that address would fail (in use): the passed socket is taken.
    listen("unit-by-addr", Listen::tcp(addr)).expect("adopted by address");
    let got = tcp_listener("unit-by-addr").expect("under the listen() name");
    assert_eq!(got.local_addr().expect("a"), addr);
    assert!(matches!(
        tcp_listener("unit-by-addr-unknown"),
        Err(Error::UnknownListener(_))
    ));
}

#[test]
fn specs_show_their_address_and_keep_their_backlog() {
    let spec = Listen::tcp((Ipv6Addr::LOCALHOST, 80)).backlog(7);
    assert_eq!(spec.to_string(), "tcp [::1]:80");
    assert_eq!(spec.backlog, 7);
    assert_eq!(Listen::unix("/run/x.sock").backlog, DEFAULT_BACKLOG);
}
