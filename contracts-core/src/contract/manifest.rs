//! `service.json`: the manifest of one service under `schemas/<service>/`.
//!
//! It names what the service serves, publishes, handles and calls, and which file holds each
//! message's schema. [`schema_files`](crate::contract::schema_files) writes it from a
//! [`ServiceContract`]; the `contracts` tool reads it back with [`Manifest::read`], so a team
//! whose services are not written in Rust can use the tool from the files alone. Its own JSON
//! Schema ([`Manifest::json_schema`]) is committed as `schemas/service.schema.json`.
//!
//! Older manifests stay readable: every field added after the first release has a default.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contract::{MessageSchema, ServiceContract};
use crate::wire::topology::{self, HandlerType};

/// The file name of a service's manifest in its schemas folder.
pub const FILE_NAME: &str = "service.json";

/// What `schemas/<service>/service.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "contracts service manifest")]
pub struct Manifest {
    /// The Nameko service name.
    pub name: String,
    /// The service's doc comment.
    #[serde(default)]
    pub doc: Option<String>,
    /// Where calls arrive; `null` for a service with no RPC methods (it declares no queue,
    /// as in Nameko).
    #[serde(default)]
    pub rpc: Option<RpcEndpoint>,
    /// The exchange the service publishes its events on (`<service>.events`).
    pub events_exchange: String,
    /// RPC methods, in declaration order.
    #[serde(default)]
    pub methods: Vec<MethodEntry>,
    /// Events the service publishes, in declaration order.
    #[serde(default)]
    pub events: Vec<EventEntry>,
    /// Events the service handles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionEntry>,
    /// Services this one calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<String>,
}

/// The exchange and queue a service's calls arrive by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RpcEndpoint {
    /// The RPC exchange (`nameko-rpc`).
    pub exchange: String,
    /// The service's queue (`rpc-<service>`).
    pub queue: String,
}

/// A message: its type's name and the file (relative to the manifest) holding its schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MessageFile {
    /// The type's name in the contract (`CreateUserRequest`, `Created`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// The schema file, relative to the manifest's folder.
    pub schema: String,
}

/// One RPC method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MethodEntry {
    /// The method name (the second word of the routing key).
    pub name: String,
    /// The method's doc comment.
    #[serde(default)]
    pub doc: Option<String>,
    /// Parameter names in order: positional arguments bind to these.
    #[serde(default)]
    pub params: Vec<String>,
    /// The arguments, bound by name into one object.
    pub request: MessageFile,
    /// The `result` of a successful reply.
    pub reply: MessageFile,
    /// The declared error, if the method has one.
    #[serde(default)]
    pub error: Option<ErrorEntry>,
}

/// A declared error and the `exc_path` it travels under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorEntry {
    /// `<service>.<TypeName>`: the error dict's `exc_path`.
    pub exc_path: String,
    /// The error value's type and schema file.
    #[serde(flatten)]
    pub message: MessageFile,
}

/// An event the service publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventEntry {
    /// The event type (the routing key on `<service>.events`).
    pub name: String,
    /// The event's doc comment.
    #[serde(default)]
    pub doc: Option<String>,
    /// The payload's type and schema file.
    pub payload: MessageFile,
}

/// An event the service handles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionEntry {
    /// The publishing service.
    pub source: String,
    /// The event type.
    pub event: String,
    /// The handling method.
    pub method: String,
    /// How instances share the queue (Nameko's `handler_type`).
    #[serde(default)]
    pub handler_type: HandlerType,
    /// The queue consumed; a broadcast queue's name ends in `{broadcast_identifier}`.
    pub queue: String,
    /// Whether the queue outlives the handler (Nameko's `reliable_delivery`).
    #[serde(default = "reliable_by_default")]
    pub reliable_delivery: bool,
    /// The payload: the publisher's event schema file (`../<source>/<event>.event.json`).
    pub payload: MessageFile,
}

fn reliable_by_default() -> bool {
    true
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a manifest.
    #[error("{path} is not a service manifest")]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// What serde found, with its line and column.
        #[source]
        source: serde_json::Error,
    },
}

/// The file names of a contract's messages, as the manifest names them.
pub fn request_file(method: &str) -> String {
    format!("{method}.request.json")
}

/// See [`request_file`].
pub fn reply_file(method: &str) -> String {
    format!("{method}.reply.json")
}

/// See [`request_file`].
pub fn error_file(method: &str) -> String {
    format!("{method}.error.json")
}

/// See [`request_file`].
pub fn event_file(event: &str) -> String {
    format!("{event}.event.json")
}

fn message(schema: &MessageSchema, file: String) -> MessageFile {
    MessageFile {
        type_name: schema.type_name.clone(),
        schema: file,
    }
}

impl Manifest {
    /// The manifest of `contract`, naming the files [`schema_files`](crate::contract::schema_files)
    /// writes beside it.
    pub fn of(contract: &ServiceContract) -> Self {
        let name = &contract.name;
        Self {
            name: name.clone(),
            doc: contract.doc.clone(),
            rpc: (!contract.methods.is_empty()).then(|| RpcEndpoint {
                exchange: topology::RPC_EXCHANGE.to_owned(),
                queue: topology::rpc_queue_name(name),
            }),
            events_exchange: topology::events_exchange_name(name),
            methods: contract
                .methods
                .iter()
                .map(|m| MethodEntry {
                    name: m.name.clone(),
                    doc: m.doc.clone(),
                    params: m.params.clone(),
                    request: message(&m.request, request_file(&m.name)),
                    reply: message(&m.reply, reply_file(&m.name)),
                    error: m.error.as_ref().map(|e| ErrorEntry {
                        exc_path: e.exc_path.clone(),
                        message: message(&e.message, error_file(&m.name)),
                    }),
                })
                .collect(),
            events: contract
                .events
                .iter()
                .map(|e| EventEntry {
                    name: e.name.clone(),
                    doc: e.doc.clone(),
                    payload: message(&e.payload, event_file(&e.name)),
                })
                .collect(),
            // A subscription points at the publisher's event file rather than copying its
            // schema: one schema per message, whoever reads it.
            subscriptions: contract
                .subscriptions
                .iter()
                .map(|s| SubscriptionEntry {
                    source: s.source.clone(),
                    event: s.event.clone(),
                    method: s.method.clone(),
                    handler_type: s.handler_type,
                    queue: s.queue.clone(),
                    reliable_delivery: s.reliable_delivery,
                    payload: message(
                        &s.payload,
                        format!("../{}/{}", s.source, event_file(&s.event)),
                    ),
                })
                .collect(),
            calls: contract.calls.clone(),
        }
    }

    /// Read a manifest file.
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ManifestError::Invalid {
            path: path.to_owned(),
            source,
        })
    }

    /// The manifest as written to disk: pretty JSON with sorted keys and a final newline, so
    /// the committed files diff line by line.
    pub fn to_json_text(&self) -> String {
        // Through `Value`, whose maps sort their keys.
        let value = serde_json::to_value(self).expect("a manifest always encodes");
        let mut text = serde_json::to_string_pretty(&value).expect("JSON values always encode");
        text.push('\n');
        text
    }

    /// The JSON Schema of `service.json` itself (Draft 2020-12).
    pub fn json_schema() -> serde_json::Value {
        schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<Self>()
            .to_value()
    }

    /// The method called `name`.
    pub fn method(&self, name: &str) -> Option<&MethodEntry> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// The event called `name`.
    pub fn event(&self, name: &str) -> Option<&EventEntry> {
        self.events.iter().find(|e| e.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_release_manifests_still_read() {
        // What `schemas/` held before subscriptions and calls existed: nulls, no defaults.
        let old = r#"{
            "name": "svc", "doc": null, "rpc": {"exchange": "nameko-rpc", "queue": "rpc-svc"},
            "events_exchange": "svc.events",
            "methods": [{"name": "m", "doc": null, "params": ["a"], "error": null,
                "request": {"type": "MRequest", "schema": "m.request.json"},
                "reply": {"type": "u8", "schema": "m.reply.json"}}],
            "events": []
        }"#;
        let manifest: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(manifest.method("m").unwrap().params, ["a"]);
        assert!(manifest.subscriptions.is_empty() && manifest.calls.is_empty());
    }

    #[test]
    fn unknown_handler_types_are_refused() {
        let sub = r#"{"source": "a", "event": "e", "method": "m", "handler_type": "fanout",
            "queue": "q", "payload": {"type": "T", "schema": "../a/e.event.json"}}"#;
        let error = serde_json::from_str::<SubscriptionEntry>(sub).unwrap_err();
        assert!(error.to_string().contains("fanout"), "{error}");
    }
}
