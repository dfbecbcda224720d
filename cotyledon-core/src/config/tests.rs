//! Unit tests of the configuration file's reading: bounded, regular files only,
//! never blocking.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;

/// A temporary directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("cotyledon-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, serde::Deserialize)]
struct Settings {
    workers: usize,
}

#[test]
fn a_fifo_without_a_writer_is_refused_at_once() {
    let dir = Dir::new("fifo");
    let path = dir.0.join("app.toml");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let start = Instant::now();
    let err = Config::<Settings>::load(&path).expect_err("a FIFO");
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(&err, Error::ConfigNotRegular { kind: "FIFO", .. }),
        "{err:?}"
    );
    assert_eq!(reason(&err), "not a regular file but a FIFO");
}

#[test]
fn a_symlink_to_dev_zero_is_refused_without_reading() {
    let dir = Dir::new("zero");
    let path = dir.0.join("app.toml");
    std::os::unix::fs::symlink("/dev/zero", &path).expect("symlink");
    let err = Config::<Settings>::load(&path).expect_err("a device");
    assert!(
        matches!(
            &err,
            Error::ConfigNotRegular {
                kind: "character device",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_directory_is_refused() {
    let dir = Dir::new("dir");
    let err = Config::<Settings>::load(&dir.0).expect_err("a directory");
    assert!(
        matches!(
            &err,
            Error::ConfigNotRegular {
                kind: "directory",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_file_above_the_limit_is_refused_and_one_at_it_is_read() {
    let dir = Dir::new("large");
    let path = dir.0.join("app.toml");
    // Comments up to exactly the limit: read and parsed.
    let head = "workers = 3\n";
    let fill = MAX_CONFIG_BYTES as usize - head.len() - 2;
    let text = format!("{head}#{}\n", "x".repeat(fill));
    assert_eq!(text.len() as u64, MAX_CONFIG_BYTES);
    std::fs::write(&path, &text).expect("write");
    assert_eq!(
        Config::<Settings>::load(&path)
            .expect("at the limit")
            .get()
            .workers,
        3
    );
    // One byte more: refused, with the limit in the message.
    std::fs::write(&path, format!("{text} ")).expect("write");
    let err = Config::<Settings>::load(&path).expect_err("above the limit");
    assert!(
        matches!(&err, Error::ConfigTooLarge { limit, .. } if *limit == MAX_CONFIG_BYTES),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "configuration {}: larger than 1048576 bytes",
            path.display()
        )
    );
}

#[test]
fn the_read_itself_is_bounded() {
    // A file that grows after fstat is cut by the read: with a limit of 4, a
    // 5-byte file is refused even though only the bounded read sees it.
    let dir = Dir::new("bounded");
    let path = dir.0.join("app.toml");
    std::fs::write(&path, "12345").expect("write");
    assert!(matches!(
        read_text(&path, 4),
        Err(Error::ConfigTooLarge { limit: 4, .. })
    ));
    assert_eq!(read_text(&path, 5).expect("at the limit"), "12345");
}

#[test]
fn a_missing_or_non_utf8_file_is_a_config_error() {
    let dir = Dir::new("missing");
    let path = dir.0.join("app.toml");
    let err = Config::<Settings>::load(&path).expect_err("missing");
    assert!(matches!(&err, Error::Config { .. }), "{err:?}");
    std::fs::write(&path, b"workers = \xff\n").expect("write");
    let err = Config::<Settings>::load(&path).expect_err("not UTF-8");
    assert!(reason(&err).starts_with("not UTF-8 text"), "{err:?}");
}
