//! `contracts validate`: a JSON payload against a message's schema, every error with its
//! JSON pointer.

use contracts_core::validate::{Failure, InvalidSchema, MessageValidator};
use serde_json::Value;

/// Every way `payload` breaks `schema` (empty when it conforms), each with its JSON pointer,
/// or why the schema itself cannot be used.
pub fn validate(schema: &Value, payload: &Value) -> Result<Vec<Failure>, InvalidSchema> {
    let validator = MessageValidator::new(schema)?;
    Ok(validator.check(payload).err().unwrap_or_default())
}
