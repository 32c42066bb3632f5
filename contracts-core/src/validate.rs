//! Runtime validation of messages against their JSON Schemas.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which messages are checked against their schemas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationMode {
    /// Check what is sent and what is received (the default).
    #[default]
    Both,
    /// Check only what is received: requests on a server, replies on a client, events on a
    /// subscriber.
    InboundOnly,
    /// Check nothing; serde's type checks still apply.
    Off,
}

impl ValidationMode {
    /// Whether messages this side sends are checked.
    pub fn checks_outbound(self) -> bool {
        self == Self::Both
    }

    /// Whether messages this side receives are checked.
    pub fn checks_inbound(self) -> bool {
        self != Self::Off
    }
}

/// Which message of an interaction failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// An RPC request (the method's arguments).
    Request,
    /// An RPC reply's `result`.
    Reply,
    /// A declared error carried in an RPC reply's `error`.
    Error,
    /// An event payload.
    Event,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Request => "request",
            Self::Reply => "reply",
            Self::Error => "error",
            Self::Event => "event",
        })
    }
}

/// One reason a message failed: where (a JSON pointer into the message) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// JSON pointer to the offending value (`""` is the whole message).
    pub pointer: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A message that does not satisfy its contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub struct ValidationError {
    /// The service whose contract was broken.
    pub service: String,
    /// The method (or event) the message belongs to.
    pub method: String,
    /// Which message it was.
    pub direction: Direction,
    /// Every failing location with its reason.
    pub failures: Vec<Failure>,
}

impl ValidationError {
    /// `failures` of `service.method`'s `direction` message.
    pub fn new(service: &str, method: &str, direction: Direction, failures: Vec<Failure>) -> Self {
        Self {
            service: service.to_owned(),
            method: method.to_owned(),
            direction,
            failures,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} {} does not match its contract: ",
            self.service, self.method, self.direction
        )?;
        for (i, failure) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let pointer = if failure.pointer.is_empty() {
                "(root)"
            } else {
                &failure.pointer
            };
            write!(f, "at {pointer}: {}", failure.reason)?;
        }
        Ok(())
    }
}

/// A compiled JSON Schema for one message type, built once and shared.
pub struct MessageValidator {
    validator: jsonschema::Validator,
}

impl MessageValidator {
    /// Compile `schema` (Draft 2020-12, formats checked).
    ///
    /// # Errors
    /// The schema itself is invalid, e.g. a `regex` constraint that does not compile.
    pub fn new(schema: &Value) -> Result<Self, String> {
        jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map(|validator| Self { validator })
            .map_err(|e| e.to_string())
    }

    /// Check `value`; on failure, list every failing pointer with its reason.
    pub fn check(&self, value: &Value) -> Result<(), Vec<Failure>> {
        // The fast path: `is_valid` short-circuits and allocates nothing.
        if self.validator.is_valid(value) {
            return Ok(());
        }
        Err(self
            .validator
            .iter_errors(value)
            .map(|e| Failure {
                pointer: e.instance_path().to_string(),
                reason: e.to_string(),
            })
            .collect())
    }
}

impl fmt::Debug for MessageValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageValidator")
    }
}

/// Turn a serde error from encoding a value into a [`Failure`].
pub(crate) fn serde_failure(err: &serde_json::Error) -> Failure {
    Failure {
        pointer: String::new(),
        reason: err.to_string(),
    }
}

/// Decode a value that passed its schema. This fails only where a type's `Deserialize` is
/// stricter than its schema (a 30-digit integer for a `u64`, say); the failure then names
/// the JSON pointer of the offending value, found by decoding again with path tracking, so
/// the happy path pays nothing for it.
pub fn decode<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, Failure> {
    T::deserialize(value).map_err(|err| {
        let pointer = match serde_path_to_error::deserialize::<_, T>(value) {
            Err(tracked) => pointer_of(tracked.path()),
            Ok(_) => String::new(),
        };
        Failure {
            pointer,
            reason: err.to_string(),
        }
    })
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .map(|segment| format!("/{segment}"))
        .collect()
}
