//! The binary upgrade (SIGUSR2), with real masters: the new master takes the
//! listener without it ever being closed (a client connecting all along is
//! never refused nor left without an answer), the old one leaves with status 0
//! once the new one is ready, and each way an attempt can fail leaves the old
//! one serving with every worker, and nothing of the attempt behind.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cotyledon_testing::{Scenario, Signal, is_alive, state};

use crate::{SOON, bin};

mod failures;

/// The address of listener `http`, from the master's log line.
pub(super) fn http_addr(s: &mut Scenario) -> SocketAddr {
    let line = s.wait_for_line("Listener http bound to ", SOON);
    let addr = line.rsplit(' ').next().expect("an address");
    addr.parse().expect("a socket address")
}

/// One answer from the service: `master PID worker ID pid PID`.
pub(super) fn ask(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    if answer.starts_with("master ") {
        Ok(answer)
    } else {
        Err(format!("no answer ({answer:?})"))
    }
}

/// The master pid in an answer.
pub(super) fn master_of(answer: &str) -> i32 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("master PID")
}

/// A client that asks again and again until stopped: its answers and errors.
struct Client {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(Vec<String>, Vec<String>)>,
}

impl Client {
    fn start(addr: SocketAddr) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut answers, mut errors) = (Vec::new(), Vec::new());
            while !flag.load(Ordering::SeqCst) {
                match ask(addr) {
                    Ok(a) => answers.push(a),
                    Err(e) => errors.push(e),
                }
            }
            (answers, errors)
        });
        Client { stop, thread }
    }

    fn finish(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the client thread")
    }
}

/// The pid in "Upgrade: executing … as new master [PID]".
pub(super) fn new_master(s: &mut Scenario) -> i32 {
    let line = s.wait_for_line("as new master [", SOON);
    let start = line.find("as new master [").expect("the line") + "as new master [".len();
    line[start..]
        .split(']')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a pid")
}

/// Pids of the workers a master started ("upgraded run id=I pid=P master=M").
pub(super) fn workers_of(s: &Scenario, master: i32) -> Vec<i32> {
    let tail = format!("master={master}");
    s.lines()
        .iter()
        .filter(|l| l.contains("upgraded run id=") && l.ends_with(&tail))
        .filter_map(|l| l.split("pid=").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

/// Whether `pid` is dead: gone, or a zombie (an orphan of the old generation
/// waits for this test process, their subreaper, to reap it at the end).
pub(super) fn dead(pid: i32) -> bool {
    !is_alive(pid) || state(pid) == Some('Z')
}

/// Waits until `pid` is dead (or fails the test after `timeout`).
pub(super) fn wait_gone(s: &Scenario, pid: i32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !dead(pid) {
        if Instant::now() >= deadline {
            s.fail(&format!("process {pid} is still there"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigusr2_hands_the_listener_to_a_new_master_without_refusing_a_connection() {
    let mut s = Scenario::builder(bin(), "upgrade_app")
        .env("SCENARIO_WORKERS", "2")
        .env("SCENARIO_BOOT_MS", "300")
        .spawn();
    let addr = http_addr(&mut s);
    let old = s.pid();
    s.wait_for_line(&format!("upgraded ready id=1 master={old}"), SOON);
    s.wait_for_line(&format!("upgraded ready id=0 master={old}"), SOON);
    let old_workers = workers_of(&s, old);
    let client = Client::start(addr);
    s.signal(Signal::SIGUSR2);
    let new = new_master(&mut s);
    s.wait_for_line(
        &format!("Upgrade: new master [{new}] is ready; this master hands over and leaves"),
        SOON,
    );
    // The old master drains its workers and leaves with status 0.
    let output = s.wait_exit(SOON);
    assert_eq!(output.status.code(), Some(0), "{:#?}", s.lines());
    for pid in &old_workers {
        wait_gone(&s, *pid, SOON);
    }
    // Every answer from now on comes from the new generation.
    let after = ask(addr).expect("the new generation answers");
    assert_eq!(master_of(&after), new, "{after}");
    let (answers, errors) = client.finish();
    assert!(errors.is_empty(), "refused or unanswered: {errors:?}");
    assert!(
        answers.iter().any(|a| master_of(a) == old) && answers.iter().any(|a| master_of(a) == new),
        "answers from both generations: {} in all",
        answers.len()
    );
    eprintln!(
        "upgrade: {} answers, 0 errors, master {old} -> {new}",
        answers.len()
    );
    // The new master inherited the listener: it did not bind one.
    assert!(
        s.lines()
            .iter()
            .any(|l| l.contains("Upgrade: this master takes over from the old master")),
        "{:#?}",
        s.lines()
    );
    s.kill(new, Signal::SIGTERM);
    wait_gone(&s, new, SOON);
    s.assert_no_process_left(SOON);
}

#[test]
fn a_listener_the_new_build_drops_is_closed_and_one_it_adds_is_bound() {
    let mut s = Scenario::builder(bin(), "upgrade_app")
        .env("SCENARIO_LISTENERS_CHANGE", "1")
        .spawn();
    let http = http_addr(&mut s);
    let line = s.wait_for_line("Listener extra bound to ", SOON);
    let extra: SocketAddr = line
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("an address");
    let old = s.pid();
    s.wait_for_line(&format!("upgraded ready id=1 master={old}"), SOON);
    let old_workers = workers_of(&s, old);
    s.signal(Signal::SIGUSR2);
    let new = new_master(&mut s);
    s.wait_for_line(
        &format!(
            "The listener extra (127.0.0.1:{}) of the old master is not in this build: closed",
            extra.port()
        ),
        SOON,
    );
    s.wait_for_line("Listener admin bound to 127.0.0.1:", SOON);
    s.wait_for_line(&format!("Upgrade: new master [{new}] is ready"), SOON);
    assert_eq!(s.wait_exit(SOON).status.code(), Some(0));
    for pid in &old_workers {
        wait_gone(&s, *pid, SOON);
    }
    // Nobody holds `extra` any more: refused, not queued for nobody.
    let refused = TcpStream::connect_timeout(&extra, Duration::from_secs(5));
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{refused:?}"
    );
    assert_eq!(master_of(&ask(http).expect("http answers")), new);
    s.kill(new, Signal::SIGTERM);
    wait_gone(&s, new, SOON);
    s.assert_no_process_left(SOON);
}

#[test]
fn systemd_hears_reloading_then_mainpid_and_ready_from_the_old_master_then_only_the_new_one() {
    use std::os::unix::net::UnixDatagram;
    let dir = std::env::temp_dir().join(format!("cotyledon-upgrade-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("notify");
    let sock = UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(SOON)).expect("timeout");
    let mut s = Scenario::builder(bin(), "upgrade_app")
        .env("NOTIFY_SOCKET", &path)
        .spawn();
    let recv = |sock: &UnixDatagram| {
        let mut buf = [0u8; 512];
        let n = sock
            .recv(&mut buf)
            .expect("a notification within the deadline");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut notes = Vec::new();
    while notes.last().is_none_or(|n| n != "READY=1") {
        let msg = recv(&sock);
        if !msg.starts_with("STATUS=") {
            notes.push(msg);
        }
    }
    s.signal(Signal::SIGUSR2);
    let new = new_master(&mut s);
    while !notes.last().is_some_and(|n| n.starts_with("MAINPID=")) {
        let msg = recv(&sock);
        if !msg.starts_with("STATUS=") {
            notes.push(msg.split('\n').next().unwrap_or_default().to_owned());
            if msg.starts_with("MAINPID=") {
                assert_eq!(msg, format!("MAINPID={new}\nREADY=1"));
            }
        }
    }
    assert_eq!(s.wait_exit(SOON).status.code(), Some(0));
    // The old master left without a word more (no STOPPING=1): the next
    // message is the new master's, when it is stopped.
    s.kill(new, Signal::SIGTERM);
    loop {
        let msg = recv(&sock);
        if !msg.starts_with("STATUS=") {
            notes.push(msg);
            break;
        }
    }
    assert_eq!(
        notes,
        [
            "READY=1",
            "RELOADING=1",
            &format!("MAINPID={new}"),
            "STOPPING=1"
        ]
    );
    wait_gone(&s, new, SOON);
    s.assert_no_process_left(SOON);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sockets_systemd_passed_to_the_old_master_are_handed_to_the_new_one() {
    use crate::listeners::systemd::{ACTIVATOR, activator_available, free_port, trigger};
    if !activator_available() {
        return;
    }
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let listen = addr.to_string();
    let mut s = Scenario::builder(bin(), "upgrade_app")
        .wrapped_in(&[
            ACTIVATOR,
            "-l",
            &listen,
            "--fdname=http",
            "-E",
            "SCENARIO_WORKERS=2",
        ])
        .spawn();
    let mut first = trigger(addr);
    let old = s.pid();
    s.wait_for_line(
        &format!("Using the socket http passed by systemd ({addr}) instead of tcp 127.0.0.1:0"),
        SOON,
    );
    let mut answer = String::new();
    first.read_to_string(&mut answer).expect("an answer");
    assert_eq!(master_of(&answer), old, "{answer}");
    s.wait_for_line(&format!("upgraded ready id=1 master={old}"), SOON);
    s.signal(Signal::SIGUSR2);
    let new = new_master(&mut s);
    s.wait_for_line(
        &format!(
            "Using the socket http passed by the old master ({addr}) instead of tcp 127.0.0.1:0"
        ),
        SOON,
    );
    s.wait_for_line(&format!("Upgrade: new master [{new}] is ready"), SOON);
    assert_eq!(s.wait_exit(SOON).status.code(), Some(0));
    assert_eq!(master_of(&ask(addr).expect("an answer")), new);
    s.kill(new, Signal::SIGTERM);
    wait_gone(&s, new, SOON);
    s.assert_no_process_left(SOON);
}

#[test]
fn the_control_endpoint_follows_the_serving_master_without_a_gap() {
    use crate::control::{call, temp_dir};
    let sock = temp_dir("upgrade").join("control.sock");
    let mut s = Scenario::builder(bin(), "upgrade_app")
        .env("SCENARIO_CONTROL_SOCKET", &sock)
        .env("SCENARIO_BOOT_MS", "300")
        .spawn();
    let old = s.pid();
    s.wait_for_line(&format!("upgraded ready id=1 master={old}"), SOON);
    s.wait_for_line(&format!("upgraded ready id=0 master={old}"), SOON);
    let status = call(&sock, "GET", "/status").body;
    assert!(
        status.contains(&format!("\"master\":{{\"pid\":{old},")),
        "{status}"
    );
    s.signal(Signal::SIGUSR2);
    let new = new_master(&mut s);
    // While the new master boots, the old one answers.
    let during = call(&sock, "GET", "/status").body;
    assert!(during.contains(&format!("{{\"pid\":{old},")), "{during}");
    s.wait_for_line("Control endpoint unix ", SOON);
    s.wait_for_line(&format!("Upgrade: new master [{new}] is ready"), SOON);
    assert_eq!(s.wait_exit(SOON).status.code(), Some(0));
    // The socket file stayed (the old master did not remove it) and the new
    // master answers on it.
    assert!(sock.exists());
    let after = call(&sock, "GET", "/status").body;
    assert!(after.contains(&format!("{{\"pid\":{new},")), "{after}");
    s.kill(new, Signal::SIGTERM);
    wait_gone(&s, new, SOON);
    s.assert_no_process_left(SOON);
    assert!(!sock.exists(), "the new master removes its socket file");
}

#[test]
fn the_status_says_upgrading_and_the_metrics_count_attempts() {
    use crate::control::{call, sample, temp_dir};
    let sock = temp_dir("upgrade-metrics").join("control.sock");
    let mut s = Scenario::builder(bin(), "upgrade_app")
        .env("SCENARIO_CONTROL_SOCKET", &sock)
        .env("SCENARIO_NEW_FAILS", "never-ready")
        .env("SCENARIO_UPGRADE_TIMEOUT_MS", "2000")
        .spawn();
    let old = s.pid();
    s.wait_for_line(&format!("upgraded ready id=1 master={old}"), SOON);
    s.wait_for_line(&format!("upgraded ready id=0 master={old}"), SOON);
    s.signal(Signal::SIGUSR2);
    let _new = new_master(&mut s);
    s.wait_for_line("upgraded never ready id=", SOON);
    let status = call(&sock, "GET", "/status").body;
    assert!(status.contains("\"phase\":\"upgrading\""), "{status}");
    s.wait_for_line("Upgrade failed: ", SOON);
    let scrape = call(&sock, "GET", "/metrics").body;
    for (result, n) in [("started", 1.0), ("handed_over", 0.0), ("failed", 1.0)] {
        let series = format!("cotyledon_upgrades_total{{result=\"{result}\"}}");
        assert_eq!(sample(&scrape, &series), n, "{series}");
    }
    s.end_with(Signal::SIGTERM, 0);
}
