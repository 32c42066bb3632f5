//! A contract with its validators built: what clients, servers, publishers and subscribers
//! check every message with.

use super::{MessageSchema, ServiceContract};
use crate::validate::{InvalidSchema, MessageValidator};

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
                Ok(CompiledMethod {
                    name: m.name.clone(),
                    params: m.params.clone(),
                    required: m.required_params(),
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
