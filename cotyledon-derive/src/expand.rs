//! Generation of the `ServiceConfig` implementation.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Error, LitStr, ext::IdentExt};

use crate::attr::Attrs;

/// Expands the derive on `input` configured by `attrs`.
///
/// When the attributes are invalid, emits their errors together with an
/// implementation using the defaults, so that the user sees the attribute errors
/// only and not a cascade of "trait bound not satisfied" errors.
pub(crate) fn expand(input: &DeriveInput, attrs: Result<Attrs, Error>) -> TokenStream {
    match attrs {
        Ok(attrs) => imp(input, &attrs),
        Err(err) => {
            let errors = err.to_compile_error();
            let fallback = imp(input, &Attrs::default());
            quote! {
                #errors
                #fallback
            }
        }
    }
}

/// The `impl ServiceConfig` block.
fn imp(input: &DeriveInput, attrs: &Attrs) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let name = attrs
        .name
        .as_ref()
        .map_or_else(|| ident.unraw().to_string(), LitStr::value);
    let timeout = match attrs.graceful_shutdown_timeout {
        Some(timeout) => quote!(::core::option::Option::Some(#timeout)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics ::cotyledon::__private::ServiceConfig
            for #ident #ty_generics #where_clause
        {
            const NAME: &'static str = #name;
            const GRACEFUL_SHUTDOWN_TIMEOUT: ::core::option::Option<u64> = #timeout;
        }
    }
}
