//! The service model: what a `#[service]` trait declares, with every message's JSON Schema.
//!
//! A [`ServiceContract`] is plain data (it serializes to the service manifest under
//! `schemas/`); a [`CompiledService`] adds the validators built from it, once per process.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::topology::{self, BROADCAST_IDENTIFIER_PLACEHOLDER, HandlerNames, HandlerType};
use crate::validate::{InvalidSchema, MessageValidator};

/// A service's contract: its name, RPC methods and events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceContract {
    /// The Nameko service name (`rpc-<name>` queue, `<name>.events` exchange).
    pub name: String,
    /// The trait's doc comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// RPC methods, in declaration order.
    pub methods: Vec<MethodContract>,
    /// Events the service publishes, in declaration order.
    pub events: Vec<EventContract>,
    /// Events the service handles, so that docs and compatibility checks see who consumes
    /// what.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
    /// Services this one calls (`#[service(calls(..))]`), so that docs can draw who calls
    /// whom.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
}

/// One event handler of a service: what it consumes and from where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// The publishing service.
    pub source: String,
    /// The event type.
    pub event: String,
    /// The handling method (the handler queue's name carries it).
    pub method: String,
    /// How instances share the queue (Nameko's `handler_type`).
    pub handler_type: HandlerType,
    /// The queue it consumes; a broadcast queue ends in `{broadcast_identifier}`.
    pub queue: String,
    /// Whether the queue outlives the handler (Nameko's `reliable_delivery`).
    pub reliable_delivery: bool,
    /// The payload it expects: the source's event schema.
    pub payload: MessageSchema,
}

impl Subscription {
    /// The subscription of the handler `names`; a broadcast queue's name ends in
    /// [`BROADCAST_IDENTIFIER_PLACEHOLDER`], since every instance has its own.
    pub fn new(
        names: HandlerNames<'_>,
        handler_type: HandlerType,
        reliable_delivery: bool,
        payload: MessageSchema,
    ) -> Self {
        let queue = topology::event_queue(
            names,
            handler_type,
            BROADCAST_IDENTIFIER_PLACEHOLDER,
            reliable_delivery,
        );
        Self {
            source: names.source.to_owned(),
            event: names.event.to_owned(),
            method: names.method.to_owned(),
            handler_type,
            queue: queue.name,
            reliable_delivery,
            payload,
        }
    }
}

/// One RPC method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodContract {
    /// Method name (the second word of the routing key).
    pub name: String,
    /// The method's doc comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Parameter names in order: positional `args` bind to these.
    pub params: Vec<String>,
    /// The arguments, bound by name into one object.
    pub request: MessageSchema,
    /// The `result` of a successful reply.
    pub reply: MessageSchema,
    /// The declared error type, if the method returns `Result<T, E>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<DeclaredErrorSchema>,
}

/// An event the service publishes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventContract {
    /// Event type (the routing key on `<service>.events`).
    pub name: String,
    /// The event's doc comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// The payload, sent as the raw message body.
    pub payload: MessageSchema,
}

/// A message type and its JSON Schema (Draft 2020-12).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageSchema {
    /// The Rust type's name.
    pub type_name: String,
    /// The schema.
    pub schema: Value,
}

/// A declared error type and the `exc_path` it travels under.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeclaredErrorSchema {
    /// `<service>.<TypeName>`: what the error dict's `exc_path` says.
    pub exc_path: String,
    /// The error value, carried in the error dict's `payload` key.
    #[serde(flatten)]
    pub message: MessageSchema,
}

/// What `schema` stands for inside the message schema `root`: the target of its local `$ref`
/// (`#/$defs/Name`), followed again while the target is itself a reference; `schema` itself
/// when it is no local reference or its target is missing. A circle of references stops
/// after a few steps rather than looping.
pub fn resolve_ref<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(pointer) if pointer.starts_with('#') => match root.pointer(&pointer[1..]) {
                Some(target) => schema = target,
                None => return schema,
            },
            _ => return schema,
        }
    }
    schema
}

/// The JSON Schema of `T`, as every contract generates it: Draft 2020-12, deserialize side.
pub fn schema_of<T: JsonSchema>() -> MessageSchema {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    MessageSchema {
        type_name: short_type_name::<T>(),
        schema: schema.to_value(),
    }
}

fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    // `a::b::Outer<c::Inner>` → `Outer<Inner>`: drop module paths, keep generics readable.
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for ch in full.chars() {
        match ch {
            ':' => segment.clear(),
            '<' | '>' | ',' | ' ' | '(' | ')' | '[' | ']' | ';' | '&' => {
                out.push_str(&segment);
                segment.clear();
                out.push(ch);
            }
            _ => segment.push(ch),
        }
    }
    out.push_str(&segment);
    out
}

impl ServiceContract {
    /// Start a contract. Generated code calls this; users read contracts through
    /// `<Trait>Contract::contract()`.
    pub fn new(name: &str, doc: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            doc: doc.map(str::to_owned),
            methods: Vec::new(),
            events: Vec::new(),
            subscriptions: Vec::new(),
            calls: Vec::new(),
        }
    }

    /// The same contract, also recording that the service calls `service`.
    #[must_use]
    pub fn calling(mut self, service: &str) -> Self {
        if !self.calls.iter().any(|c| c == service) {
            self.calls.push(service.to_owned());
        }
        self
    }

    /// The same contract, also recording `subscription`.
    #[must_use]
    pub fn with_subscription(mut self, subscription: Subscription) -> Self {
        self.subscriptions.push(subscription);
        self
    }

    /// Add a method that cannot fail with a declared error.
    #[must_use]
    pub fn with_method<Req: JsonSchema, Rep: JsonSchema>(
        mut self,
        name: &str,
        doc: Option<&str>,
        params: &[&str],
    ) -> Self {
        self.methods.push(MethodContract {
            name: name.to_owned(),
            doc: doc.map(str::to_owned),
            params: params.iter().map(|p| (*p).to_owned()).collect(),
            request: schema_of::<Req>(),
            reply: schema_of::<Rep>(),
            error: None,
        });
        self
    }

    /// Add a method returning `Result<Rep, Err>`.
    #[must_use]
    pub fn with_fallible_method<Req: JsonSchema, Rep: JsonSchema, Err: JsonSchema>(
        self,
        name: &str,
        doc: Option<&str>,
        params: &[&str],
    ) -> Self {
        let mut this = self.with_method::<Req, Rep>(name, doc, params);
        let message = schema_of::<Err>();
        let exc_path = format!("{}.{}", this.name, message.type_name);
        this.methods.last_mut().expect("just pushed").error =
            Some(DeclaredErrorSchema { exc_path, message });
        this
    }

    /// Add an event with payload `P`.
    #[must_use]
    pub fn with_event<P: JsonSchema>(mut self, name: &str, doc: Option<&str>) -> Self {
        self.events.push(EventContract {
            name: name.to_owned(),
            doc: doc.map(str::to_owned),
            payload: schema_of::<P>(),
        });
        self
    }

    /// Add a handler `method` of `source`'s event `event`, whose payload is `P`.
    #[must_use]
    pub fn with_handler<P: JsonSchema>(
        self,
        source: &str,
        event: &str,
        method: &str,
        handler_type: HandlerType,
        reliable_delivery: bool,
    ) -> Self {
        let names = HandlerNames {
            source,
            event,
            service: &self.name,
            method,
        };
        let subscription =
            Subscription::new(names, handler_type, reliable_delivery, schema_of::<P>());
        self.with_subscription(subscription)
    }

    /// Find a method by name.
    pub fn method(&self, name: &str) -> Option<&MethodContract> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// Find an event by name.
    pub fn event(&self, name: &str) -> Option<&EventContract> {
        self.events.iter().find(|e| e.name == name)
    }
}

/// A contract with its validators compiled: built once per process, shared by every client,
/// server, publisher and subscriber of the service.
#[derive(Debug)]
pub struct CompiledService {
    contract: ServiceContract,
    methods: Vec<CompiledMethod>,
    events: Vec<CompiledEvent>,
}

/// A method's validators and binding information.
#[derive(Debug)]
pub struct CompiledMethod {
    pub(crate) name: String,
    pub(crate) params: Vec<String>,
    pub(crate) required: Vec<bool>,
    pub(crate) request: MessageValidator,
    pub(crate) reply: MessageValidator,
    pub(crate) error: Option<(MessageValidator, String)>,
}

impl CompiledMethod {
    /// The validator of the bound request (`{"param": value}`).
    pub fn request(&self) -> &MessageValidator {
        &self.request
    }

    /// The validator of the reply's `result`.
    pub fn reply(&self) -> &MessageValidator {
        &self.reply
    }

    /// The validator of the declared error's value and the `exc_path` it travels under, if
    /// the method declares one.
    pub fn error(&self) -> Option<(&MessageValidator, &str)> {
        self.error
            .as_ref()
            .map(|(validator, path)| (validator, path.as_str()))
    }

    /// The method's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An event's validator.
#[derive(Debug)]
pub struct CompiledEvent {
    pub(crate) name: String,
    pub(crate) payload: MessageValidator,
}

impl CompiledEvent {
    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The validator of the payload.
    pub fn payload(&self) -> &MessageValidator {
        &self.payload
    }
}

/// A contract with a message schema no message can be checked against.
#[derive(Debug, thiserror::Error)]
#[error("contract `{service}`: the schema of {message} (`{type_name}`) is invalid")]
pub struct InvalidContract {
    /// The service.
    pub service: String,
    /// Which message: `create_user's request`, `event user_created`.
    pub message: String,
    /// The message's type.
    pub type_name: String,
    /// What is wrong with the schema.
    #[source]
    pub source: InvalidSchema,
}

fn compile(
    service: &str,
    message: impl FnOnce() -> String,
    schema: &MessageSchema,
) -> Result<MessageValidator, InvalidContract> {
    MessageValidator::new(&schema.schema).map_err(|source| InvalidContract {
        service: service.to_owned(),
        message: message(),
        type_name: schema.type_name.clone(),
        source,
    })
}

impl CompiledService {
    /// Compile every message schema of `contract`.
    ///
    /// # Panics
    /// If a schema is not valid JSON Schema, naming the service and message: for a contract
    /// generated from Rust types that is a bug in the types (a `regex` constraint that is not
    /// a valid pattern, say). [`CompiledService::try_compile`] returns the error instead.
    pub fn compile(contract: ServiceContract) -> Self {
        Self::try_compile(contract).unwrap_or_else(|e| panic!("{e}: {}", e.source.0))
    }

    /// Compile every message schema of `contract`, or say which one is not valid JSON Schema:
    /// for contracts read at run time (from schema files, say).
    pub fn try_compile(contract: ServiceContract) -> Result<Self, InvalidContract> {
        let service = contract.name.as_str();
        let methods = contract
            .methods
            .iter()
            .map(|m| {
                let required_names: Vec<&str> = m
                    .request
                    .schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                Ok(CompiledMethod {
                    name: m.name.clone(),
                    params: m.params.clone(),
                    required: m
                        .params
                        .iter()
                        .map(|p| required_names.contains(&p.as_str()))
                        .collect(),
                    request: compile(service, || format!("{}'s request", m.name), &m.request)?,
                    reply: compile(service, || format!("{}'s reply", m.name), &m.reply)?,
                    error: match &m.error {
                        Some(e) => Some((
                            compile(service, || format!("{}'s error", m.name), &e.message)?,
                            e.exc_path.clone(),
                        )),
                        None => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, InvalidContract>>()?;
        let events = contract
            .events
            .iter()
            .map(|e| {
                Ok(CompiledEvent {
                    name: e.name.clone(),
                    payload: compile(service, || format!("event {}", e.name), &e.payload)?,
                })
            })
            .collect::<Result<Vec<_>, InvalidContract>>()?;
        Ok(Self {
            contract,
            methods,
            events,
        })
    }

    /// The contract this was compiled from.
    pub fn contract(&self) -> &ServiceContract {
        &self.contract
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.contract.name
    }

    /// Position of the method called `name`.
    pub fn method_index(&self, name: &str) -> Option<usize> {
        // Services have a handful of methods: a scan beats hashing the name on every call.
        self.methods.iter().position(|m| m.name == name)
    }

    /// The method at `index` ([`Self::method_index`]).
    ///
    /// # Panics
    /// If there is no method at `index`.
    pub fn method(&self, index: usize) -> &CompiledMethod {
        &self.methods[index]
    }

    /// The method called `name`, if the contract declares one.
    pub fn method_by_name(&self, name: &str) -> Option<&CompiledMethod> {
        self.method_index(name).map(|index| self.method(index))
    }

    /// The compiled method called `name`; generated code only names declared methods.
    pub(crate) fn method_named(&self, name: &str) -> &CompiledMethod {
        self.method_by_name(name)
            .unwrap_or_else(|| panic!("service `{}` declares no method `{name}`", self.name()))
    }

    /// Position of the event called `name`.
    pub fn event_index(&self, name: &str) -> Option<usize> {
        self.events.iter().position(|e| e.name == name)
    }

    /// The event called `name`, if the contract declares one.
    pub fn event_by_name(&self, name: &str) -> Option<&CompiledEvent> {
        self.event_index(name).map(|index| self.event(index))
    }

    /// The event at `index` ([`Self::event_index`]).
    ///
    /// # Panics
    /// If there is no event at `index`.
    pub fn event(&self, index: usize) -> &CompiledEvent {
        &self.events[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_names_drop_module_paths() {
        assert_eq!(short_type_name::<String>(), "String");
        assert_eq!(short_type_name::<Vec<String>>(), "Vec<String>");
        assert_eq!(
            short_type_name::<HashMap<String, u8>>(),
            "HashMap<String, u8>"
        );
    }
}
