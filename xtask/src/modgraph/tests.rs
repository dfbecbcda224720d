//! `cargo xtask modgraph` on small made-up crates: each kind of reference makes
//! its edge, `#[path]` mounts put a file where rustc puts it, and a module with
//! its own ancestors or descendants is never a cycle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Options, check_with, graph, tree};

/// The crate of `files` (paths under `src/`).
fn crate_of(files: &[(&str, &str)]) -> impl Fn(&Path) -> Option<String> {
    let files: BTreeMap<PathBuf, String> = files
        .iter()
        .map(|(p, t)| (Path::new("src").join(p), t.to_string()))
        .collect();
    move |p: &Path| files.get(p).cloned()
}

/// The cycles of the crate, each as its modules `a::b`.
fn cycles(files: &[(&str, &str)]) -> Vec<Vec<String>> {
    cycles_with(files, false, false)
}

fn cycles_with(files: &[(&str, &str)], strict: bool, literal: bool) -> Vec<Vec<String>> {
    let read = crate_of(files);
    let tree = tree::load(Path::new("src/lib.rs"), Path::new("src"), &read);
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let graph = graph::build(&tree, literal);
    graph::cycles(&graph, strict)
        .iter()
        .map(|c| c.iter().map(|m| tree::show(m)).collect())
        .collect()
}

fn report(files: &[(&str, &str)]) -> (String, usize) {
    let read = crate_of(files);
    let o = check_with(
        Path::new("src/lib.rs"),
        Path::new("src"),
        Path::new("demo/src"),
        Options {
            edges: true,
            strict: false,
            literal: false,
        },
        &read,
    );
    (o.text, o.cycles)
}

#[test]
fn finds_a_cycle_through_a_path_mount_with_its_chain() {
    let files = [
        ("lib.rs", "mod a;\nmod b;\n"),
        // Mounted from a non-mod-rs file: relative to its directory, so
        // src/inner.rs (not src/a/inner.rs) is `a::inner`.
        ("a.rs", "#[path = \"inner.rs\"]\nmod inner;\n"),
        (
            "inner.rs",
            "//! x\n\nuse crate::b::X;\npub(crate) fn g() {}\n",
        ),
        (
            "b.rs",
            "pub(crate) struct X;\nfn f() {\n    crate::a::inner::g();\n}\n",
        ),
    ];
    assert_eq!(cycles(&files), [["a::inner", "b"]]);
    let (text, n) = report(&files);
    assert_eq!(n, 1);
    assert!(text.contains("cycle 1 of 1: 2 modules\n"), "{text}");
    assert!(text.contains("  a::inner  inner.rs\n"), "{text}");
    assert!(
        text.contains("    a::inner -> b   inner.rs:3 `crate::b::X`\n"),
        "{text}"
    );
    assert!(
        text.contains("    b -> a::inner   b.rs:3 `crate::a::inner::g`\n"),
        "{text}"
    );
}

#[test]
fn grouped_uses_make_edges() {
    let files = [
        ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("a.rs", "use crate::{c, b::{self, Y as Z}};\n"),
        ("b.rs", "pub(crate) struct Y;\n"),
        ("c.rs", "use crate::{a::*};\n"),
    ];
    assert_eq!(cycles(&files), [["a", "c"]]);
    // b is reached (a -> b) but reaches nothing back.
    let files = [
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "use crate::{b::{self, Y as Z}};\n"),
        ("b.rs", "use crate::{a::{}};\n"),
    ];
    assert!(cycles(&files).is_empty(), "an empty group imports nothing");
}

#[test]
fn super_and_self_chains_resolve_from_where_they_are_written() {
    let files = [
        ("lib.rs", "mod p;\nmod q;\n"),
        ("p/mod.rs", "mod child;\n"),
        ("p/child.rs", "mod grand;\n"),
        ("p/child/grand.rs", "use super::super::super::q::sub::Z;\n"),
        (
            "q.rs",
            "mod sub { fn f() { super::super::p::child::grand::h(); } }\n",
        ),
    ];
    assert_eq!(cycles(&files), [["p::child::grand", "q::sub"]]);
    // `self::` is the inline module it is written in: `self::Thing` is the
    // import of `p::inner`, so both references are edges p::inner -> q.
    let read = crate_of(&[
        ("lib.rs", "mod p;\nmod q;\n"),
        (
            "p.rs",
            "mod inner {\n    use crate::q::Thing;\n    fn f() { self::Thing::new(); }\n}\n",
        ),
        ("q.rs", "pub struct Thing;\n"),
    ]);
    let tree = tree::load(Path::new("src/lib.rs"), Path::new("src"), &read);
    let graph = graph::build(&tree, false);
    let edges: Vec<_> = graph
        .edges
        .iter()
        .map(|((a, b), e)| (tree::show(a), tree::show(b), e.line, e.count))
        .collect();
    assert_eq!(edges, [("p::inner".to_owned(), "q".to_owned(), 2, 2)]);
}

#[test]
fn a_module_with_its_ancestors_and_descendants_is_no_cycle() {
    let files = [
        (
            "lib.rs",
            "mod p;\npub use p::W;\nfn f() { p::child::g() }\n",
        ),
        (
            "p/mod.rs",
            "mod child;\npub struct W;\nfn f() { self::child::g(); child::grand::h() }\n",
        ),
        (
            "p/child.rs",
            "mod grand;\nuse super::W;\npub(crate) fn g() {}\n",
        ),
        (
            "p/child/grand.rs",
            "use crate::p::W;\nuse crate::W as V;\npub(crate) fn h() {}\n",
        ),
    ];
    assert!(cycles(&files).is_empty());
    let (text, n) = report(&files);
    assert_eq!(n, 0);
    assert!(
        text.ends_with("modgraph: no import cycle beyond parent/child\n"),
        "{text}"
    );
    assert!(
        text.contains("; 0 edges between modules not parent and child (7 references"),
        "{text}"
    );
}

#[test]
fn a_re_export_does_not_hide_an_edge() {
    let files = [
        (
            "lib.rs",
            "extern crate self as me;\nmod a;\nmod b;\npub use a::Foo;\n",
        ),
        ("a.rs", "pub struct Foo;\nfn f() { me::b::g() }\n"),
        ("b.rs", "use crate::Foo;\npub(crate) fn g() {}\n"),
    ];
    assert_eq!(cycles(&files), [["a", "b"]]);
    // Literally, `crate::Foo` is the root's: every module's ancestor.
    assert!(cycles_with(&files, false, true).is_empty());
}

#[test]
fn strict_mode_sees_a_cycle_through_a_parent_and_child_step() {
    // a -> p::c, p::c -> p (its parent), p -> a.
    let files = [
        ("lib.rs", "mod a;\nmod p;\n"),
        ("a.rs", "use crate::p::c::f;\n"),
        (
            "p/mod.rs",
            "mod c;\npub(crate) struct X;\nfn g() { crate::a::h() }\n",
        ),
        ("p/c.rs", "use super::X;\npub(crate) fn f() {}\n"),
    ];
    assert!(cycles(&files).is_empty());
    assert_eq!(cycles_with(&files, true, false), [["a", "p", "p::c"]]);
    // A module with its own children only is no cycle, strict or not.
    let files = [
        ("lib.rs", "mod p;\n"),
        (
            "p/mod.rs",
            "mod c;\npub(crate) struct X;\nfn g() { c::f() }\n",
        ),
        ("p/c.rs", "use super::X;\npub(crate) fn f() {}\n"),
    ];
    assert!(cycles_with(&files, true, false).is_empty());
}

#[test]
fn a_test_module_is_a_module_of_its_own() {
    // hooks' tests use the manager, which uses hooks: no cycle, since nothing
    // uses the tests.
    let files = [
        ("lib.rs", "mod hooks;\nmod manager;\n"),
        (
            "hooks.rs",
            "pub(crate) fn run() {}\n#[cfg(test)]\nmod tests {\n    use crate::manager::M;\n}\n",
        ),
        (
            "manager.rs",
            "pub(crate) struct M;\nfn f() { crate::hooks::run() }\n",
        ),
    ];
    assert!(cycles(&files).is_empty());
}

#[test]
fn reports_a_module_without_a_file() {
    let (text, n) = report(&[("lib.rs", "mod a;\n#[path = \"x/b.rs\"]\nmod b;\n")]);
    assert_eq!(n, 0);
    assert!(
        text.contains("warning: lib.rs:1: no file for `mod a`\n"),
        "{text}"
    );
    assert!(text.contains("warning: x/b.rs: cannot read it\n"), "{text}");
}

#[test]
fn says_which_files_no_module_reaches() {
    let dir = std::env::temp_dir().join(format!("modgraph-test-{}", std::process::id()));
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    write("lib.rs", "mod a;\n");
    write("a.rs", "");
    write("stray.rs", "use crate::a::X;\n");
    let outcome = super::check(&dir, Options::default());
    std::fs::remove_dir_all(&dir).unwrap();
    let outcome = outcome.unwrap();
    let lines: Vec<&str> = outcome.text.lines().collect();
    assert_eq!(
        lines[1], "warning: stray.rs is in no module: not read",
        "{lines:?}"
    );
    assert_eq!(outcome.cycles, 0);
}
