//! What one file says about the module graph, read from its tokens: its module
//! declarations (`mod x;` with an optional `#[path = "…"]`, inline `mod x { … }`),
//! its `use` declarations flattened out of their groups (`use crate::{a, b::{self,
//! c as d}}` is three imports), and every other path of two or more segments that
//! starts a path (`crate::a::f()`, `super::super::X`, `sys::fork::f()`). Each item
//! carries the inline modules around it, so that it belongs to the right module.
//!
//! A declaration's visibility and other attributes do not matter here; neither do
//! `cfg`s: every feature's modules count.

use super::lex::{Tok, Token};

/// `mod NAME;` (a file) or `mod NAME { … }` (inline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ModDecl {
    /// The inline modules of the file around the declaration, outermost first.
    pub(super) scope: Vec<String>,
    pub(super) name: String,
    /// The `#[path = "…"]` attribute's value.
    pub(super) path_attr: Option<String>,
    pub(super) inline: bool,
    pub(super) line: usize,
}

/// The name a `use` binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Binding {
    /// The last segment, or the `as` name.
    Name(String),
    /// `…::*`.
    Glob,
    /// `as _`.
    Hidden,
}

/// One import of a `use` declaration, or one path in code (binding `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PathRef {
    /// The inline modules of the file around it, outermost first.
    pub(super) scope: Vec<String>,
    /// The segments as written: `["crate", "a", "B"]`, `["super", "x"]`.
    pub(super) path: Vec<String>,
    /// For an import, the name it binds.
    pub(super) binding: Option<Binding>,
    pub(super) line: usize,
}

/// Everything the graph needs from one file.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub(super) mods: Vec<ModDecl>,
    /// Imports and code paths, in file order.
    pub(super) refs: Vec<PathRef>,
    /// `NAME` of `extern crate self as NAME;`: `NAME::x` means `crate::x`.
    pub(super) self_alias: Option<String>,
}

/// Reads the items of one file's tokens.
pub(super) fn parse(tokens: &[Token]) -> Parsed {
    let tok = |i: usize| tokens.get(i).map(|t| &t.tok);
    let ident = |i: usize| match tok(i) {
        Some(Tok::Ident(w)) => Some(w.as_str()),
        _ => None,
    };
    let mut parsed = Parsed::default();
    // Inline modules open around the current token, with the depth inside each.
    let mut scope: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_path: Option<String> = None;
    let names = |scope: &[(String, usize)]| scope.iter().map(|(n, _)| n.clone()).collect();
    let mut i = 0;
    while i < tokens.len() {
        let line = tokens[i].line;
        match &tokens[i].tok {
            Tok::Punct('#') => {
                let inner = tok(i + 1) == Some(&Tok::Punct('!'));
                let open = if inner { i + 2 } else { i + 1 };
                if tok(open) != Some(&Tok::Punct('[')) {
                    i += 1;
                    continue;
                }
                let close = matching(tokens, open);
                // An outer `#[path = "…"]`, for the `mod` that follows.
                if let [key, eq, value] = &tokens[open + 1..close]
                    && !inner
                    && key.tok == Tok::Ident("path".to_owned())
                    && eq.tok == Tok::Punct('=')
                    && let Tok::Str(value) = &value.tok
                {
                    pending_path = Some(value.clone());
                }
                i = close + 1;
            }
            Tok::Punct('{') => {
                depth += 1;
                pending_path = None;
                i += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if scope.last().is_some_and(|&(_, d)| d > depth) {
                    scope.pop();
                }
                pending_path = None;
                i += 1;
            }
            Tok::Ident(w) if w == "mod" && ident(i + 1).is_some() => {
                let name = ident(i + 1).unwrap_or_default().to_owned();
                let inline = match tok(i + 2) {
                    Some(Tok::Punct(';')) => false,
                    Some(Tok::Punct('{')) => true,
                    _ => {
                        pending_path = None;
                        i += 1;
                        continue;
                    }
                };
                parsed.mods.push(ModDecl {
                    scope: names(&scope),
                    name: name.clone(),
                    path_attr: pending_path.take(),
                    inline,
                    line,
                });
                if inline {
                    depth += 1;
                    scope.push((name, depth));
                }
                i += 3;
            }
            Tok::Ident(w) if w == "use" => {
                let mut imports = Vec::new();
                let mut j = i + 1;
                if tok(j) != Some(&Tok::PathSep) {
                    use_tree(tokens, &mut j, Vec::new(), &mut imports);
                }
                for (path, binding) in imports {
                    parsed.refs.push(PathRef {
                        scope: names(&scope),
                        path,
                        binding: Some(binding),
                        line,
                    });
                }
                while tok(j).is_some_and(|t| *t != Tok::Punct(';')) {
                    j += 1;
                }
                pending_path = None;
                i = j + 1;
            }
            Tok::Ident(w)
                if w == "extern"
                    && ident(i + 1) == Some("crate")
                    && ident(i + 2) == Some("self")
                    && ident(i + 3) == Some("as") =>
            {
                parsed.self_alias = ident(i + 4).map(str::to_owned);
                i += 5;
            }
            Tok::Ident(w)
                if (i == 0 || tok(i - 1) != Some(&Tok::PathSep))
                    && tok(i + 1) == Some(&Tok::PathSep)
                    && ident(i + 2).is_some() =>
            {
                let mut path = vec![w.clone()];
                i += 1;
                while tok(i) == Some(&Tok::PathSep) {
                    let Some(next) = ident(i + 1) else { break };
                    path.push(next.to_owned());
                    i += 2;
                }
                parsed.refs.push(PathRef {
                    scope: names(&scope),
                    path,
                    binding: None,
                    line,
                });
            }
            // A visibility between the attributes and `mod` keeps a `#[path]`.
            Tok::Ident(w) if matches!(w.as_str(), "pub" | "crate" | "in" | "super" | "self") => {
                i += 1
            }
            Tok::Punct('(' | ')') | Tok::PathSep => i += 1,
            _ => {
                pending_path = None;
                i += 1;
            }
        }
    }
    parsed
}

/// The index of the `]` that closes the `[` at `open` (or the last token).
fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('[') => depth += 1,
            Tok::Punct(']') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1)
}

/// Reads one use tree from `*i` under `prefix`, adding its imports to `out`.
fn use_tree(
    tokens: &[Token],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Binding)>,
) {
    let tok = |i: usize| tokens.get(i).map(|t| &t.tok);
    let mut path = prefix;
    loop {
        match tok(*i) {
            Some(Tok::Ident(w)) => {
                path.push(w.clone());
                *i += 1;
                if tok(*i) == Some(&Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                if path.len() > 1 && path.last().is_some_and(|s| s == "self") {
                    path.pop();
                }
                let mut binding = Binding::Name(path.last().cloned().unwrap_or_default());
                if tok(*i) == Some(&Tok::Ident("as".to_owned())) {
                    if let Some(Tok::Ident(alias)) = tok(*i + 1) {
                        binding = match alias.as_str() {
                            "_" => Binding::Hidden,
                            _ => Binding::Name(alias.clone()),
                        };
                    }
                    *i += 2;
                }
                out.push((path, binding));
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((path, Binding::Glob));
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    match tok(*i) {
                        Some(Tok::Punct('}')) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *i += 1,
                        None | Some(Tok::Punct(';')) => return,
                        Some(_) => {
                            let before = *i;
                            use_tree(tokens, i, path.clone(), out);
                            if *i == before {
                                *i += 1; // not a tree: step over it
                            }
                        }
                    }
                }
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::lex;
    use super::*;

    fn imports(src: &str) -> Vec<(String, Binding)> {
        let parsed = parse(&lex(src));
        parsed
            .refs
            .into_iter()
            .filter_map(|r| Some((r.path.join("::"), r.binding?)))
            .collect()
    }

    fn name(s: &str) -> Binding {
        Binding::Name(s.to_owned())
    }

    #[test]
    fn flattens_grouped_imports() {
        let got = imports(
            "pub(crate) use crate::{a, b::{self, c as d, e::*}, f as _};\nuse super::x::Y;",
        );
        assert_eq!(
            got,
            [
                ("crate::a".to_owned(), name("a")),
                ("crate::b".to_owned(), name("b")),
                ("crate::b::c".to_owned(), name("d")),
                ("crate::b::e".to_owned(), Binding::Glob),
                ("crate::f".to_owned(), Binding::Hidden),
                ("super::x::Y".to_owned(), name("Y")),
            ]
        );
        assert!(imports("use ::std::fmt;").is_empty());
    }

    #[test]
    fn reads_declarations_with_paths_and_inline_scopes() {
        let src = "#[cfg(test)]\n#[path = \"t/x.rs\"]\npub(crate) mod x;\n\
                   mod inner {\n    mod deep;\n    fn f() { crate::a::g(); }\n}\n\
                   #[path = \"lost.rs\"]\nfn not_a_mod() {}\nmod after;\n";
        let parsed = parse(&lex(src));
        let mods: Vec<_> = parsed
            .mods
            .iter()
            .map(|m| {
                (
                    m.scope.join("::"),
                    m.name.as_str(),
                    m.path_attr.as_deref(),
                    m.inline,
                )
            })
            .collect();
        assert_eq!(
            mods,
            [
                (String::new(), "x", Some("t/x.rs"), false),
                (String::new(), "inner", None, true),
                ("inner".to_owned(), "deep", None, false),
                (String::new(), "after", None, false),
            ]
        );
        let code: Vec<_> = parsed
            .refs
            .iter()
            .map(|r| (r.scope.join("::"), r.path.join("::"), r.line))
            .collect();
        assert_eq!(code, [("inner".to_owned(), "crate::a::g".to_owned(), 6)]);
    }

    #[test]
    fn reads_code_paths_from_their_start_only() {
        let parsed = parse(&lex(
            "extern crate self as me;\nfn f() { super::super::a::B::<T>::new(); ::std::x::y(); $crate::m::n!(); }",
        ));
        assert_eq!(parsed.self_alias.as_deref(), Some("me"));
        let paths: Vec<_> = parsed.refs.iter().map(|r| r.path.join("::")).collect();
        assert_eq!(paths, ["super::super::a::B", "crate::m::n"]);
    }
}
