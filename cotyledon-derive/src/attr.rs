//! Parsing of the `#[service(...)]` attribute.
//!
//! Every `#[service(...)]` attribute on the type is read; all the problems found
//! are reported together, each spanned on the offending token.

use quote::ToTokens;
use syn::{Attribute, Error, Expr, ExprLit, Lit, LitStr, Meta, meta::ParseNestedMeta};

/// The name of the helper attribute.
const SERVICE: &str = "service";
/// `name = "…"`.
const NAME: &str = "name";
/// `graceful_shutdown_timeout = N`.
const GRACEFUL_SHUTDOWN_TIMEOUT: &str = "graceful_shutdown_timeout";

/// The values given in the `#[service(...)]` attributes of a type.
#[derive(Default)]
pub(crate) struct Attrs {
    /// `name = "…"`, already checked to be non-empty.
    pub(crate) name: Option<LitStr>,
    /// `graceful_shutdown_timeout = N`, in seconds.
    pub(crate) graceful_shutdown_timeout: Option<u64>,
}

/// Collects the errors found while parsing, so they can all be reported at once.
#[derive(Default)]
struct Errors(Option<Error>);

impl Errors {
    fn push(&mut self, err: Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(err),
            None => self.0 = Some(err),
        }
    }
}

/// Parses every `#[service(...)]` attribute among `attrs`.
///
/// # Errors
///
/// All the malformed, unknown, duplicate or invalid keys, combined into one error.
pub(crate) fn parse(attrs: &[Attribute]) -> Result<Attrs, Error> {
    let mut out = Attrs::default();
    let mut errors = Errors::default();

    for attr in attrs {
        if !attr.path().is_ident(SERVICE) {
            continue;
        }
        if !matches!(attr.meta, Meta::List(_)) {
            errors.push(Error::new_spanned(attr, "expected `#[service(...)]`"));
            continue;
        }
        if let Err(err) = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(NAME) {
                let expr = value(&meta)?;
                if let Some(name) = get_name(&expr, &mut errors) {
                    set(&mut out.name, name, &meta, &mut errors);
                }
            } else if meta.path.is_ident(GRACEFUL_SHUTDOWN_TIMEOUT) {
                let expr = value(&meta)?;
                if let Some(timeout) = get_timeout(&expr, &mut errors) {
                    set(
                        &mut out.graceful_shutdown_timeout,
                        timeout,
                        &meta,
                        &mut errors,
                    );
                }
            } else {
                let path = meta.path.to_token_stream().to_string().replace(' ', "");
                return Err(Error::new_spanned(
                    &meta.path,
                    format_args!(
                        "unknown service attribute `{path}`; expected `{NAME}` or \
                         `{GRACEFUL_SHUTDOWN_TIMEOUT}`"
                    ),
                ));
            }
            Ok(())
        }) {
            errors.push(err);
        }
    }

    match errors.0 {
        Some(err) => Err(err),
        None => Ok(out),
    }
}

/// Parses the `= value` part of a `key = value` pair.
fn value(meta: &ParseNestedMeta<'_>) -> Result<Expr, Error> {
    meta.value()?.parse()
}

/// Stores the value of a key, or records a duplicate-key error spanned on the key.
fn set<T>(slot: &mut Option<T>, value: T, meta: &ParseNestedMeta<'_>, errors: &mut Errors) {
    if slot.is_some() {
        let path = meta.path.to_token_stream().to_string();
        errors.push(Error::new_spanned(
            &meta.path,
            format_args!("duplicate service attribute `{path}`"),
        ));
    } else {
        *slot = Some(value);
    }
}

/// Checks the value of `name`: a non-empty string literal.
fn get_name(expr: &Expr, errors: &mut Errors) -> Option<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if lit.value().is_empty() => {
            errors.push(Error::new_spanned(lit, "service name must not be empty"));
            None
        }
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        _ => {
            errors.push(Error::new_spanned(
                expr,
                format_args!("expected a string literal for `{NAME}`"),
            ));
            None
        }
    }
}

/// Checks the value of `graceful_shutdown_timeout`: an unsuffixed (or `u64`)
/// integer literal that fits in a `u64`.
fn get_timeout(expr: &Expr, errors: &mut Errors) -> Option<u64> {
    let invalid = || {
        Error::new_spanned(
            expr,
            format_args!(
                "expected a non-negative integer number of seconds for \
                 `{GRACEFUL_SHUTDOWN_TIMEOUT}`"
            ),
        )
    };
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) if matches!(lit.suffix(), "" | "u64") => match lit.base10_parse::<u64>() {
            Ok(timeout) => return Some(timeout),
            Err(err) => errors.push(err),
        },
        // Anything else, including `-1` (a negation applied to a literal, spanned
        // on both tokens), `1.5` and `"1"`.
        _ => errors.push(invalid()),
    }
    None
}
