//! `contracts validate`: a JSON payload against a message's schema, every error with its
//! JSON pointer.

use serde::Serialize;
use serde_json::Value;

/// One way a payload breaks its schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON pointer into the payload (`""` is the whole payload).
    pub pointer: String,
    /// Why, as the validator puts it.
    pub reason: String,
}

/// Every violation of `schema` by `payload` (empty when it conforms), or why the schema
/// itself cannot be used.
pub fn validate(schema: &Value, payload: &Value) -> Result<Vec<Violation>, String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("the schema itself is invalid: {e}"))?;
    Ok(validator
        .iter_errors(payload)
        .map(|e| Violation {
            pointer: e.instance_path().to_string(),
            reason: e.to_string(),
        })
        .collect())
}
