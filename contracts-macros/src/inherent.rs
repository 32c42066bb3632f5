//! The functions and constants each generated type defines next to the names the contract
//! brings (methods on the client, events on the contract descriptor and the publisher). The
//! generated code (`expand`) spells its own names from these lists and `model` refuses
//! contract names found in them, so the two cannot drift apart.

/// `<Trait>Client`: `new`, `with_timeout`, `rpc`; contract methods sit beside them.
pub(crate) const CLIENT: [&str; 3] = ["new", "with_timeout", "rpc"];
/// `<Trait>Contract`: `build`, `contract`, `NAME`; event specs sit beside them.
pub(crate) const CONTRACT: [&str; 3] = ["build", "contract", "NAME"];
/// `<Trait>Publisher`: `new`, `with_validation`, `with_timeout`; one publish function
/// per event.
pub(crate) const PUBLISHER: [&str; 3] = ["new", "with_validation", "with_timeout"];

/// The identifiers of `names`, for the generated code.
pub(crate) fn idents<const N: usize>(names: [&str; N]) -> [syn::Ident; N] {
    names.map(|n| syn::Ident::new(n, proc_macro2::Span::call_site()))
}
