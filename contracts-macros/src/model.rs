//! The service model: what the trait declares, parsed and checked.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, LitStr, Pat, PathArguments, ReturnType, TraitItem,
    Type, Visibility,
};

use crate::check;
use crate::ctxt::Ctxt;
use crate::inherent;

/// `#[service(name = "...", calls(OtherContract, ...))]`.
pub(crate) struct ServiceAttr {
    pub name: Option<LitStr>,
    /// Contracts of the services this one calls, for docs and diagrams.
    pub calls: Vec<syn::Path>,
}

impl ServiceAttr {
    pub(crate) fn parse(cx: &Ctxt, tokens: TokenStream) -> Self {
        let mut name: Option<LitStr> = None;
        let mut calls = Vec::new();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("calls") {
                meta.parse_nested_meta(|callee| {
                    calls.push(callee.path.clone());
                    Ok(())
                })
            } else if meta.path.is_ident("name") {
                let value: LitStr = meta.value()?.parse()?;
                if name.is_some() {
                    cx.error_spanned_by(&meta.path, "duplicate `name` in #[service]");
                }
                check::service_name(cx, &value);
                name = Some(value);
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unsupported #[service] key `{}`; the keys are `name = \"...\"` and `calls(OtherContract, ..)`",
                    meta.path.to_token_stream_string()
                )))
            }
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, tokens.clone()) {
            cx.syn_error(e);
        }
        Self { name, calls }
    }
}

trait PathString {
    fn to_token_stream_string(&self) -> String;
}

impl PathString for syn::Path {
    fn to_token_stream_string(&self) -> String {
        quote::ToTokens::to_token_stream(self)
            .to_string()
            .replace(' ', "")
    }
}

pub(crate) struct Service {
    /// The Nameko service name.
    pub name: String,
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub supertraits: TokenStream,
    pub docs: Option<String>,
    pub methods: Vec<Method>,
    pub events: Vec<Event>,
    pub handlers: Vec<Handler>,
    pub calls: Vec<syn::Path>,
}

pub(crate) struct Method {
    pub ident: Ident,
    /// The wire name (a raw identifier's name without `r#`).
    pub name: String,
    pub docs: Option<String>,
    /// Doc comments and other attributes carried onto the trait method and client method.
    pub attrs: Vec<Attribute>,
    /// `#[cfg]` attributes, carried onto everything generated for the method.
    pub cfgs: Vec<Attribute>,
    pub params: Vec<Param>,
    pub ok: Type,
    pub err: Option<Type>,
    /// The return type as written.
    pub output: Type,
}

pub(crate) struct Param {
    pub ident: Ident,
    pub ty: Type,
    /// Attributes for the request struct field (`///` and `#[schemars]`).
    pub attrs: Vec<Attribute>,
}

/// `#[handles(SourceContract::event)] async fn on_event(&self, event: Payload);`
pub(crate) struct Handler {
    pub ident: Ident,
    pub name: String,
    /// Doc comments and other attributes carried onto the trait method.
    pub attrs: Vec<Attribute>,
    pub cfgs: Vec<Attribute>,
    /// The source contract's event function, e.g. `UserServiceContract::user_created`.
    pub source: syn::Path,
    pub handler_type: HandlerType,
    /// Nameko's `reliable_delivery` (default true).
    pub reliable_delivery: bool,
    pub arg: Ident,
    pub payload: Type,
    /// `()` or `Result<(), E>` as written.
    pub output: Type,
    pub fallible: bool,
}

pub(crate) struct Event {
    pub ident: Ident,
    pub name: String,
    pub docs: Option<String>,
    pub cfgs: Vec<Attribute>,
    pub payload: Type,
}

/// The joined text of `///` comments, the way rustdoc and schemars read them.
pub(crate) fn docs(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn cfgs(attrs: &[Attribute]) -> Vec<Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .cloned()
        .collect()
}

pub(crate) fn is_event_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("event")
}

pub(crate) fn is_handles_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("handles")
}

impl Service {
    pub(crate) fn from_trait(cx: &Ctxt, attr: ServiceAttr, item: &syn::ItemTrait) -> Option<Self> {
        check::trait_header(cx, item);
        let mut methods = Vec::new();
        let mut events = Vec::new();
        let mut handlers = Vec::new();
        for trait_item in &item.items {
            match trait_item {
                TraitItem::Fn(f) => {
                    let event_attr = f.attrs.iter().find(|a| is_event_attr(a));
                    let handles_attr = f.attrs.iter().find(|a| is_handles_attr(a));
                    match (event_attr, handles_attr) {
                        (Some(_), Some(handles)) => cx.error_spanned_by(
                            handles,
                            "a function is either an `#[event]` this service publishes or a `#[handles(..)]` handler of another's",
                        ),
                        (Some(event_attr), None) => {
                            check::event_attr(cx, event_attr);
                            events.extend(Event::from_fn(cx, f));
                        }
                        (None, Some(handles)) => handlers.extend(Handler::from_fn(cx, f, handles)),
                        (None, None) => methods.extend(Method::from_fn(cx, f)),
                    }
                }
                other => cx.error_spanned_by(
                    other,
                    "a service trait holds only `async fn` methods and `#[event] fn` declarations",
                ),
            }
        }
        for m in &methods {
            check::not_reserved(cx, "a method", &m.ident, &m.name, &inherent::CLIENT);
        }
        let event_reserved: Vec<&str> = inherent::CONTRACT
            .into_iter()
            .chain(inherent::PUBLISHER)
            .collect();
        for e in &events {
            check::not_reserved(cx, "an event", &e.ident, &e.name, &event_reserved);
        }
        check::unique(
            cx,
            "method",
            methods
                .iter()
                .map(|m| (&m.ident, &m.name))
                .chain(handlers.iter().map(|h| (&h.ident, &h.name))),
        );
        check::unique(cx, "event", events.iter().map(|e| (&e.ident, &e.name)));
        let Some(name) = attr.name else {
            cx.error_spanned_by(
                &item.ident,
                "missing service name: write #[service(name = \"my_service\")]",
            );
            return None;
        };
        let supertraits = &item.supertraits;
        Some(Self {
            name: name.value(),
            attrs: item.attrs.clone(),
            vis: item.vis.clone(),
            ident: item.ident.clone(),
            supertraits: if supertraits.is_empty() {
                TokenStream::new()
            } else {
                quote::quote!(+ #supertraits)
            },
            docs: docs(&item.attrs),
            methods,
            events,
            handlers,
            calls: attr.calls,
        })
    }
}

impl Handler {
    fn from_fn(cx: &Ctxt, f: &syn::TraitItemFn, attr: &Attribute) -> Option<Self> {
        let shape =
            "write `#[handles(SourceContract::event)] async fn on_event(&self, event: Payload);`";
        let parsed =
            attr.parse_args_with(|input: syn::parse::ParseStream| HandlesAttr::parse(cx, input));
        let HandlesAttr {
            source,
            handler_type,
            reliable_delivery,
        } = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                cx.syn_error(e);
                return None;
            }
        };
        if source.segments.len() < 2 {
            cx.error_spanned_by(
                &source,
                format!("name the event through its contract, as in `UserServiceContract::user_created`: {shape}"),
            );
            return None;
        }
        check::handler_signature(cx, f, shape);
        let (arg, payload) = f.sig.inputs.iter().find_map(|input| match input {
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) => Some((pat.ident.clone(), (*typed.ty).clone())),
                other => {
                    cx.error_spanned_by(other, format!("name the payload argument: {shape}"));
                    None
                }
            },
            FnArg::Receiver(_) => None,
        })?;
        let output = match &f.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let (ok, err) = split_result(cx, &output);
        if !matches!(&ok, Type::Tuple(t) if t.elems.is_empty()) {
            cx.error_spanned_by(
                &output,
                "a handler returns nothing or `Result<(), E>`: an event has nobody to reply to",
            );
        }
        Some(Self {
            name: f.sig.ident.unraw().to_string(),
            ident: f.sig.ident.clone(),
            attrs: f
                .attrs
                .iter()
                .filter(|a| !is_handles_attr(a))
                .cloned()
                .collect(),
            cfgs: cfgs(&f.attrs),
            source,
            handler_type,
            reliable_delivery,
            arg,
            payload,
            output,
            fallible: err.is_some(),
        })
    }
}

impl Method {
    fn from_fn(cx: &Ctxt, f: &syn::TraitItemFn) -> Option<Self> {
        let sig = &f.sig;
        check::method_signature(cx, f);
        let mut params = Vec::new();
        for (position, input) in sig.inputs.iter().enumerate() {
            match input {
                FnArg::Receiver(receiver) => {
                    if position == 0 {
                        check::receiver(cx, receiver);
                    }
                }
                FnArg::Typed(typed) => {
                    if position == 0 {
                        cx.error_spanned_by(
                            &sig.ident,
                            "contract methods take `&self` first: the server calls them on the service",
                        );
                    }
                    params.extend(Param::from_typed(cx, typed));
                }
            }
        }
        if sig.inputs.is_empty() {
            cx.error_spanned_by(
                &sig.ident,
                "contract methods take `&self` first: the server calls them on the service",
            );
        }
        let output = match &sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let (ok, err) = split_result(cx, &output);
        let attrs: Vec<Attribute> = f
            .attrs
            .iter()
            .filter(|a| !is_event_attr(a))
            .cloned()
            .collect();
        Some(Self {
            name: sig.ident.unraw().to_string(),
            ident: sig.ident.clone(),
            docs: docs(&f.attrs),
            cfgs: cfgs(&f.attrs),
            attrs,
            params,
            ok,
            err,
            output,
        })
    }
}

/// `Result<T, E>` → `(T, Some(E))`; anything else is the reply type itself.
fn split_result(cx: &Ctxt, output: &Type) -> (Type, Option<Type>) {
    if let Type::Path(path) = output
        && path.qself.is_none()
        && let Some(last) = path.path.segments.last()
        && last.ident == "Result"
    {
        if let PathArguments::AngleBracketed(args) = &last.arguments {
            let types: Vec<&Type> = args
                .args
                .iter()
                .filter_map(|a| match a {
                    GenericArgument::Type(t) => Some(t),
                    _ => None,
                })
                .collect();
            if let [ok, err] = types.as_slice() {
                return ((*ok).clone(), Some((*err).clone()));
            }
        }
        cx.error_spanned_by(
            last,
            "write the error type out: `Result<T, E>`, so the contract can declare it",
        );
    }
    (output.clone(), None)
}

impl Param {
    fn from_typed(cx: &Ctxt, typed: &syn::PatType) -> Option<Self> {
        check::param_type(cx, &typed.ty);
        check::param_attrs(cx, &typed.attrs);
        match &*typed.pat {
            Pat::Ident(pat)
                if pat.by_ref.is_none() && pat.mutability.is_none() && pat.subpat.is_none() =>
            {
                Some(Self {
                    ident: pat.ident.clone(),
                    ty: (*typed.ty).clone(),
                    attrs: typed.attrs.clone(),
                })
            }
            other => {
                cx.error_spanned_by(
                    other,
                    "argument patterns are not supported: name each argument (`name: Type`), it becomes a request field",
                );
                None
            }
        }
    }
}

impl Event {
    fn from_fn(cx: &Ctxt, f: &syn::TraitItemFn) -> Option<Self> {
        check::event_signature(cx, f);
        let payload = f.sig.inputs.iter().find_map(|input| match input {
            FnArg::Typed(typed) => Some((*typed.ty).clone()),
            FnArg::Receiver(_) => None,
        })?;
        Some(Self {
            ident: f.sig.ident.clone(),
            name: f.sig.ident.unraw().to_string(),
            docs: docs(&f.attrs),
            cfgs: cfgs(&f.attrs),
            payload,
        })
    }
}

/// How a handler shares its queue: Nameko's `handler_type`, mirrored from
/// `contracts_core::HandlerType` (a proc-macro crate cannot depend on the crate it serves).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum HandlerType {
    #[default]
    ServicePool,
    Singleton,
    Broadcast,
}

impl HandlerType {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "service_pool" => Some(Self::ServicePool),
            "singleton" => Some(Self::Singleton),
            "broadcast" => Some(Self::Broadcast),
            _ => None,
        }
    }
}

/// The arguments of `#[handles(Source::event, handler_type = "...", reliable_delivery = ..)]`.
struct HandlesAttr {
    source: syn::Path,
    handler_type: HandlerType,
    reliable_delivery: bool,
}

impl HandlesAttr {
    fn parse(cx: &Ctxt, input: syn::parse::ParseStream) -> syn::Result<Self> {
        let source: syn::Path = input.parse()?;
        let mut handler_type: Option<(LitStr, HandlerType)> = None;
        let mut reliable: Option<syn::LitBool> = None;
        while input.parse::<syn::Token![,]>().is_ok() && !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<syn::Token![=]>()?;
            if key == "handler_type" {
                let value: LitStr = input.parse()?;
                match HandlerType::parse(&value.value()) {
                    Some(kind) => handler_type = Some((value, kind)),
                    None => cx.error_spanned_by(
                        &value,
                        "handler_type is \"service_pool\", \"singleton\" or \"broadcast\", as in Nameko",
                    ),
                }
            } else if key == "reliable_delivery" {
                reliable = Some(input.parse()?);
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unsupported #[handles] key `{key}`; the keys are `handler_type` and `reliable_delivery`"
                    ),
                ));
            }
        }
        let reliable_delivery = reliable.as_ref().is_none_or(syn::LitBool::value);
        if let Some((written, HandlerType::Broadcast)) = &handler_type
            && reliable_delivery
        {
            // Nameko refuses the same (EventHandlerConfigurationError): each start would leave
            // a durable queue behind under a fresh identifier.
            cx.error_spanned_by(
                written,
                "a broadcast handler gets a fresh queue per instance: add `reliable_delivery = false`, as Nameko requires",
            );
        }
        Ok(Self {
            source,
            handler_type: handler_type.map(|(_, kind)| kind).unwrap_or_default(),
            reliable_delivery,
        })
    }
}
