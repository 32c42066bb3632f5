//! Code generation: one function per generated item. Generated code names everything by
//! absolute path through `::contracts_core::__private`, so users need one dependency, and
//! keeps its helpers inside `const _: () = { ... };` so they cannot collide with user items.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::inherent;
use crate::model::{Event, Handler, HandlerType, Method, Param, Service};

fn core() -> TokenStream {
    quote!(::contracts_core)
}

struct Names {
    client: Ident,
    server: Ident,
    publisher: Ident,
    contract: Ident,
}

impl Names {
    fn of(service: &Service) -> Self {
        let t = &service.ident;
        Self {
            client: format_ident!("{}Client", t),
            server: format_ident!("{}Server", t),
            publisher: format_ident!("{}Publisher", t),
            contract: format_ident!("{}Contract", t),
        }
    }
}

pub(crate) fn service(service: &Service) -> TokenStream {
    let names = Names::of(service);
    let service_trait = service_trait(service);
    let requests = service.methods.iter().map(|m| request_struct(service, m));
    let (contract, contract_impls) = contract(service, &names);
    let (client, client_impls) = client(service, &names);
    let (server, server_impls) = server(service, &names);
    let (publisher, publisher_impls) = publisher(service, &names);
    let core = core();
    let contract_ident = &names.contract;
    // Request structs live inside the `const _` block with every impl: they are part of the
    // wire (their schemas are the request schemas) but not of the Rust API, so two services
    // with a method of the same name can share a module.
    quote! {
        #service_trait
        #contract
        #client
        #server
        #publisher
        const _: () = {
            #(#requests)*
            #contract_impls
            #client_impls
            #server_impls
            #publisher_impls

            static COMPILED: #core::__private::OnceLock<#core::CompiledService> =
                #core::__private::OnceLock::new();
            impl #core::__private::Compiled for #contract_ident {
                fn compiled() -> &'static #core::CompiledService {
                    COMPILED.get_or_init(|| #core::CompiledService::compile(Self::build()))
                }
            }
        };
    }
}

fn request_ident(method: &Method) -> Ident {
    format_ident!(
        "{}Request",
        camel_case(&method.name),
        span = method.ident.span()
    )
}

/// `create_user` → `CreateUser`, for the request struct (its schema title).
fn camel_case(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn doc_opt(docs: &Option<String>) -> TokenStream {
    match docs {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None => quote!(::core::option::Option::None),
    }
}

/// `name: Type, ...`, as the trait and the client both declare them.
fn typed_params(params: &[Param]) -> impl Iterator<Item = TokenStream> + '_ {
    params.iter().map(|p| {
        let (ident, ty) = (&p.ident, &p.ty);
        quote!(#ident: #ty)
    })
}

/// The trait as users implement it: each `async fn` becomes a method returning a `Send`
/// future, so the runner can serve calls on any worker thread.
fn service_trait(service: &Service) -> TokenStream {
    let Service {
        attrs,
        vis,
        ident,
        supertraits,
        ..
    } = service;
    let methods = service.methods.iter().map(|m| {
        let Method {
            ident,
            attrs,
            params,
            output,
            ..
        } = m;
        let params = typed_params(params);
        quote! {
            #(#attrs)*
            fn #ident(&self, #(#params),*)
                -> impl ::core::future::Future<Output = #output> + ::core::marker::Send;
        }
    });
    let handlers = service.handlers.iter().map(|h| {
        let Handler {
            ident,
            attrs,
            arg,
            payload,
            output,
            ..
        } = h;
        quote! {
            #(#attrs)*
            fn #ident(&self, #arg: #payload)
                -> impl ::core::future::Future<Output = #output> + ::core::marker::Send;
        }
    });
    quote! {
        #(#attrs)*
        #vis trait #ident: ::core::marker::Send + ::core::marker::Sync + 'static #supertraits {
            #(#methods)*
            #(#handlers)*
        }
    }
}

fn request_struct(service: &Service, method: &Method) -> TokenStream {
    let core = core();
    let ident = request_ident(method);
    let cfgs = &method.cfgs;
    let summary = format!(
        " The arguments of `{}.{}`, bound by parameter name.",
        service.name, method.name
    );
    let docs = match &method.docs {
        Some(d) => quote!(#[doc = #d]),
        None => quote!(#[doc = #summary]),
    };
    let serde_crate = format!("{core}::__private::serde").replace(' ', "");
    let schemars_crate = format!("{core}::__private::schemars").replace(' ', "");
    let fields = method.params.iter().map(|p| {
        let (ident, ty, attrs) = (&p.ident, &p.ty, &p.attrs);
        let field_doc = if attrs.iter().any(|a| a.path().is_ident("doc")) {
            quote!()
        } else {
            let doc = format!(" The `{ident}` argument.");
            quote!(#[doc = #doc])
        };
        // `#[sensitive]` is a mark in the schema, which every runtime reading it honours.
        let attrs = attrs.iter().map(|a| {
            if a.path().is_ident("sensitive") {
                quote!(#[schemars(extend("x-sensitive" = true))])
            } else {
                quote!(#a)
            }
        });
        quote!(#field_doc #(#attrs)* #ident: #ty,)
    });
    quote! {
        #(#cfgs)*
        #docs
        #[derive(#core::__private::serde::Serialize, #core::__private::serde::Deserialize, #core::__private::schemars::JsonSchema)]
        #[serde(crate = #serde_crate, deny_unknown_fields)]
        #[schemars(crate = #schemars_crate)]
        struct #ident {
            #(#fields)*
        }
    }
}

fn contract(service: &Service, names: &Names) -> (TokenStream, TokenStream) {
    let core = core();
    let vis = &service.vis;
    let ident = &names.contract;
    let name = &service.name;
    let doc = format!(
        " The contract of service `{name}`: its model and schemas, and its events for subscribing."
    );
    let service_doc = doc_opt(&service.docs);
    let methods = service.methods.iter().map(|m| {
        let cfgs = &m.cfgs;
        let request = request_ident(m);
        let ok = &m.ok;
        let method_name = &m.name;
        let method_doc = doc_opt(&m.docs);
        let params = m.params.iter().map(|p| p.ident.to_string());
        match &m.err {
            None => quote! {
                #(#cfgs)*
                let contract = contract.with_method::<#request, #ok>(#method_name, #method_doc, &[#(#params),*]);
            },
            Some(err) => quote! {
                #(#cfgs)*
                let contract = contract.with_fallible_method::<#request, #ok, #err>(#method_name, #method_doc, &[#(#params),*]);
            },
        }
    });
    let events = service.events.iter().map(|e| {
        let Event {
            name,
            payload,
            cfgs,
            ..
        } = e;
        let event_doc = doc_opt(&e.docs);
        quote! {
            #(#cfgs)*
            let contract = contract.with_event::<#payload>(#name, #event_doc);
        }
    });
    let subscriptions = service.handlers.iter().map(|h| {
        let Handler {
            name,
            payload,
            cfgs,
            handler_type,
            reliable_delivery,
            ..
        } = h;
        let event = event_const(&h.source);
        let handler_type = handler_type_path(*handler_type);
        quote! {
            #(#cfgs)*
            let contract = contract.with_handler::<#payload>(
                #event.0, #event.1, #name, #handler_type, #reliable_delivery,
            );
        }
    });
    let calls = &service.calls;
    let event_consts = service.events.iter().map(|e| {
        let cfgs = &e.cfgs;
        let ident = format_ident!("__event_{}", e.name);
        let event_name = &e.name;
        quote! {
            #(#cfgs)*
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            pub const #ident: (&'static str, &'static str) = (#name, #event_name);
        }
    });
    let event_specs = service.events.iter().map(|e| {
        let Event {
            ident,
            name,
            payload,
            cfgs,
            ..
        } = e;
        let doc = match &e.docs {
            Some(d) => format!(" Subscribe to `{}.{name}`: {d}", service.name),
            None => format!(" Subscribe to `{}.{name}`.", service.name),
        };
        quote! {
            #(#cfgs)*
            #[doc = #doc]
            pub fn #ident() -> #core::EventSpec<#payload> {
                #core::EventSpec::new(<Self as #core::__private::Compiled>::compiled(), #name)
            }
        }
    });
    let item = quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy)]
        #vis struct #ident;
    };
    let [build, contract_fn, name_const] = inherent::idents(inherent::CONTRACT);
    let impls = quote! {
        impl #ident {
            fn #build() -> #core::ServiceContract {
                let contract = #core::ServiceContract::new(#name, #service_doc);
                #(#methods)*
                #(#events)*
                #(#subscriptions)*
                #(let contract = contract.calling(<#calls>::NAME);)*
                contract
            }

            /// The Nameko service name.
            pub const #name_const: &'static str = #name;

            #(#event_consts)*

            /// The service model: name, methods, events and every message's JSON Schema.
            pub fn #contract_fn() -> &'static #core::ServiceContract {
                <Self as #core::__private::Compiled>::compiled().contract()
            }

            #(#event_specs)*
        }

        impl #core::Contract for #ident {
            fn contract() -> &'static #core::ServiceContract {
                <Self as #core::__private::Compiled>::compiled().contract()
            }
        }
    };
    (item, impls)
}

/// `Source::event` → `Source::__event_event`: the `(service, event)` names as a constant, so
/// recording a subscription never initialises the source's contract (two services handling
/// each other's events would otherwise wait on each other's initialisation).
fn event_const(source: &syn::Path) -> TokenStream {
    let mut path = source.clone();
    if let Some(last) = path.segments.last_mut() {
        last.ident = format_ident!("__event_{}", last.ident, span = last.ident.span());
    }
    quote!(#path)
}

fn handler_type_path(kind: HandlerType) -> TokenStream {
    let core = core();
    match kind {
        HandlerType::ServicePool => quote!(#core::HandlerType::ServicePool),
        HandlerType::Singleton => quote!(#core::HandlerType::Singleton),
        HandlerType::Broadcast => quote!(#core::HandlerType::Broadcast),
    }
}

fn reply_types(method: &Method) -> (TokenStream, TokenStream) {
    let ok = &method.ok;
    let err = match &method.err {
        Some(err) => quote!(#err),
        None => quote!(::contracts_core::Never),
    };
    (quote!(#ok), err)
}

fn client(service: &Service, names: &Names) -> (TokenStream, TokenStream) {
    let core = core();
    let vis = &service.vis;
    let Names {
        client, contract, ..
    } = names;
    let doc = format!(
        " Typed client of service `{}`: validates each request before sending and each reply on receipt.",
        service.name
    );
    let methods = service.methods.iter().map(|m| {
        let Method {
            ident,
            name,
            params,
            cfgs,
            ..
        } = m;
        let docs = m.attrs.iter().filter(|a| a.path().is_ident("doc"));
        let request = request_ident(m);
        let (ok, err) = reply_types(m);
        let args = typed_params(params);
        let fields = params.iter().map(|p| &p.ident);
        quote! {
            #(#cfgs)*
            #(#docs)*
            pub async fn #ident(&self, #(#args),*) -> ::core::result::Result<#ok, #core::CallError<#err>> {
                self.rpc
                    .call_method::<#request, #ok, #err>(
                        <#contract as #core::__private::Compiled>::compiled(),
                        #name,
                        &#request { #(#fields),* },
                    )
                    .await
            }
        }
    });
    let item = quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        #vis struct #client {
            rpc: #core::RpcClient,
        }
    };
    let [new, with_timeout, rpc] = inherent::idents(inherent::CLIENT);
    let impls = quote! {
        impl #client {
            /// A client making its calls through `rpc`.
            pub fn #new(rpc: #core::RpcClient) -> Self {
                Self { rpc }
            }

            /// The same client with another deadline for its calls (see
            /// `RpcClient::with_timeout`): `client.with_timeout(d).method(..)` overrides it
            /// for one call.
            #[must_use]
            pub fn #with_timeout(&self, timeout: ::std::time::Duration) -> Self {
                Self { rpc: self.rpc.with_timeout(timeout) }
            }

            /// The underlying RPC client.
            pub fn #rpc(&self) -> &#core::RpcClient {
                &self.rpc
            }

            #(#methods)*
        }
    };
    (item, impls)
}

fn server(service: &Service, names: &Names) -> (TokenStream, TokenStream) {
    let core = core();
    let vis = &service.vis;
    let trait_ident = &service.ident;
    let Names {
        server, contract, ..
    } = names;
    let doc = format!(
        " Serves any implementation of [`{trait_ident}`] as service `{}`: host it with a `ServiceRunner`.",
        service.name
    );
    let arms = service.methods.iter().map(|m| {
        let Method {
            ident,
            name,
            params,
            cfgs,
            err,
            ..
        } = m;
        let request = request_ident(m);
        let fields = params.iter().map(|p| &p.ident);
        let encode = match err {
            None => quote!(#core::__private::encode_value(&result)),
            Some(_) => quote!(#core::__private::encode_result(compiled, #name, &result)),
        };
        quote! {
            #(#cfgs)*
            #name => ::std::boxed::Box::pin(async move {
                let request: #request = #core::__private::decode_request(compiled, #name, request)?;
                let result = <S as #trait_ident>::#ident(&self.service, #(request.#fields),*).await;
                #encode
            }),
        }
    });
    let handlers_fn = server_handlers(service, trait_ident);
    let item = quote! {
        #[doc = #doc]
        #vis struct #server<S> {
            service: S,
        }
    };
    let impls = quote! {
        impl<S: #trait_ident> #server<S> {
            /// Serve `service`.
            pub fn new(service: S) -> Self {
                Self { service }
            }

            /// The service implementation.
            pub fn get_ref(&self) -> &S {
                &self.service
            }
        }

        impl<S: #trait_ident> #core::Dispatch for #server<S> {
            fn compiled(&self) -> &'static #core::CompiledService {
                <#contract as #core::__private::Compiled>::compiled()
            }

            fn dispatch<'a>(
                &'a self,
                method: &'a str,
                request: #core::Arguments<'a>,
            ) -> #core::transport::BoxFuture<'a, #core::server::Outcome> {
                let compiled = <#contract as #core::__private::Compiled>::compiled();
                match method {
                    #(#arms)*
                    other => #core::__private::method_not_found(other),
                }
            }

            #handlers_fn
        }
    };
    (item, impls)
}

/// `Dispatch::handlers`: one typed `EventHandler` per `#[handles]` method. The payload type
/// checks here: the source's `EventSpec<P>` only takes a handler of `P`.
fn server_handlers(service: &Service, trait_ident: &Ident) -> TokenStream {
    if service.handlers.is_empty() {
        return TokenStream::new();
    }
    let core = core();
    let service_name = &service.name;
    let pushes = service.handlers.iter().map(|h| {
        let Handler {
            ident,
            name,
            cfgs,
            source,
            payload,
            fallible,
            handler_type,
            reliable_delivery,
            ..
        } = h;
        let handler_type = handler_type_path(*handler_type);
        let call = if *fallible {
            quote!(<S as #trait_ident>::#ident(&server.service, event).await)
        } else {
            quote! {
                <S as #trait_ident>::#ident(&server.service, event).await;
                ::core::result::Result::<(), #core::Never>::Ok(())
            }
        };
        // Spanned at the payload type: a payload that is not the source event's type is
        // reported there.
        let subscribe = quote_spanned! {payload.span()=>
            #source().handler(#service_name, #name, move |event: #payload| {
                let server = ::std::sync::Arc::clone(&server);
                async move { #call }
            })
        };
        quote! {
            #(#cfgs)*
            handlers.push({
                let server = ::std::sync::Arc::clone(&self);
                #subscribe
                    .handler_type(#handler_type)
                    .reliable_delivery(#reliable_delivery)
            });
        }
    });
    quote! {
        fn handlers(self: ::std::sync::Arc<Self>) -> ::std::vec::Vec<#core::EventHandler> {
            let mut handlers = ::std::vec::Vec::new();
            #(#pushes)*
            handlers
        }
    }
}

fn publisher(service: &Service, names: &Names) -> (TokenStream, TokenStream) {
    if service.events.is_empty() {
        return (TokenStream::new(), TokenStream::new());
    }
    let core = core();
    let vis = &service.vis;
    let Names {
        publisher,
        contract,
        ..
    } = names;
    let doc = format!(
        " Publishes the events of service `{}` to `{}.events`, each validated before it leaves.",
        service.name, service.name
    );
    let methods = service.events.iter().map(|e| {
        let Event {
            ident,
            name,
            payload,
            cfgs,
            ..
        } = e;
        let doc = match &e.docs {
            Some(d) => format!(" Publish `{name}`: {d}"),
            None => format!(" Publish `{name}`."),
        };
        quote! {
            #(#cfgs)*
            #[doc = #doc]
            pub async fn #ident(&self, event: &#payload) -> ::core::result::Result<(), #core::PublishError> {
                self.inner.publish(#name, event).await
            }
        }
    });
    let item = quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        #vis struct #publisher {
            inner: #core::EventPublisher,
        }
    };
    let [new, with_validation, with_timeout] = inherent::idents(inherent::PUBLISHER);
    let impls = quote! {
        impl #publisher {
            /// A publisher on `transport`.
            pub fn #new(transport: #core::SharedTransport) -> Self {
                Self {
                    inner: #core::EventPublisher::new(
                        transport,
                        <#contract as #core::__private::Compiled>::compiled(),
                    ),
                }
            }

            /// A publisher that validates as `mode` says.
            #[must_use]
            pub fn #with_validation(&self, mode: #core::ValidationMode) -> Self {
                Self { inner: self.inner.with_validation(mode) }
            }

            /// A publisher whose publishes wait at most `timeout` for the broker's confirm
            /// (see `EventPublisher::with_timeout`).
            #[must_use]
            pub fn #with_timeout(&self, timeout: ::std::time::Duration) -> Self {
                Self { inner: self.inner.with_timeout(timeout) }
            }

            #(#methods)*
        }
    };
    (item, impls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctxt::Ctxt;
    use crate::model::{Service, ServiceAttr};

    fn expand(attr: TokenStream, item: TokenStream) -> syn::File {
        let item: syn::ItemTrait = syn::parse2(item).expect("a trait");
        let cx = Ctxt::new();
        let attr = ServiceAttr::parse(&cx, attr);
        let model = Service::from_trait(&cx, attr, &item);
        cx.check().expect("a valid service");
        syn::parse2(service(&model.expect("a model"))).expect("generated code parses")
    }

    /// Every function and constant defined in `impl <ty> { .. }` blocks, wherever they sit.
    fn inherent_names(file: &syn::File, ty: &str) -> Vec<String> {
        fn visit(items: &[syn::Item], ty: &str, out: &mut Vec<String>) {
            for item in items {
                match item {
                    syn::Item::Impl(i) if i.trait_.is_none() => {
                        let syn::Type::Path(p) = &*i.self_ty else {
                            continue;
                        };
                        if !p.path.is_ident(ty) {
                            continue;
                        }
                        for it in &i.items {
                            match it {
                                syn::ImplItem::Fn(f) => out.push(f.sig.ident.to_string()),
                                syn::ImplItem::Const(c) => out.push(c.ident.to_string()),
                                _ => {}
                            }
                        }
                    }
                    syn::Item::Const(c) => {
                        if let syn::Expr::Block(b) = &*c.expr {
                            let items: Vec<syn::Item> = b
                                .block
                                .stmts
                                .iter()
                                .filter_map(|s| match s {
                                    syn::Stmt::Item(i) => Some(i.clone()),
                                    _ => None,
                                })
                                .collect();
                            visit(&items, ty, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        visit(&file.items, ty, &mut out);
        out
    }

    #[test]
    fn reserved_names_are_what_the_generated_types_define() {
        let file = expand(
            quote!(name = "svc"),
            quote! {
                pub trait Svc {
                    async fn greet(&self, name: String) -> String;
                    #[event]
                    fn greeted(event: String);
                }
            },
        );
        let own = |ty: &str, contract_names: &[&str]| -> Vec<String> {
            let mut names: Vec<String> = inherent_names(&file, ty)
                .into_iter()
                .filter(|n| !contract_names.contains(&n.as_str()) && !n.starts_with("__event_"))
                .collect();
            names.sort();
            names
        };
        let sorted = |names: &[&str]| {
            let mut v: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            v.sort();
            v
        };
        assert_eq!(own("SvcClient", &["greet"]), sorted(&inherent::CLIENT));
        assert_eq!(
            own("SvcContract", &["greeted"]),
            sorted(&inherent::CONTRACT)
        );
        assert_eq!(
            own("SvcPublisher", &["greeted"]),
            sorted(&inherent::PUBLISHER)
        );
    }

    #[test]
    fn request_struct_names_are_camel_case() {
        assert_eq!(camel_case("create_user"), "CreateUser");
        assert_eq!(camel_case("hello"), "Hello");
        assert_eq!(camel_case("__odd__name_"), "OddName");
        assert_eq!(camel_case("v2_api"), "V2Api");
    }

    #[test]
    fn event_constants_keep_the_source_path() {
        let path: syn::Path = syn::parse_quote!(crate::users::UserServiceContract::user_created);
        assert_eq!(
            event_const(&path).to_string(),
            quote!(crate::users::UserServiceContract::__event_user_created).to_string()
        );
    }
}
