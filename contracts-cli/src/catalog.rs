//! A `schemas/` directory read back: the [`ServiceContract`] of every service in it, as
//! [`schema_files::read`] gives them. Only the files are read, so the tool serves contracts
//! written in any language.

use std::collections::BTreeMap;
use std::path::Path;

use contracts_core::contract::schema_files::{self, SchemaFilesError};
use contracts_core::contract::{EventContract, MethodContract, ServiceContract};
use serde_json::Value;

/// Every service of a schemas directory, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// Services by name.
    pub services: BTreeMap<String, ServiceContract>,
}

/// Why `contracts validate` cannot find the message it was given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnknownMessage {
    /// The name is not `service.item[.part]`.
    #[error(
        "`{0}`: name a message as service.method, service.method.reply, service.method.error \
         or service.event"
    )]
    Malformed(String),
    /// No such service.
    #[error("no service `{service}` in the schemas (have: {known:?})")]
    Service {
        /// The service named.
        service: String,
        /// The services there are.
        known: Vec<String>,
    },
    /// No method or event of that name.
    #[error(
        "`{service}` has no method or event `{item}` (methods: {methods:?}, events: {events:?})"
    )]
    Item {
        /// The service.
        service: String,
        /// The method or event named.
        item: String,
        /// The service's methods.
        methods: Vec<String>,
        /// The service's events.
        events: Vec<String>,
    },
    /// A part of a method other than request, reply and error.
    #[error("`{0}`: a method's messages are request, reply and error")]
    Part(String),
    /// The method has no declared error.
    #[error("{service}.{method} declares no error")]
    NoError {
        /// The service.
        service: String,
        /// The method.
        method: String,
    },
}

impl Catalog {
    /// Read every `<service>/service.json` under `dir`, with the schema files it names.
    pub fn load(dir: &Path) -> Result<Self, SchemaFilesError> {
        Ok(Self::of(schema_files::read(dir)?))
    }

    /// The catalog of `contracts`.
    pub fn of(contracts: impl IntoIterator<Item = ServiceContract>) -> Self {
        let services = contracts
            .into_iter()
            .map(|contract| (contract.name.clone(), contract))
            .collect();
        Self { services }
    }

    /// The schema of a message named `service.method[.request|.reply|.error]` or
    /// `service.event`, with what it is, for messages.
    pub fn message(&self, name: &str) -> Result<(String, &Value), UnknownMessage> {
        let mut parts = name.splitn(3, '.');
        let (Some(service), Some(item)) = (parts.next(), parts.next()) else {
            return Err(UnknownMessage::Malformed(name.to_owned()));
        };
        let part = parts.next();
        let svc = self
            .services
            .get(service)
            .ok_or_else(|| UnknownMessage::Service {
                service: service.to_owned(),
                known: self.services.keys().cloned().collect(),
            })?;
        if let Some(method) = svc.method(item) {
            return match part.unwrap_or("request") {
                "request" => Ok((format!("{service}.{item} request"), &method.request.schema)),
                "reply" => Ok((format!("{service}.{item} reply"), &method.reply.schema)),
                "error" => method
                    .error
                    .as_ref()
                    .map(|e| (format!("{service}.{item} error"), &e.message.schema))
                    .ok_or_else(|| UnknownMessage::NoError {
                        service: service.to_owned(),
                        method: item.to_owned(),
                    }),
                other => Err(UnknownMessage::Part(other.to_owned())),
            };
        }
        if let (Some(event), None) = (svc.event(item), part) {
            return Ok((format!("{service}.{item} event"), &event.payload.schema));
        }
        Err(UnknownMessage::Item {
            service: service.to_owned(),
            item: item.to_owned(),
            methods: methods_by_name(svc).map(|m| m.name.clone()).collect(),
            events: events_by_name(svc).map(|e| e.name.clone()).collect(),
        })
    }
}

/// A service's methods in name order, the order the documents and reports list them in.
pub fn methods_by_name(service: &ServiceContract) -> impl Iterator<Item = &MethodContract> {
    let mut methods: Vec<_> = service.methods.iter().collect();
    methods.sort_by(|a, b| a.name.cmp(&b.name));
    methods.into_iter()
}

/// A service's events in name order (see [`methods_by_name`]).
pub fn events_by_name(service: &ServiceContract) -> impl Iterator<Item = &EventContract> {
    let mut events: Vec<_> = service.events.iter().collect();
    events.sort_by(|a, b| a.name.cmp(&b.name));
    events.into_iter()
}
