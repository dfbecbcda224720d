//! From references to module edges, and the cycles among them.
//!
//! A reference starts from `crate` (or the crate's `extern crate self` name),
//! `self`, `super`…, a child module of the module it is in, or a name that one of
//! that module's `use`s (or a module it glob-imports) binds. Its target is the
//! longest prefix that is a module; when the rest names something that module
//! only imports (`crate::Foo` from the root's `pub use manager::Foo`), the
//! import is followed to where it leads, so that routing a use through a
//! re-export does not hide an edge (unless `literal`: then the target is the
//! longest module prefix as written). Paths of other crates lead nowhere.
//!
//! Edges between a module and one of its ancestors or descendants are allowed
//! and dropped (a child uses its parent's items, a parent its children's); the
//! cycles are the strongly connected components of what is left (Tarjan).
//! Strict mode keeps those edges and reports every component that holds at least
//! one other edge: it also sees a cycle that passes through a parent/child step
//! (A -> P::c, P::c -> P, P -> A), which the default lets through.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::parse::Binding;
use super::tree::{ModPath, Tree};

/// Where an edge was first seen.
#[derive(Debug, Clone)]
pub(super) struct Edge {
    pub(super) file: String,
    pub(super) line: usize,
    /// The path as written.
    pub(super) written: String,
    /// How many references make this edge.
    pub(super) count: usize,
}

/// The module graph without its parent/child edges.
#[derive(Debug, Default)]
pub(super) struct Graph {
    pub(super) edges: BTreeMap<(ModPath, ModPath), Edge>,
    /// The edges between a module and its ancestor or descendant.
    pub(super) family: BTreeMap<(ModPath, ModPath), Edge>,
}

impl Graph {
    /// The edge from `a` to `b`, a family one too if `strict`.
    pub(super) fn edge(&self, a: &ModPath, b: &ModPath, strict: bool) -> Option<&Edge> {
        let key = (a.clone(), b.clone());
        self.edges
            .get(&key)
            .or_else(|| self.family.get(&key).filter(|_| strict))
    }

    /// The edges considered, family ones too if `strict`.
    fn considered(&self, strict: bool) -> impl Iterator<Item = &(ModPath, ModPath)> {
        let family = self.family.keys().filter(move |_| strict);
        self.edges.keys().chain(family)
    }
}

/// A module's imports: names bound, and glob-imported modules.
#[derive(Debug, Default, Clone)]
struct Imports {
    names: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
}

struct Resolver<'a> {
    tree: &'a Tree,
    /// Do not follow imports past the longest module prefix.
    literal: bool,
    imports: BTreeMap<ModPath, Imports>,
}

/// Builds the graph of `tree`; `literal`: see the module documentation.
pub(super) fn build(tree: &Tree, literal: bool) -> Graph {
    let mut r = Resolver {
        tree,
        literal,
        imports: BTreeMap::new(),
    };
    // A `use` may start from a name another `use` binds: a few passes settle it.
    for _ in 0..4 {
        let mut imports: BTreeMap<ModPath, Imports> = BTreeMap::new();
        for (module, refs) in &tree.refs {
            for located in refs {
                let (Some(binding), Some(abs)) =
                    (&located.item.binding, r.start(module, &located.item.path))
                else {
                    continue;
                };
                let entry = imports.entry(module.clone()).or_default();
                match binding {
                    Binding::Name(name) => {
                        entry.names.insert(name.clone(), abs);
                    }
                    Binding::Glob => entry.globs.push(abs),
                    Binding::Hidden => {}
                }
            }
        }
        r.imports = imports;
    }
    let mut graph = Graph::default();
    for (module, refs) in &tree.refs {
        for located in refs {
            let Some(abs) = r.start(module, &located.item.path) else {
                continue;
            };
            let target = r.target(abs);
            if &target == module {
                continue;
            }
            let map = if is_prefix(&target, module) || is_prefix(module, &target) {
                &mut graph.family
            } else {
                &mut graph.edges
            };
            map.entry((module.clone(), target))
                .and_modify(|e| e.count += 1)
                .or_insert_with(|| Edge {
                    file: located.file.clone(),
                    line: located.item.line,
                    written: located.item.path.join("::"),
                    count: 1,
                });
        }
    }
    graph
}

fn is_prefix(short: &[String], long: &[String]) -> bool {
    long.starts_with(short)
}

impl Resolver<'_> {
    /// The crate-absolute path `path`, written in `module`, stands for; `None`
    /// for a path of another crate or a local name.
    fn start(&self, module: &ModPath, path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        if first == "crate" || self.tree.self_alias.as_ref() == Some(first) {
            return Some(rest.to_vec());
        }
        if first == "self" {
            return Some(join(module, rest));
        }
        if first == "super" {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let base = module.get(..module.len().checked_sub(ups)?)?;
            return Some(join(base, &path[ups..]));
        }
        let child = join(module, std::slice::from_ref(first));
        if self.tree.modules.contains_key(&child) {
            return Some(join(module, path));
        }
        let imports = self.imports.get(module)?;
        if let Some(abs) = imports.names.get(first) {
            return Some(join(abs, rest));
        }
        // A name a glob brings: a child module or an import of the glob's module.
        imports.globs.iter().find_map(|glob| {
            let child = join(glob, std::slice::from_ref(first));
            if self.tree.modules.contains_key(&child) {
                Some(join(glob, path))
            } else {
                let abs = self.imports.get(glob)?.names.get(first)?;
                Some(join(abs, rest))
            }
        })
    }

    /// The module a crate-absolute path leads to, following imports.
    fn target(&self, mut abs: Vec<String>) -> ModPath {
        for _ in 0..8 {
            let len = (0..=abs.len())
                .rev()
                .find(|&n| self.tree.modules.contains_key(&abs[..n]))
                .unwrap_or(0);
            let module = abs[..len].to_vec();
            let next = abs.get(len).filter(|_| !self.literal).and_then(|name| {
                let to = self.imports.get(&module)?.names.get(name)?;
                Some(join(to, &abs[len + 1..]))
            });
            match next {
                Some(next) if next != abs => abs = next,
                _ => return module,
            }
        }
        let len = (0..=abs.len())
            .rev()
            .find(|&n| self.tree.modules.contains_key(&abs[..n]))
            .unwrap_or(0);
        abs[..len].to_vec()
    }
}

fn join(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().chain(b).cloned().collect()
}

/// The strongly connected components with an edge that is not between a module
/// and its ancestor or descendant (family edges count only if `strict`), each
/// sorted, in order of their smallest member.
pub(super) fn cycles(graph: &Graph, strict: bool) -> Vec<Vec<ModPath>> {
    let nodes: BTreeSet<&ModPath> = graph.considered(strict).flat_map(|(a, b)| [a, b]).collect();
    let index: BTreeMap<&ModPath, usize> = nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let nodes: Vec<&ModPath> = nodes.into_iter().collect();
    let mut succ = vec![Vec::new(); nodes.len()];
    for (a, b) in graph.considered(strict) {
        succ[index[a]].push(index[b]);
    }
    let mut t = Tarjan {
        succ: &succ,
        index: vec![None; nodes.len()],
        low: vec![0; nodes.len()],
        on_stack: vec![false; nodes.len()],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..nodes.len() {
        if t.index[v].is_none() {
            t.visit(v);
        }
    }
    let mut out: Vec<Vec<ModPath>> = t
        .out
        .into_iter()
        .map(|c| {
            let mut c: Vec<ModPath> = c.into_iter().map(|v| nodes[v].clone()).collect();
            c.sort();
            c
        })
        .filter(|c| {
            graph
                .edges
                .keys()
                .any(|(a, b)| c.contains(a) && c.contains(b))
        })
        .collect();
    out.sort();
    out
}

struct Tarjan<'a> {
    succ: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    out: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.succ[v] {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.out.push(component);
        }
    }
}

/// A shortest cycle through `component`'s first edge that is not between a
/// module and its ancestor or descendant, as its edges (family edges may be
/// steps of it if `strict`).
pub(super) fn example_cycle(
    graph: &Graph,
    strict: bool,
    component: &[ModPath],
) -> Vec<(ModPath, ModPath)> {
    let members: BTreeSet<&ModPath> = component.iter().collect();
    let inside = |(a, b): &&(ModPath, ModPath)| members.contains(a) && members.contains(b);
    let Some((from, to)) = graph.edges.keys().find(inside) else {
        return Vec::new();
    };
    // The shortest path back from `to` to `from`, breadth first.
    let mut came_from: BTreeMap<&ModPath, &ModPath> = BTreeMap::new();
    let mut queue = VecDeque::from([to]);
    while let Some(at) = queue.pop_front() {
        if at == from {
            let mut chain = Vec::new();
            let mut cur = at;
            while cur != to {
                let prev = came_from[cur];
                chain.push((prev.clone(), cur.clone()));
                cur = prev;
            }
            chain.push((from.clone(), to.clone()));
            chain.reverse();
            return chain;
        }
        let next = graph
            .considered(strict)
            .filter(inside)
            .filter(|(a, _)| a == at)
            .map(|(_, b)| b);
        for b in next {
            if b != to && !came_from.contains_key(b) {
                came_from.insert(b, at);
                queue.push_back(b);
            }
        }
    }
    Vec::new()
}
