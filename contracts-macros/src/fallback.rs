//! On a bad service definition, emit the errors together with the trait minus what only this
//! macro understands, so that the user's `impl` of it still resolves and the real mistake is
//! the only one reported (thiserror does the same with stub impls).

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::{FnArg, Pat, TraitItem};

use crate::model::{is_event_attr, is_handles_attr};

pub(crate) fn expand(item: &syn::ItemTrait, errors: syn::Error) -> TokenStream {
    let mut item = item.clone();
    // Keep what rustc would accept, so it reports nothing the macro already did: no events,
    // one method per name, plain argument names.
    let mut seen = HashSet::new();
    item.items.retain(|i| match i {
        TraitItem::Fn(f) => {
            !f.attrs.iter().any(is_event_attr) && seen.insert(f.sig.ident.unraw().to_string())
        }
        _ => true,
    });
    for trait_item in &mut item.items {
        if let TraitItem::Fn(f) = trait_item {
            f.attrs.retain(|a| !is_handles_attr(a));
            for (position, input) in f.sig.inputs.iter_mut().enumerate() {
                if let FnArg::Typed(typed) = input {
                    typed.attrs.clear();
                    if !matches!(*typed.pat, Pat::Ident(_)) {
                        let ident = format_ident!("arg{}", position);
                        *typed.pat = syn::parse_quote!(#ident);
                    }
                }
            }
        }
    }
    let errors = errors.to_compile_error();
    quote! {
        #errors
        #item
    }
}
