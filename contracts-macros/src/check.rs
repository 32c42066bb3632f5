//! The rules a service trait must follow, each reporting at the offending tokens.

use std::collections::HashSet;

use syn::{Attribute, Ident, LitStr, Receiver, ReceiverKind, Type};

use crate::ctxt::Ctxt;

/// A service name is one word of an AMQP topic routing key (`<service>.<method>`).
pub(crate) fn service_name(cx: &Ctxt, name: &LitStr) {
    let value = name.value();
    if value.is_empty() {
        cx.error_spanned_by(name, "the service name cannot be empty");
    } else if let Some(bad) = value
        .chars()
        .find(|c| *c == '.' || *c == '*' || *c == '#' || c.is_whitespace())
    {
        cx.error_spanned_by(
            name,
            format!(
                "service name {value:?} cannot contain {bad:?}: Nameko routes `<service>.<method>` as topic words, so a name has no dots, `*`, `#` or whitespace"
            ),
        );
    }
}

pub(crate) fn trait_header(cx: &Ctxt, item: &syn::ItemTrait) {
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &item.generics,
            "a service trait cannot be generic: its messages must have one schema",
        );
    }
    if let Some(unsafety) = &item.unsafety {
        cx.error_spanned_by(unsafety, "a service trait cannot be `unsafe`");
    }
}

pub(crate) fn method_signature(cx: &Ctxt, f: &syn::TraitItemFn) {
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            "contract methods must be `async fn`: every call is a message round trip",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &sig.generics,
            "contract methods cannot be generic: each message needs one schema",
        );
    }
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(constness, "contract methods cannot be `const`");
    }
    if !matches!(sig.safety, syn::Safety::Default) {
        cx.error_spanned_by(&sig.safety, "contract methods cannot be `unsafe` or `safe`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "contract methods cannot have an ABI");
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "contract methods cannot be variadic");
    }
    if let Some(default) = &f.default {
        cx.error_spanned_by(
            default,
            "contract methods cannot have a body here: implement them in an `impl` of the trait",
        );
    }
}

pub(crate) fn receiver(cx: &Ctxt, receiver: &Receiver) {
    let ok = matches!(&receiver.kind, ReceiverKind::Reference(_, _, None))
        && receiver.mutability.is_none();
    if !ok {
        cx.error_spanned_by(
            receiver,
            "contract methods take `&self`: the service handles many calls at once, so it cannot be moved or borrowed mutably",
        );
    }
}

pub(crate) fn param_type(cx: &Ctxt, ty: &Type) {
    if let Type::Reference(reference) = ty {
        cx.error_spanned_by(
            reference,
            "arguments must be owned types (they are decoded from messages): use `String` for `&str`, `Vec<T>` for `&[T]`",
        );
    }
    if let Type::ImplTrait(it) = ty {
        cx.error_spanned_by(
            it,
            "arguments cannot be `impl Trait`: each needs one schema",
        );
    }
}

/// Arguments carry docs and schema constraints to their request field. Anything else, serde's
/// `rename` in particular, would make the wire name differ from the parameter name that
/// positional and keyword arguments bind to.
pub(crate) fn param_attrs(cx: &Ctxt, attrs: &[Attribute]) {
    for attr in attrs {
        if attr.path().is_ident("sensitive") {
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                cx.error_spanned_by(attr, "#[sensitive] takes no arguments");
            }
        } else if !(attr.path().is_ident("doc") || attr.path().is_ident("schemars")) {
            cx.error_spanned_by(
                attr,
                "arguments take only doc comments, #[schemars(..)] constraints and #[sensitive]: the argument's name is its wire name",
            );
        }
    }
}

pub(crate) fn event_attr(cx: &Ctxt, attr: &Attribute) {
    if !matches!(attr.meta, syn::Meta::Path(_)) {
        cx.error_spanned_by(attr, "#[event] takes no arguments");
    }
}

pub(crate) fn event_signature(cx: &Ctxt, f: &syn::TraitItemFn) {
    let sig = &f.sig;
    let shape = "declare events as `#[event] fn name(payload: Type);`";
    if let Some(asyncness) = &sig.asyncness {
        cx.error_spanned_by(asyncness, format!("events are not async: {shape}"));
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(&sig.generics, format!("events cannot be generic: {shape}"));
    }
    if let syn::ReturnType::Type(_, ty) = &sig.output {
        cx.error_spanned_by(ty, format!("events return nothing: {shape}"));
    }
    if let Some(default) = &f.default {
        cx.error_spanned_by(default, format!("events have no body: {shape}"));
    }
    let mut typed = 0;
    for input in &sig.inputs {
        match input {
            syn::FnArg::Receiver(r) => {
                cx.error_spanned_by(r, format!("events take no `self`: {shape}"));
            }
            syn::FnArg::Typed(t) => {
                typed += 1;
                param_type(cx, &t.ty);
            }
        }
    }
    if typed != 1 {
        cx.error_spanned_by(
            &sig.ident,
            format!("an event has exactly one payload argument: {shape}"),
        );
    }
}

/// `#[handles(..)] async fn on_event(&self, event: Payload)`: async, `&self`, one payload.
pub(crate) fn handler_signature(cx: &Ctxt, f: &syn::TraitItemFn, shape: &str) {
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            format!("event handlers are `async fn`: {shape}"),
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            format!("event handlers cannot be generic: {shape}"),
        );
    }
    if let Some(default) = &f.default {
        cx.error_spanned_by(
            default,
            format!("the contract declares the handler; implement it in the `impl`: {shape}"),
        );
    }
    let mut typed = 0;
    for (position, input) in sig.inputs.iter().enumerate() {
        match input {
            syn::FnArg::Receiver(r) if position == 0 => receiver(cx, r),
            syn::FnArg::Receiver(r) => cx.error_spanned_by(r, shape),
            syn::FnArg::Typed(t) => {
                typed += 1;
                param_type(cx, &t.ty);
            }
        }
    }
    if !matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(_))) {
        cx.error_spanned_by(
            &sig.ident,
            format!("event handlers take `&self` first: {shape}"),
        );
    }
    if typed != 1 {
        cx.error_spanned_by(
            &sig.ident,
            format!("an event handler takes exactly one payload argument: {shape}"),
        );
    }
}

/// Names must be unique: Nameko routes by name alone.
pub(crate) fn unique<'a>(
    cx: &Ctxt,
    what: &str,
    items: impl Iterator<Item = (&'a Ident, &'a String)>,
) {
    let mut seen = HashSet::new();
    for (ident, name) in items {
        if !seen.insert(name.clone()) {
            cx.error_spanned_by(
                ident,
                format!("duplicate {what} `{name}`: Nameko routes by name, so each {what} name appears once"),
            );
        }
    }
}

/// Names the generated client (`new`, `rpc`) or publisher and contract (`new`,
/// `with_validation`, `contract`, `build`) already use for themselves.
pub(crate) fn not_reserved(cx: &Ctxt, what: &str, ident: &Ident, name: &str, reserved: &[&str]) {
    if reserved.contains(&name) {
        cx.error_spanned_by(
            ident,
            format!(
                "{what} cannot be called `{name}`: the generated code uses that name ({})",
                reserved.join(", ")
            ),
        );
    }
}
