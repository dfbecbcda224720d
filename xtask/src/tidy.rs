//! `cargo xtask tidy`: house rules for the source files, checked without compiling.
//!
//! Over every `*.rs` file of the project's own source directories (not the compiler
//! test inputs under `tests/ui/` and `tests/pass/`):
//! - the first line is a `//!` doc comment saying what the file is for (or, in a
//!   crate root, `#![doc = include_str!(…)]` of the README);
//! - the file has at most [`MAX_LINES`] lines;
//! - unsafe code (`unsafe {`, `unsafe fn`, `unsafe impl`, `unsafe trait`,
//!   `unsafe extern`) appears only under `cotyledon-core/src/sys/` (and in the
//!   scenarios' imitation of hostile user code, `examples/scenarios/hostile.rs`). The check is
//!   line based: comment lines (trimmed start `//`) are skipped, `unsafe_code` in
//!   lint attributes is not the `unsafe` keyword.
//!
//! The `tidy` test below runs the same check, so `cargo test --workspace` enforces it.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;

/// Source directories checked, relative to the project root.
const SOURCE_DIRS: &[&str] = &[
    "chaos/src",
    "cotyledon-core/src",
    "cotyledon-derive/src",
    "cotyledon-testing/src",
    "cotyledon-testing/tests",
    "examples",
    "xtask/src",
];

/// The only directory where unsafe code may live.
const UNSAFE_DIR: &str = "cotyledon-core/src/sys/";

/// The one file outside [`UNSAFE_DIR`] allowed unsafe code: the scenarios'
/// imitation of hostile user code (a plain `fork()` in a worker), which the
/// functional tests need and which no safe API offers.
const UNSAFE_SCENARIO: &str = "examples/scenarios/hostile.rs";

/// Longest file allowed, in lines.
const MAX_LINES: usize = 400;

/// The keyword, kept in a constant so that this file does not trip its own check.
const UNSAFE: &str = "unsafe";

/// What may follow `unsafe` and whitespace for it to count as unsafe code.
const UNSAFE_ITEMS: &[&str] = &["fn", "impl", "trait", "extern"];

/// One broken rule, shown as `path:line: message`.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    path: String,
    line: usize,
    message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

pub(crate) fn run() -> Result<(), String> {
    let violations = check_project(&project_root())?;
    for violation in &violations {
        println!("{violation}");
    }
    match violations.len() {
        0 => {
            println!("tidy: all files pass");
            Ok(())
        }
        n => Err(format!("tidy: {n} violation(s)")),
    }
}

/// Checks every source file under `root`; the violations come sorted by path.
fn check_project(root: &Path) -> Result<Vec<Violation>, String> {
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        collect_rs_files(&root.join(dir), &mut files)?;
    }
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file)
            .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
        let rel = file.strip_prefix(root).unwrap_or(file);
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        violations.extend(check_file(&rel, &text));
    }
    Ok(violations)
}

/// Adds the `*.rs` files under `dir` (recursively) to `files`, skipping compiler
/// test inputs (`tests/ui/`, `tests/pass/`). A missing `dir` adds nothing.
fn collect_rs_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    if !dir.is_dir() {
        return Ok(());
    }
    let entries =
        fs::read_dir(dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|err| format!("cannot stat {}: {err}", path.display()))?;
        if file_type.is_dir() {
            if !is_compiler_test_input(&path) {
                collect_rs_files(&path, files)?;
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// `.../tests/ui` and `.../tests/pass` hold trybuild inputs, not project code.
fn is_compiler_test_input(dir: &Path) -> bool {
    let name = dir.file_name().and_then(|n| n.to_str());
    let parent = dir
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str());
    matches!(name, Some("ui" | "pass")) && parent == Some("tests")
}

/// Checks one file, `path` being only used in the messages.
fn check_file(path: &str, text: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut violation = |line: usize, message: String| {
        violations.push(Violation {
            path: path.to_owned(),
            line,
            message,
        });
    };

    // A crate root may take its doc from the README instead.
    if !text.starts_with("//!") && !text.starts_with("#![doc = include_str!(") {
        violation(
            1,
            "first line must be a `//!` doc comment saying what the file is for".into(),
        );
    }

    let line_count = text.lines().count();
    if line_count > MAX_LINES {
        violation(
            MAX_LINES + 1,
            format!("file has {line_count} lines, more than the limit of {MAX_LINES}"),
        );
    }

    if !path.starts_with(UNSAFE_DIR) && path != UNSAFE_SCENARIO {
        for (i, line) in text.lines().enumerate() {
            if !line.trim_start().starts_with("//") && has_unsafe_code(line) {
                violation(
                    i + 1,
                    format!("`{UNSAFE}` code outside {UNSAFE_DIR} (move it into a `sys` module)"),
                );
            }
        }
    }
    violations
}

/// Whether `line` has the word `unsafe` followed by `{` or by one of [`UNSAFE_ITEMS`].
fn has_unsafe_code(line: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(UNSAFE).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = &line[at + UNSAFE.len()..];
        if before.is_some_and(is_ident) || after.starts_with(is_ident) {
            return false; // part of a longer word, like `unsafe_code`
        }
        let rest = after.trim_start();
        let spaced = rest.len() < after.len();
        rest.starts_with('{')
            || (spaced
                && UNSAFE_ITEMS.iter().any(|item| {
                    rest.strip_prefix(item)
                        .is_some_and(|tail| !tail.starts_with(is_ident))
                }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The project itself follows the rules.
    #[test]
    fn tidy() {
        let violations = check_project(&project_root()).unwrap();
        let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert!(
            violations.is_empty(),
            "tidy found {} violation(s) (see `cargo xtask tidy`):\n{}",
            violations.len(),
            listed.join("\n")
        );
    }

    /// cotyledon-core's modules import each other without cycles, but for a
    /// module and its own ancestors and descendants (`cargo xtask modgraph`).
    /// The core's modules import each other without cycles, but for a module
    /// and its own children (issue 17; `cargo xtask modgraph` prints them).
    #[test]
    fn core_has_no_import_cycles() {
        let options = crate::modgraph::Options {
            edges: true,
            strict: false,
            literal: false,
        };
        let outcome = crate::modgraph::check(&crate::modgraph::core_src(), options).unwrap();
        assert_eq!(outcome.cycles, 0, "\n{}", outcome.text);
    }

    #[test]
    fn finds_the_checked_files() {
        let mut files = Vec::new();
        collect_rs_files(&project_root().join("xtask/src"), &mut files).unwrap();
        assert!(files.iter().any(|f| f.ends_with("tidy.rs")));
    }

    #[test]
    fn skips_compiler_test_inputs() {
        assert!(is_compiler_test_input(Path::new("cotyledon-core/tests/ui")));
        assert!(is_compiler_test_input(Path::new("a/tests/pass")));
        assert!(!is_compiler_test_input(Path::new("a/src/ui")));
        assert!(!is_compiler_test_input(Path::new("a/tests/functional")));
    }

    #[test]
    fn wants_a_doc_comment_first() {
        assert!(check_file("a.rs", "//! A file.\nfn f() {}\n").is_empty());
        let found = check_file("a.rs", "// A file.\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 1);
        assert_eq!(check_file("a.rs", "").len(), 1);
    }

    #[test]
    fn limits_the_length() {
        let ok = format!("//! A file.\n{}", "\n".repeat(MAX_LINES - 1));
        assert!(check_file("a.rs", &ok).is_empty());
        let long = format!("{ok}fn f() {{}}\n");
        let found = check_file("a.rs", &long);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].to_string().split(':').nth(1), Some("401"));
    }

    #[test]
    fn recognises_unsafe_code() {
        for code in [
            format!("let x = {UNSAFE} {{ f() }};"),
            format!("{UNSAFE}{{ f() }}"),
            format!("pub {UNSAFE} fn f() {{}}"),
            format!("{UNSAFE} impl Send for X {{}}"),
            format!("{UNSAFE} extern \"C\" {{"),
        ] {
            assert!(has_unsafe_code(&code), "{code}");
        }
        for code in [
            "#![deny(unsafe_code)]".to_string(),
            "#[allow(unsafe_code)]".to_string(),
            format!("let not_{UNSAFE} = {UNSAFE}_fn();"),
            format!("{UNSAFE}fn()"),
            format!("{UNSAFE} fnord"),
        ] {
            assert!(!has_unsafe_code(&code), "{code}");
        }
    }

    #[test]
    fn allows_unsafe_code_only_in_sys_and_comments() {
        let text = format!(
            "//! A file.\n// {UNSAFE} {{ in a comment }}\nfn f() {{ {UNSAFE} {{ g() }} }}\n"
        );
        assert!(check_file("cotyledon-core/src/sys/fd.rs", &text).is_empty());
        let found = check_file("cotyledon-core/src/lib.rs", &text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 3);
    }
}
