//! From files to modules, the way rustc finds them: from the crate root, each
//! `mod x;` in a "mod-rs" file (the root, a `mod.rs`, or a file mounted with
//! `#[path]`) at `dir/` is `dir/x.rs` or `dir/x/mod.rs`; in another file
//! `dir/f.rs` it is `dir/f/x.rs` or `dir/f/x/mod.rs`; inline modules add a
//! directory each; `#[path = "p"]` is relative to the declaring file's directory
//! (inside inline modules, to the directory the module would have). A module
//! declared twice under different `cfg`s (one `#[path]` per platform) is one
//! module with two files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::lex::lex;
use super::parse::{Parsed, PathRef, parse};

/// A module's path from the crate root (`[]` is the root).
pub(super) type ModPath = Vec<String>;

/// A reference and where it is.
#[derive(Debug, Clone)]
pub(super) struct Located {
    pub(super) file: String,
    pub(super) item: PathRef,
}

/// Every module of a crate and what each refers to.
#[derive(Debug, Default)]
pub(super) struct Tree {
    /// Each module and the files that hold it (an inline module: its file's).
    pub(super) modules: BTreeMap<ModPath, Vec<String>>,
    /// The references of each module, in file order.
    pub(super) refs: BTreeMap<ModPath, Vec<Located>>,
    /// `extern crate self as NAME`.
    pub(super) self_alias: Option<String>,
    /// Problems met: a declared module without a file, a file read twice.
    pub(super) problems: Vec<String>,
}

/// Reads the crate whose root file is `root` (`…/src/lib.rs`), naming files
/// relative to `base`; `read` gives a file's text, `None` if it does not exist.
pub(super) fn load(root: &Path, base: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Tree {
    let mut tree = Tree::default();
    let mut queue = vec![(root.to_path_buf(), ModPath::new(), true)];
    let mut seen = BTreeSet::new();
    while let Some((file, module, mod_rs)) = queue.pop() {
        let shown = display(&file, base);
        if !seen.insert(file.clone()) {
            tree.problems.push(format!("{shown} is mounted twice"));
            continue;
        }
        let Some(text) = read(&file) else {
            tree.problems.push(format!("{shown}: cannot read it"));
            continue;
        };
        tree.modules
            .entry(module.clone())
            .or_default()
            .push(shown.clone());
        let parsed: Parsed = parse(&lex(&text));
        if parsed.self_alias.is_some() {
            tree.self_alias = parsed.self_alias.clone();
        }
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        // Where the modules of this file's inline scope `[]` have their files.
        let own_dir = if mod_rs {
            dir.clone()
        } else {
            dir.join(file.file_stem().unwrap_or_default())
        };
        for decl in &parsed.mods {
            let mut path = module.clone();
            path.extend(decl.scope.iter().cloned());
            path.push(decl.name.clone());
            if decl.inline {
                tree.modules.entry(path).or_default().push(shown.clone());
                continue;
            }
            let scope_dir = decl.scope.iter().fold(own_dir.clone(), |d, s| d.join(s));
            let found = match &decl.path_attr {
                // Relative to the file's directory outside inline modules.
                Some(p) if decl.scope.is_empty() => Some((normalize(&dir.join(p)), true)),
                Some(p) => Some((normalize(&scope_dir.join(p)), true)),
                None => {
                    let flat = scope_dir.join(format!("{}.rs", decl.name));
                    let nested = scope_dir.join(&decl.name).join("mod.rs");
                    if read(&flat).is_some() {
                        Some((flat, false))
                    } else if read(&nested).is_some() {
                        Some((nested, true))
                    } else {
                        None
                    }
                }
            };
            match found {
                Some((file, mod_rs)) => queue.push((file, path, mod_rs)),
                None => tree.problems.push(format!(
                    "{shown}:{}: no file for `mod {}`",
                    decl.line, decl.name
                )),
            }
        }
        for item in parsed.refs {
            let mut owner = module.clone();
            owner.extend(item.scope.iter().cloned());
            tree.refs.entry(owner).or_default().push(Located {
                file: shown.clone(),
                item,
            });
        }
    }
    tree
}

/// `a/b/../c/./d.rs` as `a/c/d.rs`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `file` relative to `base`, with `/` separators.
pub(super) fn display(file: &Path, base: &Path) -> String {
    let rel = file.strip_prefix(base).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The module path as `a::b` (`crate` for the root).
pub(super) fn show(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let files: BTreeMap<PathBuf, String> = files
            .iter()
            .map(|(p, t)| (PathBuf::from("src").join(p), t.to_string()))
            .collect();
        load(Path::new("src/lib.rs"), Path::new("src"), &|p| {
            files.get(p).cloned()
        })
    }

    fn modules(t: &Tree) -> Vec<(String, String)> {
        t.modules
            .iter()
            .map(|(m, f)| (show(m), f.join(",")))
            .collect()
    }

    #[test]
    fn finds_files_the_way_rustc_does() {
        let t = tree(&[
            ("lib.rs", "mod a; mod b; mod c { mod d; }"),
            ("a.rs", "mod x; #[path = \"y_impl.rs\"] mod y;"),
            ("a/x.rs", ""),
            ("y_impl.rs", "mod z;"),
            ("z.rs", ""),
            ("b/mod.rs", "mod w;"),
            ("b/w.rs", ""),
            ("c/d.rs", ""),
        ]);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(
            modules(&t),
            [
                ("crate", "lib.rs"),
                ("a", "a.rs"),
                ("a::x", "a/x.rs"),
                ("a::y", "y_impl.rs"),
                ("a::y::z", "z.rs"),
                ("b", "b/mod.rs"),
                ("b::w", "b/w.rs"),
                ("c", "lib.rs"),
                ("c::d", "c/d.rs"),
            ]
            .map(|(m, f)| (m.to_owned(), f.to_owned()))
        );
    }

    #[test]
    fn reports_missing_files_and_normalizes_paths() {
        let t = tree(&[
            ("lib.rs", "mod gone;\nmod m;"),
            ("m/mod.rs", "#[path = \"../n.rs\"] mod n;"),
            ("n.rs", ""),
        ]);
        assert_eq!(t.problems, ["lib.rs:1: no file for `mod gone`"]);
        assert_eq!(t.modules[&vec!["m".to_owned(), "n".to_owned()]], ["n.rs"]);
    }
}
