//! The tokens `cargo xtask modgraph` needs from a Rust file: identifiers, string
//! literals (for `#[path = "…"]`), `::` and single punctuation characters, each with
//! its line. Comments (doc comments too: an intra-doc link is not an import),
//! character literals, lifetimes and numbers are dropped, so a `crate::x` inside
//! one of them is never read as a path.

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// An identifier or keyword (a raw identifier `r#x` without its `r#`).
    Ident(String),
    /// A string literal's text, escapes left as written (byte, C and raw strings too).
    Str(String),
    /// `::`.
    PathSep,
    /// Any other punctuation character.
    Punct(char),
}

/// A token and the line (1-based) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) line: usize,
}

/// Splits `src` into tokens. Never fails: what it does not understand (an
/// unterminated literal, a non-ASCII symbol) is skipped or ends the input.
pub(super) fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut lexer = Lexer {
        chars,
        pos: 0,
        line: 1,
        out: Vec::new(),
    };
    lexer.run();
    lexer.out
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    out: Vec<Token>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// Moves on one character, counting lines.
    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn push(&mut self, tok: Tok, line: usize) {
        self.out.push(Token { tok, line });
    }

    fn run(&mut self) {
        while let Some(c) = self.peek(0) {
            let line = self.line;
            match c {
                _ if c.is_whitespace() => {
                    self.bump();
                }
                '/' if self.peek(1) == Some('/') => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '/' if self.peek(1) == Some('*') => self.block_comment(),
                '"' => {
                    let text = self.quoted();
                    self.push(Tok::Str(text), line);
                }
                '\'' => self.quote_or_lifetime(),
                ':' if self.peek(1) == Some(':') => {
                    self.pos += 2;
                    self.push(Tok::PathSep, line);
                }
                _ if c.is_ascii_digit() => {
                    while self
                        .peek(0)
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    {
                        self.bump();
                    }
                }
                _ if c.is_alphabetic() || c == '_' => self.word(),
                _ => {
                    self.bump();
                    if c.is_ascii_punctuation() {
                        self.push(Tok::Punct(c), line);
                    }
                }
            }
        }
    }

    /// `/* … */`, nested.
    fn block_comment(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.bump() {
            if c == '/' && self.peek(0) == Some('*') {
                self.bump();
                depth += 1;
            } else if c == '*' && self.peek(0) == Some('/') {
                self.bump();
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
        }
    }

    /// A `"…"` literal from its opening quote; returns its text.
    fn quoted(&mut self) -> String {
        self.bump();
        let mut text = String::new();
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    text.push(c);
                    text.extend(self.bump());
                }
                '"' => break,
                _ => text.push(c),
            }
        }
        text
    }

    /// A raw string from its `#`s or opening quote: `#…#"…"#…#`.
    fn raw_quoted(&mut self) -> String {
        let mut hashes = 0;
        while self.peek(0) == Some('#') {
            self.bump();
            hashes += 1;
        }
        self.bump(); // the opening quote
        let mut text = String::new();
        while let Some(c) = self.bump() {
            if c == '"' && (0..hashes).all(|i| self.peek(i) == Some('#')) {
                self.pos += hashes;
                break;
            }
            text.push(c);
        }
        text
    }

    /// `'x'`, `'\n'` (dropped) or a lifetime/label `'a` (its name is lexed next).
    fn quote_or_lifetime(&mut self) {
        self.bump();
        if self.peek(0) == Some('\\') {
            while let Some(c) = self.bump() {
                if c == '\\' {
                    self.bump();
                } else if c == '\'' {
                    return;
                }
            }
        } else if self.peek(1) == Some('\'') {
            self.pos += 2;
        }
    }

    /// An identifier, a raw identifier, or the prefix of a literal (`b"…"`, `r#"…"#`,
    /// `br"…"`, `c"…"`, `b'x'`).
    fn word(&mut self) {
        let line = self.line;
        let start = self.pos;
        while self
            .peek(0)
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.bump();
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        let next = self.peek(0);
        let raw = matches!(word.as_str(), "r" | "br" | "cr");
        if raw && next == Some('#') && self.peek(1).is_some_and(|c| c.is_alphabetic() || c == '_') {
            // r#ident
            self.bump();
            let start = self.pos;
            while self
                .peek(0)
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                self.bump();
            }
            let ident = self.chars[start..self.pos].iter().collect();
            self.push(Tok::Ident(ident), line);
        } else if raw && matches!(next, Some('#' | '"')) {
            let text = self.raw_quoted();
            self.push(Tok::Str(text), line);
        } else if matches!(word.as_str(), "b" | "c") && next == Some('"') {
            let text = self.quoted();
            self.push(Tok::Str(text), line);
        } else if word == "b" && next == Some('\'') {
            self.quote_or_lifetime();
        } else {
            self.push(Tok::Ident(word), line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).into_iter().map(|t| t.tok).collect()
    }

    fn id(s: &str) -> Tok {
        Tok::Ident(s.to_owned())
    }

    #[test]
    fn reads_paths_and_drops_comments_and_literals() {
        let src = "/// [`crate::a`]\n// crate::b\n/* crate::c /* nested */ */ crate::d;\n\
                   let s = \"crate::e\"; let c = '\\''; let l: &'static str = r#\"crate::\"f\"#;";
        let t = toks(src);
        assert_eq!(
            &t[..4],
            &[id("crate"), Tok::PathSep, id("d"), Tok::Punct(';')]
        );
        assert!(t.contains(&Tok::Str("crate::e".into())));
        assert!(t.contains(&Tok::Str("crate::\"f".into())));
        assert!(
            t.contains(&id("static")),
            "the lifetime's name stays a word"
        );
        assert!(!t.contains(&Tok::Punct('\'')));
    }

    #[test]
    fn counts_lines_and_reads_raw_identifiers_and_byte_literals() {
        let t = lex("a\n\n  r#mod b'x' b\"y\" 1u32\n/* x\n */ z");
        let lines: Vec<(Tok, usize)> = t.into_iter().map(|t| (t.tok, t.line)).collect();
        assert_eq!(
            lines,
            [
                (id("a"), 1),
                (id("mod"), 3),
                (Tok::Str("y".into()), 3),
                (id("z"), 5)
            ]
        );
    }
}
