//! The service model: what a `#[service]` trait declares, with every message's JSON Schema.
//!
//! A [`ServiceContract`] is plain data (it serializes to the service manifest under
//! `schemas/`); a [`CompiledService`] adds the validators built from it, once per process.

mod compiled;
pub mod manifest;
pub mod schema_files;

pub use compiled::{CompiledEvent, CompiledMethod, CompiledService, InvalidContract};

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wire::topology::{self, BROADCAST_IDENTIFIER_PLACEHOLDER, HandlerNames, HandlerType};

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
        let queue =
            topology::event_queue_name(names, handler_type, BROADCAST_IDENTIFIER_PLACEHOLDER);
        Self {
            source: names.source.to_owned(),
            event: names.event.to_owned(),
            method: names.method.to_owned(),
            handler_type,
            queue,
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

impl MethodContract {
    /// For each of [`params`](Self::params), whether the request schema requires it: what
    /// binding a call's arguments needs to know (`wire::bind_arguments`).
    pub fn required_params(&self) -> Vec<bool> {
        let request = &self.request.schema;
        let required = resolve_ref(request, request)
            .get("required")
            .and_then(Value::as_array);
        self.params
            .iter()
            .map(|p| required.is_some_and(|r| r.iter().any(|v| v == p.as_str())))
            .collect()
    }
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
        .with_transform(RecursiveTransform(integer_range))
        .into_generator()
        .into_root_schema_for::<T>();
    MessageSchema {
        type_name: short_type_name::<T>(),
        schema: schema.to_value(),
    }
}

/// The range of values an integer schema's `format` stands for (schemars writes `uint64` for a
/// `u64`, `int32` for an `i32`, …): what a reader of the schema can hold, whether or not the
/// schema spells it out as `minimum` and `maximum`. `None` for other formats.
pub fn integer_format_range(format: &str) -> Option<(i128, i128)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "uint8" => (0, u8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        "int64" | "int" => (i64::MIN.into(), i64::MAX.into()),
        "uint64" | "uint" => (0, u64::MAX.into()),
        _ => return None,
    })
}

/// Give an integer schema the range of its Rust type where schemars leaves it open (it
/// bounds `u8`, `i16`, … but not `u32`, `i64`, `u64`, …): without it the schema accepts
/// `2^64` for a `u64`, which no decoder can take, and every check would judge it differently.
/// A bound the user wrote that is tighter stays.
fn integer_range(schema: &mut schemars::Schema) {
    let Some(range) = schema
        .get("format")
        .and_then(Value::as_str)
        .and_then(integer_format_range)
    else {
        return;
    };
    let integer = match schema.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
        _ => false,
    };
    if !integer {
        return;
    }
    let bound = |value: i128| -> Value {
        i64::try_from(value).map_or_else(|_| Value::from(value as u64), Value::from)
    };
    let number = |key: &str, schema: &schemars::Schema| schema.get(key).and_then(Value::as_f64);
    if number("minimum", schema).is_none_or(|min| min < range.0 as f64) {
        schema.insert("minimum".to_owned(), bound(range.0));
    }
    if number("maximum", schema).is_none_or(|max| max > range.1 as f64) {
        schema.insert("maximum".to_owned(), bound(range.1));
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
