//! On a bad service definition, emit the errors together with the trait minus what only this
//! macro understands, so that the user's `impl` of it still resolves and the real mistake is
//! the only one reported (thiserror does the same with stub impls).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, TraitItem};

use crate::model::is_event_attr;

pub fn expand(item: &syn::ItemTrait, errors: syn::Error) -> TokenStream {
    let mut item = item.clone();
    item.items.retain(|i| match i {
        TraitItem::Fn(f) => !f.attrs.iter().any(is_event_attr),
        _ => true,
    });
    for trait_item in &mut item.items {
        if let TraitItem::Fn(f) = trait_item {
            for input in &mut f.sig.inputs {
                if let FnArg::Typed(typed) = input {
                    typed.attrs.clear();
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
