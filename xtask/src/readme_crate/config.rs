//! The README's configuration example, checked as a new user lives it: its own
//! `[dependencies]` lines (so a `#[derive(Deserialize)]` compiles with exactly
//! what the README says to write) and its program, built as an outside crate,
//! then run once in a directory holding the README's broken `consumer.toml`. It
//! must exit with status 1 and print, on stderr, exactly the README's failure
//! block: what `fn main() -> Result<(), BoxError>` shows of a `cotyledon::Error`.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{check_dependencies, marked_block};

/// How long the program may take to fail (it fails before forking).
const DEADLINE: Duration = Duration::from_secs(30);

/// What the step takes from the README's "Configuration reload" section.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Example {
    pub(super) dependencies: String,
    pub(super) main: String,
    /// The broken `consumer.toml`.
    file: String,
    /// The program's stderr with that file.
    failure: String,
}

/// Finds the `config …` blocks of `readme`.
pub(super) fn extract(readme: &str) -> Result<Example, String> {
    let block = |name: &str| {
        marked_block(readme, &format!("config {name}")).ok_or_else(|| {
            format!("README.md has no fenced block after `<!-- readme-crate: config {name} -->`")
        })
    };
    let dependencies = block("Cargo.toml")?;
    check_dependencies(&dependencies)?;
    Ok(Example {
        dependencies,
        main: block("src/main.rs")?,
        file: block("consumer.toml")?,
        failure: block("failure")?,
    })
}

/// Runs `binary` in `dir` next to the README's `consumer.toml`; checks its exit
/// status (1) and its stderr (the failure block, trailing blank lines aside).
pub(super) fn check(binary: &Path, dir: &Path, example: &Example) -> Result<(), String> {
    eprintln!(
        "\nreadme-crate: run {} with the README's broken consumer.toml",
        binary.display()
    );
    fs::write(dir.join("consumer.toml"), &example.file)
        .map_err(|err| format!("could not write consumer.toml: {err}"))?;
    let mut child = Command::new(binary)
        .current_dir(dir)
        .env_remove("COTYLEDON_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|err| format!("could not start {}: {err}", binary.display()))?;
    let mut stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                // Still running (it did not fail) or not waitable: the group goes.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                return Err(format!(
                    "the configuration example did not exit within {DEADLINE:?} with a broken consumer.toml"
                ));
            }
        }
    };
    let printed = reader.join().map_err(|_| "the stderr reader panicked")?;
    if status.code() != Some(1) {
        return Err(format!(
            "the configuration example ended with {status}, not status 1; it printed:\n{printed}"
        ));
    }
    if printed.trim_end() != example.failure.trim_end() {
        return Err(format!(
            "the configuration example printed:\n{printed}\nnot what the README shows:\n{}",
            example.failure
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_config_blocks() {
        let readme = "\
<!-- readme-crate: config Cargo.toml -->
```toml
[dependencies]
serde = \"1\"
```
<!-- readme-crate: config src/main.rs -->
```rust,ignore
fn main() {}
```
<!-- readme-crate: config consumer.toml -->
```toml
workers = \"four\"
```
<!-- readme-crate: config failure -->
```text
Error: configuration consumer.toml: bad
```
";
        let example = extract(readme).expect("every block");
        assert_eq!(example.main, "fn main() {}\n");
        assert_eq!(example.file, "workers = \"four\"\n");
        assert_eq!(example.failure, "Error: configuration consumer.toml: bad\n");
        let err = extract(&readme.replace("config failure", "other")).unwrap_err();
        assert!(err.contains("config failure"), "{err}");
    }
}
