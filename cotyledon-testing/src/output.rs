//! Reading the output of the program under test: one thread per pipe turns it
//! into lines (any bytes: what is not UTF-8 is shown lossily), each stamped with
//! the moment the thread read it, or keeps it as bytes.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One line of output and when the reader thread read it.
pub(crate) type Line = (Instant, String);

/// Sends each line of `pipe` to `tx` until the pipe ends (every writer closed
/// it) or the receiver is gone.
pub(crate) fn send_lines(pipe: impl Read + Send + 'static, tx: Sender<Line>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send((Instant::now(), text_of_line(&buf))).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Appends everything `pipe` carries to `sink` until it ends; the receiver it
/// returns is disconnected then (it never receives anything).
pub(crate) fn collect_bytes(
    pipe: impl Read + Send + 'static,
    sink: Arc<Mutex<Vec<u8>>>,
) -> Receiver<()> {
    let (done, ended) = channel::<()>();
    std::thread::spawn(move || {
        let _done = done;
        let mut pipe = pipe;
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(&buf[..n]);
        }
    });
    ended
}

/// A line as read (with its `\n` or `\r\n`, or neither at the end of the output)
/// as text: the line ending removed, bytes that are not UTF-8 replaced by U+FFFD.
fn text_of_line(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    String::from_utf8_lossy(raw).into_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Duration;

    use super::*;

    #[test]
    fn line_endings_are_removed_and_bad_bytes_shown_lossily() {
        assert_eq!(text_of_line(b"INFO:app:ready\n"), "INFO:app:ready");
        assert_eq!(text_of_line(b"crlf\r\n"), "crlf");
        assert_eq!(
            text_of_line(b"no newline at the end"),
            "no newline at the end"
        );
        assert_eq!(text_of_line(b"\n"), "");
        assert_eq!(text_of_line(b"caf\xe9 \xff\n"), "caf\u{fffd} \u{fffd}");
    }

    #[test]
    fn a_line_that_is_not_utf8_does_not_end_the_reading() {
        let (tx, rx) = channel();
        send_lines(&b"one\n\xff\xfe\nthree"[..], tx);
        // The iterator ends when the thread drops its sender, at the pipe's end.
        let got: Vec<String> = rx.iter().map(|(_, line)| line).collect();
        assert_eq!(got, ["one", "\u{fffd}\u{fffd}", "three"]);
    }

    #[test]
    fn bytes_are_collected_as_they_are_and_the_end_is_told() {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let ended = collect_bytes(&b"raw \xff bytes\n"[..], sink.clone());
        assert_eq!(
            ended.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert_eq!(*sink.lock().unwrap(), b"raw \xff bytes\n");
    }
}
