//! `cotyledonctl top`: the status table, refreshed in place (as `pm2 monit`),
//! 80 columns wide. In a terminal it uses the alternate screen and reads keys
//! without echo: `q` or Ctrl-C ends it and the terminal is given back as it
//! was. Elsewhere (a pipe) it prints one frame per interval.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

use super::{Endpoint, request, show};

/// The terminal's settings before `top`, put back on drop.
struct RawMode(Termios);

impl RawMode {
    /// Keys one at a time, no echo, Ctrl-C as a key (so that the terminal is
    /// always restored).
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        raw.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}

/// Waits up to `d` for a key; returns whether it asks to quit.
fn quit_key_within(d: Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let end = Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let stdin = std::io::stdin();
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return false,
            Ok(_) => {
                let mut key = [0u8; 1];
                match nix::unistd::read(&stdin, &mut key) {
                    Ok(0) | Err(_) => return true,
                    Ok(_) if matches!(key[0], b'q' | b'Q' | 3 | 4) => return true,
                    Ok(_) => {}
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return true,
        }
    }
}

/// Runs `top`; returns the exit status.
pub(super) fn top(endpoint: &Endpoint, interval: Duration, count: Option<u64>) -> i32 {
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let raw = if terminal { RawMode::enter() } else { None };
    let mut out = std::io::stdout();
    if raw.is_some() {
        // The alternate screen, cursor hidden.
        let _ = out.write_all(b"\x1b[?1049h\x1b[?25l");
    }
    let mut frames = 0u64;
    let status = loop {
        let frame = match request(endpoint, "GET", "/status.txt") {
            Ok(r) if r.status == 200 => r.body,
            Ok(r) => format!("{} {}", r.status, r.body),
            Err(e) => format!("{}: {e}\n", show(endpoint)),
        };
        if raw.is_some() {
            let _ = out.write_all(b"\x1b[H\x1b[2J");
        }
        let when = humantime_utc();
        // Output processing is left on: "\n" is "\r\n" on the terminal.
        let keys = if raw.is_some() {
            "  q or Ctrl-C quits"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{frame}{when}  every {:.1}s{keys}",
            interval.as_secs_f64()
        );
        let _ = out.flush();
        frames += 1;
        if count.is_some_and(|c| frames >= c) {
            break 0;
        }
        if raw.is_some() {
            if quit_key_within(interval) {
                break 0;
            }
        } else {
            std::thread::sleep(interval);
        }
    };
    if raw.is_some() {
        let _ = out.write_all(b"\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
    }
    drop(raw);
    status
}

/// `HH:MM:SS UTC`, now.
fn humantime_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        day / 3600,
        (day % 3600) / 60,
        day % 60
    )
}
