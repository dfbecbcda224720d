//! What `cargo xtask load` reads from `/proc`: a worker's age, the TCP connections
//! it holds, and the accept queue of the listening socket.

use std::collections::HashSet;
use std::fs;

/// When `pid` started, in clock ticks since boot (field 22 of `/proc/PID/stat`).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    // After the command name comes field 3 (state): field 22 is the 20th word.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether a process `pid` exists (a zombie included).
pub(crate) fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether a process `pid` exists and is not a zombie (one that has exited but
/// is not reaped yet has released everything but its pid).
pub(crate) fn alive(pid: u32) -> bool {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = text
        .rfind(')')
        .and_then(|end| text[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}

/// The inodes of the sockets `pid` has open.
pub(crate) fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// One socket of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, PartialEq)]
pub(crate) struct TcpSocket {
    pub(crate) local_port: u16,
    /// `01` established, `0A` listening.
    pub(crate) state: u8,
    /// For a listening socket: connections waiting in its accept queue.
    pub(crate) rx_queue: u64,
    pub(crate) inode: u64,
}

const ESTABLISHED: u8 = 0x01;
const LISTEN: u8 = 0x0A;

/// Every TCP socket of this network namespace, IPv4 and IPv6.
pub(crate) fn tcp_sockets() -> Vec<TcpSocket> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .flat_map(|text| parse_tcp(&text))
        .collect()
}

/// The lines of a `/proc/net/tcp` table (the heading is skipped).
fn parse_tcp(text: &str) -> Vec<TcpSocket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let local_port = words.get(1)?.rsplit_once(':')?.1;
            let rx_queue = words.get(4)?.split_once(':')?.1;
            Some(TcpSocket {
                local_port: u16::from_str_radix(local_port, 16).ok()?,
                state: u8::from_str_radix(words.get(3)?, 16).ok()?,
                rx_queue: u64::from_str_radix(rx_queue, 16).ok()?,
                inode: words.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// `O_NONBLOCK` in the file status flags of an fd (`fcntl(2)`, Linux's value).
pub(crate) const O_NONBLOCK: u32 = 0o4000;

/// The file status flags (`flags:` in `/proc/PID/fdinfo/FD`) of the fd
/// through which `pid` holds the socket listening on `port`. They belong to
/// the socket's open file description, shared by every process holding it:
/// one that sets `O_NONBLOCK` sets it for all.
pub(crate) fn listener_flags(pid: u32, port: u16) -> Option<u32> {
    let sockets = tcp_sockets();
    let listening = sockets
        .iter()
        .find(|s| s.state == LISTEN && s.local_port == port)?;
    let target = format!("socket:[{}]", listening.inode);
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let fd = fds
        .flatten()
        .find(|fd| fs::read_link(fd.path()).is_ok_and(|t| t.to_str() == Some(target.as_str())))?;
    let fd = fd.file_name();
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_str()?)).ok()?;
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
    u32::from_str_radix(flags.trim(), 8).ok()
}

/// How many established connections to `port` the process `pid` holds: each has
/// at most one request in flight, since wrk does not pipeline.
pub(crate) fn connections_held(pid: u32, port: u16) -> u64 {
    let inodes = socket_inodes(pid);
    let held = tcp_sockets()
        .iter()
        .filter(|s| s.state == ESTABLISHED && s.local_port == port && inodes.contains(&s.inode))
        .count();
    u64::try_from(held).unwrap_or(u64::MAX)
}

/// Connections waiting in the accept queue of the socket listening on `port`, or
/// `None` once nothing listens there.
pub(crate) fn accept_queue(port: u16) -> Option<u64> {
    tcp_sockets()
        .iter()
        .find(|s| s.state == LISTEN && s.local_port == port)
        .map(|s| s.rx_queue)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:46A0 00000000:0000 0A 00000000:00000020 00:00000000 00000000     0        0 1065 1 0000000039a8e8bc 100 0 0 10 0
   1: 0100007F:46A0 0100007F:C150 01 00000000:00000000 03:0000019A 00000000     0        0 4242 3 00000000ef9ab554
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn reads_ports_states_queues_and_inodes() {
        let sockets = parse_tcp(TCP);
        assert_eq!(
            sockets,
            [
                TcpSocket {
                    local_port: 18080,
                    state: LISTEN,
                    rx_queue: 32,
                    inode: 1065
                },
                TcpSocket {
                    local_port: 18080,
                    state: ESTABLISHED,
                    rx_queue: 0,
                    inode: 4242
                },
            ]
        );
        let v6 = parse_tcp(TCP6);
        assert_eq!((v6[0].local_port, v6[0].inode), (8080, 77));
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(start_time(me).is_some() && exists(me));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(accept_queue(port), Some(0));
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(accept_queue(port), Some(1));
        let (_server, _) = listener.accept().unwrap();
        assert_eq!(connections_held(me, port), 1);
        let flags = || listener_flags(me, port).expect("the listener's flags");
        assert_eq!(flags() & O_NONBLOCK, 0);
        listener.set_nonblocking(true).unwrap();
        assert_eq!(flags() & O_NONBLOCK, O_NONBLOCK);
        drop(listener);
        assert_eq!(accept_queue(port), None);
    }
}
