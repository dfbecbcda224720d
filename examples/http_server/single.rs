//! `http_server --single-process`: the same handler with no `ServiceManager`, for
//! `cargo xtask load` to measure what the manager costs. One process binds the
//! socket as `manager.listen` does (TCP, `SO_REUSEADDR`, backlog
//! [`Listen::DEFAULT_BACKLOG`], close-on-exec, then non-blocking) and runs N threads, each
//! the accept loop of a worker (`accept.rs`), with the same per-connection threads.
//!
//! Nothing drains: SIGTERM and SIGINT keep their default action and end the
//! process at once.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use cotyledon::{BoxError, Listen};
use log::info;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt, socket,
    sockopt,
};

use crate::accept::Acceptor;
use crate::drain::Drain;

/// Serves on `addr` with `threads` accept loops, answering with `version`, until
/// the process is killed.
pub(crate) fn serve(addr: SocketAddr, threads: usize, version: &str) -> Result<(), BoxError> {
    let listener = bind_like_the_manager(addr)?;
    listener.set_nonblocking(true)?;
    info!("http_server on http://{addr}: one process, {threads} accept threads");
    // Never started: it only counts connections here.
    let drain = Arc::new(Drain::new()?);
    std::thread::scope(|scope| {
        let loops: Vec<_> = (0..threads)
            .map(|i| {
                // As long as a worker's `worker I pid P version V`.
                let hello = format!("thread {i} pid {} version {version}\n", std::process::id());
                let acceptor = Acceptor::new(hello, drain.clone());
                let listener = &listener;
                std::thread::Builder::new()
                    .name(format!("accept {i}"))
                    .spawn_scoped(scope, move || {
                        info!("http thread {i} serving");
                        acceptor.serve(listener)
                    })
            })
            .collect::<Result<_, _>>()?;
        for handle in loops {
            handle.join().map_err(|_| "an accept thread panicked")??;
        }
        Ok(())
    })
}

/// A listening TCP socket made as `manager.listen(Listen::tcp(addr))` makes it.
fn bind_like_the_manager(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    let backlog = i32::try_from(Listen::DEFAULT_BACKLOG).unwrap_or(i32::MAX);
    listen(&fd, Backlog::new(backlog)?)?;
    Ok(TcpListener::from(fd))
}
