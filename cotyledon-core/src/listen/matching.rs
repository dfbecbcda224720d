//! Which socket `listen(name, spec)` uses: the rule, pure (no fd, no syscall),
//! over the listeners the process already has.
//!
//! 1. **By name.** A listener named `name` that systemd passed and no `listen()`
//!    call took yet is used, whatever its address (systemd's configuration wins:
//!    the socket unit says where to listen); one of the other kind is an error.
//!    A name already bound or taken is a duplicate.
//! 2. **By address.** Otherwise a passed socket not taken yet whose bound address
//!    is the spec's is used for `name` (as gunicorn adopts the sockets it is
//!    passed by address): the same IPv4 address and port; the same IPv6 address,
//!    port and scope id; the same Unix path (compared as a `Path`, component by
//!    component: no symlink or `..` is resolved, and a relative spec never matches
//!    systemd's absolute paths). A spec with port 0 never matches (it asks for
//!    any free port, not that one), nor does a wildcard of the other family
//!    (`0.0.0.0:80` is not `[::]:80`). If several passed sockets have that
//!    address, the first (lowest fd) is used and the caller warns.
//! 3. Otherwise the spec is bound.

use std::net::SocketAddr;

use super::{Addr, Kind, Origin};

/// A listener of the process, as the rule sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Candidate<'a> {
    pub(super) name: &'a str,
    pub(super) origin: Origin,
    pub(super) kind: Kind,
    /// The address it is bound to (`None`: unknown, or not one a spec can name,
    /// such as an abstract Unix socket).
    pub(super) addr: Option<&'a Addr>,
}

/// What `listen(name, spec)` does.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Choice {
    /// Bind the spec: no passed socket has its name or its address.
    Bind,
    /// The name is bound, or taken by an earlier `listen()` call.
    Duplicate,
    /// The passed socket of that name is of the other kind.
    WrongKind,
    /// Use the passed socket of that name (its index).
    ByName(usize),
    /// Use the first of these passed sockets, all bound to the spec's address
    /// (indexes, in fd order; more than one: ambiguous).
    ByAddress(Vec<usize>),
}

/// Applies the rule of the module's doc for `listen(name, spec)`, `spec` being of
/// kind `kind`.
pub(super) fn choose(name: &str, spec: &Addr, kind: Kind, listeners: &[Candidate<'_>]) -> Choice {
    let named = listeners
        .iter()
        .enumerate()
        .find(|(_, c)| c.name == name && c.origin != Origin::SystemdShadowed);
    if let Some((i, c)) = named {
        return match c.origin {
            Origin::Systemd if c.kind == kind => Choice::ByName(i),
            Origin::Systemd => Choice::WrongKind,
            _ => Choice::Duplicate,
        };
    }
    let same: Vec<usize> = listeners
        .iter()
        .enumerate()
        .filter(|(_, c)| c.origin.is_passed_and_free())
        .filter(|(_, c)| c.addr.is_some_and(|a| same_address(a, spec)))
        .map(|(i, _)| i)
        .collect();
    if same.is_empty() {
        Choice::Bind
    } else {
        Choice::ByAddress(same)
    }
}

/// Whether a socket bound to `bound` is what `spec` asks for (see the module's
/// doc).
pub(super) fn same_address(bound: &Addr, spec: &Addr) -> bool {
    match (bound, spec) {
        (Addr::Tcp(_), Addr::Tcp(s)) if s.port() == 0 => false,
        (Addr::Tcp(SocketAddr::V4(b)), Addr::Tcp(SocketAddr::V4(s))) => b == s,
        (Addr::Tcp(SocketAddr::V6(b)), Addr::Tcp(SocketAddr::V6(s))) => {
            (b.ip(), b.port(), b.scope_id()) == (s.ip(), s.port(), s.scope_id())
        }
        (Addr::Unix(b), Addr::Unix(s)) => b == s,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
    use std::path::PathBuf;

    use super::*;

    fn tcp(s: &str) -> Addr {
        Addr::Tcp(s.parse().expect("an address"))
    }

    fn unix(p: &str) -> Addr {
        Addr::Unix(PathBuf::from(p))
    }

    fn passed<'a>(name: &'a str, addr: &'a Addr) -> Candidate<'a> {
        let kind = match addr {
            Addr::Tcp(_) => Kind::Tcp,
            Addr::Unix(_) => Kind::Unix,
        };
        Candidate {
            name,
            origin: Origin::Systemd,
            kind,
            addr: Some(addr),
        }
    }

    #[test]
    fn addresses_match_exactly_per_family() {
        assert!(same_address(&tcp("127.0.0.1:8080"), &tcp("127.0.0.1:8080")));
        assert!(!same_address(
            &tcp("127.0.0.1:8080"),
            &tcp("127.0.0.1:8081")
        ));
        assert!(!same_address(
            &tcp("127.0.0.1:8080"),
            &tcp("127.0.0.2:8080")
        ));
        assert!(same_address(&tcp("[::1]:80"), &tcp("[::1]:80")));
        // A wildcard of the other family, an IPv4-mapped address: other addresses.
        assert!(!same_address(&tcp("[::]:80"), &tcp("0.0.0.0:80")));
        assert!(!same_address(&tcp("0.0.0.0:80"), &tcp("[::]:80")));
        assert!(!same_address(
            &tcp("[::ffff:127.0.0.1]:80"),
            &tcp("127.0.0.1:80")
        ));
        // Port 0 asks for any port: never a passed socket's.
        assert!(!same_address(&tcp("127.0.0.1:0"), &tcp("127.0.0.1:0")));
        // The scope id counts; the flow label (not part of a bound address) does not.
        let link = |scope, flow| {
            Addr::Tcp(SocketAddr::V6(SocketAddrV6::new(
                "fe80::1".parse::<Ipv6Addr>().expect("ip"),
                80,
                flow,
                scope,
            )))
        };
        assert!(same_address(&link(2, 0), &link(2, 7)));
        assert!(!same_address(&link(2, 0), &link(3, 0)));
        // Unix paths: the same bytes; a TCP spec never matches a path.
        assert!(same_address(&unix("/run/a.sock"), &unix("/run/a.sock")));
        // Compared as paths (`/run/./a.sock` is `/run/a.sock`), never resolved.
        assert!(same_address(&unix("/run/a.sock"), &unix("/run/./a.sock")));
        assert!(!same_address(
            &unix("/run/a.sock"),
            &unix("/run/x/../a.sock")
        ));
        assert!(!same_address(&unix("/run/a.sock"), &unix("run/a.sock")));
        assert!(!same_address(
            &unix("/run/a.sock"),
            &Addr::Tcp((Ipv4Addr::LOCALHOST, 80).into())
        ));
    }

    #[test]
    fn a_name_wins_over_an_address() {
        let (a, b) = (tcp("127.0.0.1:80"), tcp("127.0.0.1:81"));
        // "http" passed at :81, another socket at the spec's :80: the name wins.
        let list = [passed("unknown", &a), passed("http", &b)];
        assert_eq!(
            choose("http", &a, Kind::Tcp, &list),
            Choice::ByName(1),
            "by name, whatever its address"
        );
        assert_eq!(
            choose("web", &a, Kind::Tcp, &list),
            Choice::ByAddress(vec![0])
        );
        assert_eq!(
            choose("web", &tcp("127.0.0.1:82"), Kind::Tcp, &list),
            Choice::Bind
        );
        // A name of the other kind is an error, not a fall back to the address.
        let path = unix("/run/http.sock");
        let list = [passed("http", &path), passed("unknown", &a)];
        assert_eq!(choose("http", &a, Kind::Tcp, &list), Choice::WrongKind);
    }

    #[test]
    fn a_socket_is_taken_once_and_names_are_not_reused() {
        let a = tcp("127.0.0.1:80");
        let mut list = [passed("unknown", &a)];
        list[0].origin = Origin::SystemdClaimed;
        // Taken (renamed to the name that took it): neither its address nor its
        // old name is offered again.
        assert_eq!(choose("web", &a, Kind::Tcp, &list), Choice::Bind);
        list[0].name = "web";
        assert_eq!(choose("web", &a, Kind::Tcp, &list), Choice::Duplicate);
        list[0].origin = Origin::Bound;
        assert_eq!(choose("web", &a, Kind::Tcp, &list), Choice::Duplicate);
    }

    #[test]
    fn a_shadowed_name_matches_by_address_only_and_ambiguity_lists_all() {
        let (a, b) = (tcp("127.0.0.1:80"), tcp("127.0.0.1:81"));
        // Two fds named "unknown" (no --fdname): the second is offered by
        // address only.
        let mut list = [passed("unknown", &a), passed("unknown", &b)];
        list[1].origin = Origin::SystemdShadowed;
        assert_eq!(
            choose("unknown", &b, Kind::Tcp, &list),
            Choice::ByName(0),
            "the name is the first fd's"
        );
        assert_eq!(
            choose("https", &b, Kind::Tcp, &list),
            Choice::ByAddress(vec![1])
        );
        // Once the first is taken by address, the name is not handed on.
        list[0].origin = Origin::SystemdClaimed;
        list[0].name = "http";
        assert_eq!(
            choose("unknown", &tcp("127.0.0.1:82"), Kind::Tcp, &list),
            Choice::Bind
        );
        // Two passed sockets bound to one address (SO_REUSEPORT): both listed,
        // the first is used.
        let c = tcp("127.0.0.1:80");
        let list = [passed("one", &a), passed("two", &b), passed("three", &c)];
        assert_eq!(
            choose("web", &a, Kind::Tcp, &list),
            Choice::ByAddress(vec![0, 2])
        );
        // A socket whose address is unknown never matches by address.
        let mut list = [passed("x", &a)];
        list[0].addr = None;
        assert_eq!(choose("web", &a, Kind::Tcp, &list), Choice::Bind);
    }
}
