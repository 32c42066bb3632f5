//! Runtime validation of messages against their JSON Schemas.

pub mod sensitive;
mod view;
mod whole;

pub use sensitive::Sensitive;
pub use view::{Envelope, Part, View};

use std::fmt;

use schemars::JsonSchema;
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
    /// Check what is sent and what is received as [`ValidationMode::Both`] does, but refuse
    /// nothing: each violation is logged and reported to the process's observer (and counted,
    /// as `contracts_validation_violations_total`, by contracts-telemetry's), and the message
    /// goes on. Shadow validation: run it while a fleet's callers are not yet clean, then
    /// switch to `Both`. A message that cannot be decoded into its Rust type at all is still
    /// refused, as with `Off`.
    Report,
    /// Check nothing; serde's type checks still apply.
    Off,
}

impl ValidationMode {
    /// Whether messages this side sends are checked.
    pub fn checks_outbound(self) -> bool {
        matches!(self, Self::Both | Self::Report)
    }

    /// Whether messages this side receives are checked.
    pub fn checks_inbound(self) -> bool {
        self != Self::Off
    }
}

/// Which message of an interaction failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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

impl Direction {
    /// The direction a `ValidationError` reply names under its `validation` key (the extra
    /// keys of its error dict); a request when it names none.
    pub fn of_error(extra: &serde_json::Map<String, Value>) -> Self {
        extra
            .get("validation")
            .and_then(|v| v.get("direction"))
            .and_then(|d| Self::deserialize(d).ok())
            .unwrap_or(Self::Request)
    }
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// JSON pointer to the offending value (`""` is the whole message).
    pub pointer: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A message that does not satisfy its contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
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
    /// The same schema compiled for [`View`]s: messages checked from their bytes.
    view: jsonschema::Validator<view::ViewJson>,
    /// Where the schema marks values sensitive, to keep them out of failure reasons.
    sensitive: Sensitive,
}

/// A schema no message can be checked against: it is not valid JSON Schema (a `pattern`
/// that is not a regular expression, say).
#[derive(Debug, thiserror::Error)]
#[error("not a valid JSON Schema")]
pub struct InvalidSchema(#[source] pub jsonschema::ValidationError<'static>);

impl MessageValidator {
    /// Compile `schema` (Draft 2020-12, formats checked).
    ///
    /// # Errors
    /// The schema itself is invalid, e.g. a `regex` constraint that does not compile.
    pub fn new(schema: &Value) -> Result<Self, InvalidSchema> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(InvalidSchema)?;
        let view = jsonschema::options_for::<view::ViewJson>()
            .should_validate_formats(true)
            .build(schema)
            .map_err(InvalidSchema)?;
        Ok(Self {
            validator,
            view,
            sensitive: Sensitive::of(schema),
        })
    }

    /// Check `value`; on failure, list every failing pointer with its reason (sensitive
    /// values redacted).
    pub fn check(&self, value: &Value) -> Result<(), Vec<Failure>> {
        verdict(&self.validator, value).map_err(|mut failures| {
            self.sensitive.redact(value, &mut failures);
            failures
        })
    }

    /// [`MessageValidator::check`] for a message read as a [`View`]: the same verdict and
    /// the same failures, without building a `serde_json::Value` unless it fails.
    pub fn check_view(&self, value: &View<'_>) -> Result<(), Vec<Failure>> {
        verdict(&self.view, value).map_err(|mut failures| {
            if !self.sensitive.is_empty() {
                self.sensitive.redact(&value.to_value(), &mut failures);
            }
            failures
        })
    }

    /// `failure` of `message` (one found past the schema, decoding it) with the message's
    /// sensitive values redacted from its reason.
    pub fn redact(&self, message: &Value, failure: Failure) -> Failure {
        let mut failures = [failure];
        self.sensitive.redact(message, &mut failures);
        let [failure] = failures;
        failure
    }

    /// [`decode`] a message of this schema, its failure's reason redacted.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, message: &Value) -> Result<T, Failure> {
        decode(message).map_err(|f| self.redact(message, f))
    }

    /// [`decode_view`] a message of this schema, its failure's reason redacted.
    pub fn decode_view<T: serde::de::DeserializeOwned>(
        &self,
        message: &View<'_>,
    ) -> Result<T, Failure> {
        decode_view(message).map_err(|f| {
            if self.sensitive.is_empty() {
                f
            } else {
                self.redact(&message.to_value(), f)
            }
        })
    }
}

/// `instance` checked by `validator`, in whichever representation it was compiled for.
fn verdict<'i, F: jsonschema::json::Json>(
    validator: &'i jsonschema::Validator<F>,
    instance: F::Node<'i>,
) -> Result<(), Vec<Failure>> {
    // The fast path: `is_valid` short-circuits and allocates nothing.
    if validator.is_valid(instance.clone()) {
        return Ok(());
    }
    Err(validator
        .iter_errors(instance)
        .map(|e| Failure {
            pointer: e.instance_path().to_string(),
            reason: e.to_string(),
        })
        .collect())
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
    let err = match T::deserialize(value) {
        Ok(decoded) => return Ok(decoded),
        Err(err) => err,
    };
    if let Some(decoded) = reread(value) {
        return Ok(decoded);
    }
    let pointer = match serde_path_to_error::deserialize::<_, T>(value) {
        Err(tracked) => pointer_of(tracked.path()),
        Ok(_) => String::new(),
    };
    Err(Failure {
        pointer,
        reason: err.to_string(),
    })
}

/// [`decode`] for a [`View`], with the same failures.
pub fn decode_view<T: serde::de::DeserializeOwned>(view: &View<'_>) -> Result<T, Failure> {
    T::deserialize(view).or_else(|err| {
        if let Some(decoded) = reread(&view.to_value()) {
            return Ok(decoded);
        }
        let pointer = match serde_path_to_error::deserialize::<_, T>(view) {
            Err(tracked) => pointer_of(tracked.path()),
            Ok(_) => String::new(),
        };
        Err(Failure {
            pointer,
            reason: err.to_string(),
        })
    })
}

/// The second reading of a message its type refused, for what the schema accepts but serde
/// reads differently; only a refused message pays for it.
///
/// A whole number written `5.0` is an integer to the schema, so to an integer type too: the
/// numbers are rewritten as integers (only now: a `Value` field keeps `1.0` as it was written
/// when the first reading succeeds). And the reading is of the text, as a view: serde buffers
/// what an internally tagged enum or a flattened struct holds in a form that has no room for an
/// integer beyond 64 bits, which a view hands over as a float, so such a number in a field the
/// schema leaves open no longer refuses the whole message.
fn reread<T: serde::de::DeserializeOwned>(value: &Value) -> Option<T> {
    let text = serde_json::to_vec(&*whole::integers(value)).ok()?;
    T::deserialize(&View::parse(&text).ok()?).ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A schema using the keywords contracts generate (formats, patterns, bounds, enums,
    /// `$ref`s, closed objects) and instances that pass and fail each.
    #[test]
    fn a_view_gets_the_verdict_and_failures_a_value_gets() {
        let schema = json!({
            "type": "object",
            "properties": {
                "user": {"$ref": "#/$defs/User"},
                "status": {"enum": ["success", "failure"]},
                "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "uniqueItems": true},
                "ratio": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                "kind": {"const": {"a": [1, 2.0]}}
            },
            "required": ["user"],
            "additionalProperties": false,
            "$defs": {"User": {
                "type": "object",
                "properties": {
                    "user_id": {"type": "integer", "format": "uint64", "minimum": 0},
                    "name": {"type": "string", "minLength": 1, "maxLength": 5},
                    "email": {"type": "string", "format": "email"},
                    "born": {"type": ["string", "null"], "format": "date"}
                },
                "required": ["user_id", "name"]
            }}
        });
        let validator = MessageValidator::new(&schema).unwrap();
        let instances = [
            r#"{"user": {"user_id": 42, "name": "Ada"}}"#,
            r#"{"user": {"user_id": 42.0, "name": "Ada", "born": null}, "status": "success"}"#,
            r#"{"user": {"user_id": 123456789012345678901234567890, "name": "Ada"}}"#,
            r#"{"user": {"user_id": -1, "name": ""}}"#,
            r#"{"user": {"user_id": 1.5, "name": "Ada Lovelace"}}"#,
            r#"{"user": {"user_id": 1, "name": "Ada", "email": "not an email"}}"#,
            r#"{"user": {"user_id": 1, "name": "Ada", "born": "1815-12-10"}}"#,
            r#"{"user": {"user_id": 1, "name": "Ada", "born": "yesterday"}}"#,
            r#"{"user": {"name": "Ada"}, "extra": 1}"#,
            r#"{"user": {"user_id": 1, "name": "A\u0064a"}, "status": "maybe"}"#,
            r#"{"user": {"user_id": 1, "name": "Ada"}, "tags": ["a", "b", "a"]}"#,
            r#"{"user": {"user_id": 1, "name": "Ada"}, "tags": ["a", "B"]}"#,
            r#"{"user": {"user_id": 1, "name": "Ada"}, "ratio": 1}"#,
            r#"{"user": {"user_id": 1, "name": "Ada"}, "ratio": 0.5, "kind": {"a": [1.0, 2]}}"#,
            r#"{"user": {"user_id": 1, "name": "Ada"}, "kind": {"a": [1, 3]}}"#,
            r#"{"user": {"user_id": 1, "name": "éèêëē"}}"#,
            r#"{"user": {"user_id": 1, "name": "éèêëēe"}}"#,
            r#"[1, 2]"#,
            r#"null"#,
        ];
        let mut failing = 0;
        for text in instances {
            let value: Value = serde_json::from_str(text).unwrap();
            let view = View::parse(text.as_bytes()).unwrap();
            // A `Value` lists members in key order, a view in the message's order.
            let sorted = |mut failures: Vec<Failure>| {
                failures.sort_by(|a, b| a.pointer.cmp(&b.pointer));
                failures
            };
            let expected = validator.check(&value).map_err(sorted);
            failing += usize::from(expected.is_err());
            assert_eq!(
                validator.check_view(&view).map_err(sorted),
                expected,
                "{text}"
            );
        }
        // Both verdicts occur, so the comparison above means something.
        assert!(
            (6..instances.len() - 3).contains(&failing),
            "{failing} failing"
        );
    }
}
