//! `#[derive(Service)]` for cotyledon-rs.
//!
//! This crate is re-exported by `cotyledon` as `cotyledon::Service`; depend on
//! `cotyledon` rather than on this crate directly.
#![warn(missing_docs)]

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod attr;
mod expand;

/// Derives `cotyledon::ServiceConfig`, the static metadata of a service.
///
/// The type is configured with an optional `#[service(...)]` attribute taking
/// comma-separated `key = value` pairs; each key may be given at most once:
///
/// - `name = "…"`: the service name used in log messages and process titles
///   (`ServiceConfig::NAME`). It must be a non-empty string literal. Defaults to
///   the name of the type.
/// - `graceful_shutdown_timeout = N`: the number of seconds a worker may spend in
///   `Service::terminate` before it is forced to exit
///   (`ServiceConfig::GRACEFUL_SHUTDOWN_TIMEOUT`). It must be a non-negative
///   integer literal; `0` waits forever. When absent, the manager's timeout is
///   used.
///
/// ```ignore
/// use cotyledon::Service;
///
/// #[derive(Service)]
/// #[service(name = "heavy", graceful_shutdown_timeout = 5)]
/// struct Heavy;
/// ```
///
/// Generic types are supported; the implementation carries the type's own
/// generics and where clause.
#[proc_macro_derive(Service, attributes(service))]
pub fn derive_service(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let attrs = attr::parse(&input.attrs);
    expand::expand(&input, attrs).into()
}
