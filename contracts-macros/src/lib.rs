//! Procedural macros for [`contracts-core`](https://docs.rs/contracts-core). Use them through
//! `contracts_core::service`; this crate's documentation is there.
//!
//! The macro works in three passes, each in its own module: `model` parses the trait into a
//! service model while `check` applies every rule (errors collected in a `ctxt::Ctxt` that
//! cannot lose them), then `expand` generates one item per function. On any error, `fallback`
//! emits the errors next to a plain copy of the trait, so the user sees the real mistake
//! instead of a cascade of "cannot find" errors.

mod check;
mod ctxt;
mod expand;
mod fallback;
mod inherent;
mod model;

use proc_macro::TokenStream;

/// Turn a trait into a service contract. See `contracts_core::service` for the documentation.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(item as syn::ItemTrait);
    let cx = ctxt::Ctxt::new();
    let attr = model::ServiceAttr::parse(&cx, attr.into());
    let service = model::Service::from_trait(&cx, attr, &item);
    match cx.check() {
        Ok(()) => expand::service(&service.expect("no errors means a model")).into(),
        Err(errors) => fallback::expand(&item, errors).into(),
    }
}

// The crate's README (its registry page) is tested as documentation: its examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
