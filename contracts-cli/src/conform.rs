//! `contracts conform`: how much of a [recording] the committed contracts
//! would refuse, per message and per JSON pointer — what a team reads before it turns
//! validation on.
//!
//! Each sample is checked as an enforcing service and client would check it:
//!
//! - a request's positional and keyword arguments are bound to the method's `params` as
//!   Python binds a call (too many, unknown or missing arguments fail at the root), and the
//!   bound object is validated against the request schema;
//! - a successful reply's `result` against the reply schema;
//! - an error reply's `exc_type` must be one the method declares (a variant of its error
//!   type), and a structured `payload`, when the error carries one, is validated against the
//!   error schema. A method that declares no error fails every error reply: the contract says
//!   it never fails;
//! - an event's payload against the event's schema.
//!
//! A method or event the contract does not have fails at the root. Services with no contract
//! at all are listed as not covered and fail nothing: they are not being enforced.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use contracts_core::contract::{MethodContract, resolve_ref};
use contracts_core::validate::{Failure, InvalidSchema, MessageValidator};
use contracts_core::wire::{ErrorDict, bind_arguments};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::recording::{self, Call, Read, ReadError, Sample};

/// Which message of a method or event a sample was checked as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// A call's arguments.
    Request,
    /// A successful reply's `result`.
    Reply,
    /// An error reply.
    Error,
    /// An event's payload.
    Event,
}

impl Part {
    /// Its name, as reports print it: `request`, `reply`, `error`, `event`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Reply => "reply",
            Self::Error => "error",
            Self::Event => "event",
        }
    }
}

/// Why a recording could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    /// The recording could not be read.
    #[error(transparent)]
    Recording(#[from] ReadError),
    /// A committed schema is not valid JSON Schema.
    #[error("the {part:?} schema of {service}.{item} is invalid")]
    Schema {
        /// The service.
        service: String,
        /// The method or event.
        item: String,
        /// Which of its messages.
        part: Part,
        /// Why.
        #[source]
        source: InvalidSchema,
    },
}

/// One message's verdicts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageReport {
    /// The service.
    pub service: String,
    /// The method or event.
    pub item: String,
    /// Which of its messages.
    pub part: Part,
    /// Samples checked.
    pub checked: u64,
    /// Samples that would be refused.
    pub failed: u64,
    /// Per JSON pointer (empty for the root), how many samples failed there, and the first
    /// reason seen.
    pub pointers: Vec<PointerReport>,
}

/// How often samples of a message failed at one JSON pointer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointerReport {
    /// Where, in the message (a request is checked as its bound arguments object).
    pub pointer: String,
    /// Samples failing there.
    pub count: u64,
    /// The first sample's reason (sensitive values redacted).
    pub reason: String,
}

/// What [`conform`] found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conformance {
    /// What reading the recording found.
    pub read: Read,
    /// Every message checked, by service, item and part.
    pub messages: Vec<MessageReport>,
    /// Services recorded that have no contract, with their sample counts: not checked.
    pub not_covered: BTreeMap<String, u64>,
}

impl Conformance {
    /// Samples that would be refused, in all.
    pub fn failed(&self) -> u64 {
        self.messages.iter().map(|m| m.failed).sum()
    }
}

type Key = (String, String, Part);

#[derive(Default)]
struct Tally {
    checked: u64,
    failed: u64,
    pointers: BTreeMap<String, (u64, String)>,
}

impl Tally {
    fn add(&mut self, failures: &[Failure]) {
        self.checked += 1;
        if failures.is_empty() {
            return;
        }
        self.failed += 1;
        // A sample counts once per pointer, however many rules it broke there.
        let mut seen = Vec::new();
        for failure in failures {
            if seen.contains(&&failure.pointer) {
                continue;
            }
            seen.push(&failure.pointer);
            let entry = self
                .pointers
                .entry(failure.pointer.clone())
                .or_insert_with(|| (0, failure.reason.clone()));
            entry.0 += 1;
        }
    }
}

/// Check every sample under `dir` against `catalog`'s contracts.
pub fn conform(catalog: &Catalog, dir: &Path) -> Result<Conformance, ConformError> {
    let mut checker = Checker {
        catalog,
        validators: HashMap::new(),
        tallies: BTreeMap::new(),
        not_covered: BTreeMap::new(),
        error: None,
    };
    let read = recording::read(dir, |sample| {
        if checker.error.is_none()
            && let Err(e) = checker.sample(sample)
        {
            checker.error = Some(e);
        }
    })?;
    if let Some(error) = checker.error {
        return Err(error);
    }
    let messages = checker
        .tallies
        .into_iter()
        .map(|((service, item, part), tally)| MessageReport {
            service,
            item,
            part,
            checked: tally.checked,
            failed: tally.failed,
            pointers: tally
                .pointers
                .into_iter()
                .map(|(pointer, (count, reason))| PointerReport {
                    pointer,
                    count,
                    reason,
                })
                .collect(),
        })
        .collect();
    Ok(Conformance {
        read,
        messages,
        not_covered: checker.not_covered,
    })
}

struct Checker<'a> {
    catalog: &'a Catalog,
    /// Compiled once per message, the first time a sample needs it.
    validators: HashMap<Key, MessageValidator>,
    tallies: BTreeMap<Key, Tally>,
    not_covered: BTreeMap<String, u64>,
    error: Option<ConformError>,
}

impl Checker<'_> {
    fn sample(&mut self, sample: Sample<'_>) -> Result<(), ConformError> {
        let (service, item) = match sample {
            Sample::Call {
                service, method, ..
            } => (service, method),
            Sample::Event { service, event, .. } => (service, event),
        };
        let Some(contract) = self.catalog.services.get(service) else {
            *self.not_covered.entry(service.to_owned()).or_default() += 1;
            return Ok(());
        };
        match sample {
            Sample::Call { call, .. } => match contract.method(item) {
                Some(method) => self.call(service, method, call),
                None => {
                    let failure = root(format!("`{service}` has no method `{item}`"));
                    self.tally(service, item, Part::Request, &[failure]);
                    Ok(())
                }
            },
            Sample::Event { payload, .. } => match contract.event(item) {
                Some(event) => {
                    let failures =
                        self.check(service, item, Part::Event, &event.payload.schema, payload)?;
                    self.tally(service, item, Part::Event, &failures);
                    Ok(())
                }
                None => {
                    let failure = root(format!("`{service}` declares no event `{item}`"));
                    self.tally(service, item, Part::Event, &[failure]);
                    Ok(())
                }
            },
        }
    }

    fn call(
        &mut self,
        service: &str,
        method: &MethodContract,
        call: &Call,
    ) -> Result<(), ConformError> {
        let name = method.name.as_str();
        let request = &method.request.schema;
        let failures = match bind_arguments(
            name,
            &method.params,
            &method.required_params(),
            call.args.clone(),
            call.kwargs.clone(),
        ) {
            Ok(bound) => {
                self.check(service, name, Part::Request, request, &Value::Object(bound))?
            }
            Err(refused) => vec![root(
                refused
                    .value
                    .as_str()
                    .unwrap_or(&refused.exc_type)
                    .to_owned(),
            )],
        };
        self.tally(service, name, Part::Request, &failures);
        if let Some(error) = &call.error {
            let failures = self.error_reply(service, method, error)?;
            self.tally(service, name, Part::Error, &failures);
        } else if call.replied {
            let failures = self.check(
                service,
                name,
                Part::Reply,
                &method.reply.schema,
                &call.result,
            )?;
            self.tally(service, name, Part::Reply, &failures);
        }
        Ok(())
    }

    fn error_reply(
        &mut self,
        service: &str,
        method: &MethodContract,
        error: &serde_json::Map<String, Value>,
    ) -> Result<Vec<Failure>, ConformError> {
        let Ok(error) = serde_json::from_value::<ErrorDict>(Value::Object(error.clone())) else {
            return Ok(vec![root("the error reply is no Nameko error dict".into())]);
        };
        let Some(declared) = &method.error else {
            return Ok(vec![root(format!(
                "`{}` is not a declared error: {service}.{} declares none",
                error.exc_type, method.name
            ))]);
        };
        let variants = variants(&declared.message.schema, &declared.message.type_name);
        if !variants.contains(&error.exc_type) {
            return Ok(vec![root(format!(
                "`{}` is not a declared error of {service}.{} (declared: {})",
                error.exc_type,
                method.name,
                variants.join(", ")
            ))]);
        }
        match error.detail("payload") {
            Some(payload) => self.check(
                service,
                &method.name,
                Part::Error,
                &declared.message.schema,
                &payload,
            ),
            None => Ok(Vec::new()),
        }
    }

    fn check(
        &mut self,
        service: &str,
        item: &str,
        part: Part,
        schema: &Value,
        value: &Value,
    ) -> Result<Vec<Failure>, ConformError> {
        let key = (service.to_owned(), item.to_owned(), part);
        let validator = match self.validators.entry(key) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let validator =
                    MessageValidator::new(schema).map_err(|source| ConformError::Schema {
                        service: service.to_owned(),
                        item: item.to_owned(),
                        part,
                        source,
                    })?;
                entry.insert(validator)
            }
        };
        Ok(validator.check(value).err().unwrap_or_default())
    }

    fn tally(&mut self, service: &str, item: &str, part: Part, failures: &[Failure]) {
        self.tallies
            .entry((service.to_owned(), item.to_owned(), part))
            .or_default()
            .add(failures);
    }
}

fn root(reason: String) -> Failure {
    Failure {
        pointer: String::new(),
        reason,
    }
}

/// The `exc_type`s a declared error travels as: its enum's variants (an object's single key,
/// or a unit variant's string), else the type's own name — as the server encodes them.
fn variants(schema: &Value, type_name: &str) -> Vec<String> {
    let root = resolve_ref(schema, schema);
    let mut names = Vec::new();
    for variant in ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| root.get(*k).and_then(Value::as_array))
        .flatten()
    {
        let variant = resolve_ref(schema, variant);
        if let Some(Value::String(name)) = variant.get("const") {
            names.push(name.clone());
        }
        for list in ["enum", "required"] {
            if let Some(values) = variant.get(list).and_then(Value::as_array) {
                names.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
            }
        }
    }
    if let Some(values) = root.get("enum").and_then(Value::as_array) {
        names.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if names.is_empty() {
        names.push(type_name.to_owned());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declared_variants_are_read_as_the_server_encodes_them() {
        let enum_schema = json!({"oneOf": [
            {"type": "object", "properties": {"NotFound": {"type": "string"}}, "required": ["NotFound"]},
            {"type": "string", "const": "Busy"},
            {"type": "string", "enum": ["Gone", "Late"]},
        ]});
        assert_eq!(
            variants(&enum_schema, "OrdersError"),
            ["NotFound", "Busy", "Gone", "Late"]
        );
        let struct_schema =
            json!({"type": "object", "properties": {"service": {"type": "string"}}});
        assert_eq!(
            variants(&struct_schema, "DependencyFailed"),
            ["DependencyFailed"]
        );
    }

    #[test]
    fn a_sample_counts_once_per_pointer() {
        let mut tally = Tally::default();
        let failure = |pointer: &str, reason: &str| Failure {
            pointer: pointer.into(),
            reason: reason.into(),
        };
        tally.add(&[failure("/a", "too long"), failure("/a", "bad pattern")]);
        tally.add(&[]);
        tally.add(&[failure("/a", "too short"), failure("/b", "missing")]);
        assert_eq!((tally.checked, tally.failed), (3, 2));
        assert_eq!(tally.pointers["/a"], (2, "too long".to_owned()));
        assert_eq!(tally.pointers["/b"], (1, "missing".to_owned()));
    }
}
