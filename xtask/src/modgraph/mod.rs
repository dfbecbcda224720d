//! `cargo xtask modgraph [--edges] [--strict] [--literal] [--src DIR]`: the import cycles of
//! cotyledon-core (or of the crate whose `lib.rs` is in `DIR`), beyond a module
//! and its own children.
//!
//! Reads every file of the crate's module tree without compiling (`tree`: which
//! file is which module, `#[path]` mounts included; `parse`: the `use`s, grouped
//! or not, and the `crate::`/`super::`/`self::` paths in code; `graph`: what module
//! each reaches). An edge A → B means A names an item of B. Edges between a module
//! and its ancestors or descendants are allowed: a child uses its parent's items,
//! a parent its children's. What remains must have no cycle: the task prints
//! each strongly connected component (its modules and files, and one cycle
//! through it with the file:line of each step) and fails if there is one.
//! `--edges` also lists every edge inside each component, with how many
//! references make it: the list to cut from. `--strict` keeps the parent/child
//! edges in the graph and reports each component that also holds another edge:
//! it sees the cycles that pass through a parent/child step (A -> P::c, P::c ->
//! P, P -> A), which the default rule lets through. `--literal` stops each path
//! at its longest module prefix as written, without following re-exports (see
//! `graph`): `crate::manager::ManagerHandle` is then an edge to `manager`, not to
//! `manager::handle` where the type is.
//!
//! It reads the source, not the compiler's view: items a macro generates, and
//! names reached through a glob re-export (`pub use x::*`) stop at the module that
//! re-exports them. Every `cfg` counts (a feature's modules are in the graph).

mod graph;
mod lex;
mod parse;
mod tree;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;
use tree::show;

/// What one check found, printable.
pub(crate) struct Outcome {
    /// The report, lines ending in `\n`.
    pub(crate) text: String,
    /// How many cycles (strongly connected components) remain.
    pub(crate) cycles: usize,
    /// The files read, as the report names them.
    files: BTreeSet<String>,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut options = Options::default();
    let mut src = core_src();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--edges" => options.edges = true,
            "--strict" => options.strict = true,
            "--literal" => options.literal = true,
            "--src" => {
                let dir = it.next().ok_or("`--src` needs a directory")?;
                src = project_root().join(dir);
            }
            other => {
                return Err(format!(
                    "`modgraph` takes --edges, --strict, --literal and --src DIR, got `{other}`"
                ));
            }
        }
    }
    let outcome = check(&src, options)?;
    print!("{}", outcome.text);
    match outcome.cycles {
        0 => Ok(()),
        n => Err(format!("modgraph: {n} import cycle(s) beyond parent/child")),
    }
}

/// How to check and what to show.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Options {
    /// List every edge inside each cycle.
    pub(crate) edges: bool,
    /// Keep the parent/child edges (see the module documentation).
    pub(crate) strict: bool,
    /// Do not follow re-exports (see the module documentation).
    pub(crate) literal: bool,
}

/// Checks the crate whose root is `src/lib.rs` on the file system.
pub(crate) fn check(src: &Path, options: Options) -> Result<Outcome, String> {
    let root = src.join("lib.rs");
    if !root.is_file() {
        return Err(format!("{}: no such file", root.display()));
    }
    let shown = src
        .strip_prefix(project_root())
        .unwrap_or(src)
        .to_path_buf();
    let mut outcome = check_with(&root, src, &shown, options, &|p| fs::read_to_string(p).ok());
    // A file no `mod` reaches is not read: say so, rather than pass over it.
    let mut files = Vec::new();
    rs_files(src, &mut files);
    let unread: Vec<String> = files
        .iter()
        .filter(|f| !outcome.files.contains(&tree::display(f, src)))
        .map(|f| {
            format!(
                "warning: {} is in no module: not read\n",
                tree::display(f, src)
            )
        })
        .collect();
    outcome.text.insert_str(
        outcome.text.find('\n').map_or(0, |n| n + 1),
        &unread.concat(),
    );
    Ok(outcome)
}

/// The `*.rs` files under `dir`, recursively.
fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Checks the crate at `root`, naming its files relative to `base` and the
/// crate as `name`; `read` gives a file's text.
fn check_with(
    root: &Path,
    base: &Path,
    name: &Path,
    options: Options,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Outcome {
    let Options {
        edges,
        strict,
        literal,
    } = options;
    let tree = tree::load(root, base, read);
    let graph = graph::build(&tree, literal);
    let cycles = graph::cycles(&graph, strict);
    let read_files: BTreeSet<String> = tree.modules.values().flatten().cloned().collect();
    let files = read_files.len();
    let mut text = String::new();
    let mut w = |s: String| text.push_str(&s);
    w(format!(
        "modgraph: {}: {} modules in {files} files; {} edges between modules not parent \
         and child ({} references between a module and its ancestor or descendant allowed)\n",
        name.display(),
        tree.modules.len(),
        graph.edges.len(),
        graph.family.values().map(|e| e.count).sum::<usize>()
    ));
    for problem in &tree.problems {
        w(format!("warning: {problem}\n"));
    }
    for (n, component) in cycles.iter().enumerate() {
        w(format!(
            "\ncycle {} of {}: {} modules\n",
            n + 1,
            cycles.len(),
            component.len()
        ));
        let width = component.iter().map(|m| show(m).len()).max().unwrap_or(0);
        for module in component {
            let files = tree
                .modules
                .get(module)
                .map(|f| f.join(", "))
                .unwrap_or_default();
            w(format!("  {:width$}  {files}\n", show(module)));
        }
        w("  one cycle through it:\n".to_owned());
        for (a, b) in graph::example_cycle(&graph, strict, component) {
            let Some(e) = graph.edge(&a, &b, strict) else {
                continue;
            };
            w(format!(
                "    {} -> {}   {}:{} `{}`{}\n",
                show(&a),
                show(&b),
                e.file,
                e.line,
                e.written,
                family_mark(&graph, &a, &b)
            ));
        }
        if edges {
            let family = graph.family.iter().filter(|_| strict);
            let inside: Vec<_> = graph
                .edges
                .iter()
                .chain(family)
                .filter(|((a, b), _)| component.contains(a) && component.contains(b))
                .collect();
            w(format!("  every edge inside it ({}):\n", inside.len()));
            for ((a, b), e) in inside {
                let mut line = format!(
                    "    {} -> {}   {}:{} `{}`",
                    show(a),
                    show(b),
                    e.file,
                    e.line,
                    e.written
                );
                if e.count > 1 {
                    let _ = write!(line, " (+{} more)", e.count - 1);
                }
                line.push_str(family_mark(&graph, a, b));
                w(line + "\n");
            }
        }
    }
    if cycles.is_empty() {
        w("modgraph: no import cycle beyond parent/child\n".to_owned());
    } else {
        w(format!(
            "\nmodgraph: {} cycle(s) beyond parent/child{}\n",
            cycles.len(),
            if edges {
                ""
            } else {
                " (--edges lists every edge inside each)"
            }
        ));
    }
    Outcome {
        text,
        cycles: cycles.len(),
        files: read_files,
    }
}

/// How the report marks a parent/child edge (shown with `--strict` only).
fn family_mark(graph: &graph::Graph, a: &tree::ModPath, b: &tree::ModPath) -> &'static str {
    if graph.edges.contains_key(&(a.clone(), b.clone())) {
        ""
    } else {
        " [parent/child]"
    }
}

/// The `src` directory of cotyledon-core.
pub(crate) fn core_src() -> PathBuf {
    project_root().join("cotyledon-core").join("src")
}

#[cfg(test)]
mod tests;
