//! `cargo xtask readme-crate`: the README's first contact, checked as a new user
//! lives it. The README's `[dependencies]` lines and its complete example become a
//! new crate in a temporary directory, outside this workspace; it is built, run,
//! and stopped with SIGTERM and then, in a second run, with SIGINT. Each run must
//! print the output the README shows, end with the exit status the README says,
//! and leave no process of its group behind.
//!
//! The README marks what is taken with HTML comments (invisible on a rendered
//! page), each right before a fenced block:
//! - `<!-- readme-crate: Cargo.toml -->`: the `[dependencies]` lines. The value
//!   of `path = "…"` on the `cotyledon` line is replaced with this workspace's
//!   `cotyledon-core`; everything else is used as written.
//! - `<!-- readme-crate: src/main.rs -->`: the program, as written.
//! - `<!-- readme-crate: running -->`, `<!-- readme-crate: sigterm -->` and
//!   `<!-- readme-crate: sigint -->`: output lines. Each line shown must be printed
//!   (in any order, pids aside) while the program runs, after SIGTERM, and after
//!   SIGINT. Lines starting with `$` are commands, not output.
//!
//! - `<!-- readme-crate: config Cargo.toml -->`, `config src/main.rs`,
//!   `config consumer.toml` and `config failure`: the configuration example, a
//!   second crate built with its own dependency lines, run once with that broken
//!   `consumer.toml`; it must exit 1 printing the failure block (see `config`).
//!
//! The crate is built with the workspace's `Cargo.lock` (copied), so it uses the
//! versions the workspace is tested with and needs no registry access once those
//! crates are downloaded, and with `-D warnings`: a pasted example must compile
//! cleanly. Its target directory is `target/readme-crate`, kept between runs.

mod config;
mod run;

use std::fs;
use std::path::{Path, PathBuf};

use crate::{project_root, run_cmd};

/// The package name of the generated crate: its log lines' target.
const PACKAGE: &str = "consumer";

/// The marker before each block the step takes.
const MARK: &str = "<!-- readme-crate: ";

/// What the step takes from the README.
#[derive(Debug, PartialEq, Eq)]
struct Readme {
    dependencies: String,
    main: String,
    running: Vec<String>,
    sigterm: Vec<String>,
    sigint: Vec<String>,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    crate::no_args("readme-crate", args)?;
    let root = project_root();
    let text = fs::read_to_string(root.join("README.md"))
        .map_err(|err| format!("could not read README.md: {err}"))?;
    let readme = extract(&text)?;
    let example = config::extract(&text)?;
    let dir = TempDir::new("main")?;
    write_crate(&dir.0, &root, &readme.dependencies, &readme.main)?;
    let binary = build(&dir.0, &root)?;
    run::check(&binary, "SIGTERM", &readme.running, &readme.sigterm, 0)?;
    run::check(&binary, "SIGINT", &readme.running, &readme.sigint, 1)?;
    let dir = TempDir::new("config")?;
    write_crate(&dir.0, &root, &example.dependencies, &example.main)?;
    let binary = build(&dir.0, &root)?;
    config::check(&binary, &dir.0, &example)?;
    println!(
        "readme-crate: the README's examples build as outside crates, print their lines and exit as documented"
    );
    Ok(())
}

/// Builds the crate in `dir` (target `target/readme-crate`, `-D warnings`);
/// returns its binary.
fn build(dir: &Path, root: &Path) -> Result<PathBuf, String> {
    let target = root.join("target").join("readme-crate");
    let mut build =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build
        .args(["build", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-D warnings");
    run_cmd(&mut build)?;
    Ok(target.join("debug").join(PACKAGE))
}

/// Finds the marked blocks of `readme`.
fn extract(readme: &str) -> Result<Readme, String> {
    let block = |name: &str| {
        marked_block(readme, name)
            .ok_or_else(|| format!("README.md has no fenced block after `{MARK}{name} -->`"))
    };
    let dependencies = block("Cargo.toml")?;
    check_dependencies(&dependencies)?;
    let output = |name: &str| -> Result<Vec<String>, String> {
        let lines: Vec<String> = block(name)?
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('$'))
            .map(run::mask_pids)
            .collect();
        if lines.is_empty() {
            return Err(format!("the README's `{name}` output block is empty"));
        }
        Ok(lines)
    };
    Ok(Readme {
        dependencies,
        main: block("src/main.rs")?,
        running: output("running")?,
        sigterm: output("sigterm")?,
        sigint: output("sigint")?,
    })
}

/// A dependencies block starts with `[dependencies]`.
fn check_dependencies(dependencies: &str) -> Result<(), String> {
    if dependencies.lines().next().map(str::trim) != Some("[dependencies]") {
        return Err("the README's Cargo.toml blocks must start with `[dependencies]`".to_owned());
    }
    Ok(())
}

/// The body of the first fenced block after the marker `name`.
fn marked_block(readme: &str, name: &str) -> Option<String> {
    let marker = format!("{MARK}{name} -->");
    let mut lines = readme.lines().skip_while(|line| line.trim() != marker);
    lines.next()?;
    let fence = lines.find(|line| line.trim_start().starts_with("```"))?;
    let fence = fence.trim_start();
    let ticks = fence.len() - fence.trim_start_matches('`').len();
    let close = "`".repeat(ticks);
    let mut body = String::new();
    for line in lines {
        if line.trim() == close {
            return Some(body);
        }
        body.push_str(line);
        body.push('\n');
    }
    None
}

/// The README's dependency lines, with the `cotyledon` line's `path` pointing at
/// `core`.
fn dependencies_for(dependencies: &str, core: &Path) -> Result<String, String> {
    let mut out = String::new();
    let mut found = false;
    for line in dependencies.lines() {
        if line.trim_start().starts_with("cotyledon ")
            || line.trim_start().starts_with("cotyledon=")
        {
            let (before, rest) = line.split_once("path = \"").ok_or(
                "the README's `cotyledon = …` line must use `path = \"…\"` (the step points it at this workspace)",
            )?;
            let (_, after) = rest
                .split_once('"')
                .ok_or("unterminated `path` in the README's `cotyledon` line")?;
            let core = core.to_str().ok_or("the workspace path is not UTF-8")?;
            out.push_str(&format!("{before}path = {core:?}{after}\n"));
            found = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if found {
        Ok(out)
    } else {
        Err("the README's `[dependencies]` block has no `cotyledon = …` line".to_owned())
    }
}

/// Writes `Cargo.toml`, `Cargo.lock` and `src/main.rs` of a new crate in `dir`.
fn write_crate(dir: &Path, root: &Path, dependencies: &str, main: &str) -> Result<(), String> {
    let dependencies = dependencies_for(dependencies, &root.join("cotyledon-core"))?;
    let manifest = format!(
        "[package]\nname = \"{PACKAGE}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n{dependencies}"
    );
    let write = |path: PathBuf, text: &str| {
        fs::write(&path, text).map_err(|err| format!("could not write {}: {err}", path.display()))
    };
    fs::create_dir_all(dir.join("src"))
        .map_err(|err| format!("could not create the crate: {err}"))?;
    write(dir.join("Cargo.toml"), &manifest)?;
    write(dir.join("src").join("main.rs"), main)?;
    fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))
        .map_err(|err| format!("could not copy Cargo.lock: {err}"))?;
    eprintln!(
        "readme-crate: a new crate in {}:\n{manifest}",
        dir.display()
    );
    Ok(())
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!(
            "cotyledon-readme-crate-{tag}-{}",
            std::process::id()
        ));
        // A leftover of a killed run with the same pid.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .map_err(|err| format!("could not create {}: {err}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "\
# Title

<!-- readme-crate: Cargo.toml -->
```toml
[dependencies]
cotyledon = { package = \"cotyledon-core\", path = \"../cotyledon-rs/cotyledon-core\", features = [\"logger\"] }
log = \"0.4\"
```

<!-- readme-crate: src/main.rs -->
```rust,no_run
fn main() {}
```

<!-- readme-crate: running -->
```text
$ cargo run
INFO:consumer:worker 0 polls its queue
```
<!-- readme-crate: sigterm -->
```text
INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service consumer(0) [4242]
INFO:cotyledon::manager:Child 4242 exited with status 0
```
<!-- readme-crate: sigint -->
````text
INFO:cotyledon::manager:Caught SIGINT signal, instantaneous exiting
````
";

    #[test]
    fn extracts_the_marked_blocks() {
        let readme = extract(README).expect("every block");
        assert!(
            readme
                .dependencies
                .starts_with("[dependencies]\ncotyledon = ")
        );
        assert_eq!(readme.main, "fn main() {}\n");
        assert_eq!(readme.running, ["INFO:consumer:worker 0 polls its queue"]);
        assert_eq!(
            readme.sigterm,
            [
                "INFO:cotyledon::worker:Caught SIGTERM signal, graceful exiting of service consumer(0) [PID]",
                "INFO:cotyledon::manager:Child PID exited with status 0",
            ]
        );
        assert_eq!(readme.sigint.len(), 1);
    }

    #[test]
    fn a_missing_block_is_an_error() {
        let err = extract(&README.replace("readme-crate: sigint", "other")).unwrap_err();
        assert!(err.contains("readme-crate: sigint"), "{err}");
    }

    #[test]
    fn the_path_points_at_the_workspace() {
        let readme = extract(README).expect("every block");
        let deps = dependencies_for(&readme.dependencies, Path::new("/w/cotyledon-core"))
            .expect("a path line");
        assert_eq!(
            deps,
            "[dependencies]\ncotyledon = { package = \"cotyledon-core\", path = \"/w/cotyledon-core\", features = [\"logger\"] }\nlog = \"0.4\"\n"
        );
        let git = "[dependencies]\ncotyledon = { package = \"cotyledon-core\", git = \"x\" }\n";
        assert!(dependencies_for(git, Path::new("/w")).is_err());
    }

    #[test]
    fn the_project_readme_has_every_block() {
        let text = fs::read_to_string(project_root().join("README.md")).expect("README.md");
        let readme = extract(&text).expect("the README's marked blocks");
        dependencies_for(&readme.dependencies, Path::new("/w")).expect("a path line");
        let example = config::extract(&text).expect("the configuration example's blocks");
        dependencies_for(&example.dependencies, Path::new("/w")).expect("a path line");
    }
}
