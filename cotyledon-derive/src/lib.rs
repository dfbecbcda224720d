//! `#[derive(Service)]` (stub).
use proc_macro::TokenStream;

/// Derives `cotyledon::ServiceConfig`.
#[proc_macro_derive(Service, attributes(service))]
pub fn derive_service(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
