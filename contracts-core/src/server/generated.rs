//! What the code `#[service]` generates calls to decode requests and encode replies: reached
//! through `contracts_core::__private` only, not a public API.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contract::CompiledService;
use crate::error::encode_declared;
use crate::transport::BoxFuture;
use crate::validate::{Direction, ValidationError};
use crate::wire::ErrorDict;
use crate::wire::inbound::Arguments;

use super::Outcome;

/// Decode a bound, validated request into the generated request struct.
#[doc(hidden)]
pub fn decode_request<Req: DeserializeOwned>(
    compiled: &CompiledService,
    method: &str,
    request: Arguments<'_>,
) -> Result<Req, ErrorDict> {
    let schema = &compiled.method_named(method).request;
    let decoded = match request {
        Arguments::Keywords(view) => schema.decode_view(&view),
        Arguments::Bound(value) => schema.decode(&value),
    };
    decoded.map_err(|failure| {
        ErrorDict::validation(&ValidationError::new(
            compiled.name(),
            method,
            Direction::Request,
            vec![failure],
        ))
    })
}

/// Encode what an infallible method returned.
#[doc(hidden)]
pub fn encode_value<T: Serialize>(value: &T) -> Outcome {
    serde_json::value::to_raw_value(value)
        .map_err(|e| ErrorDict::unserializable(format!("Unserializable value: {e}")))
}

/// Encode what a fallible method returned; its error travels typed.
#[doc(hidden)]
pub fn encode_result<T: Serialize, E: Serialize + std::fmt::Display>(
    compiled: &CompiledService,
    method: &str,
    result: &Result<T, E>,
) -> Outcome {
    match result {
        Ok(value) => encode_value(value),
        Err(error) => {
            let (_, exc_path) = compiled
                .method_named(method)
                .error
                .as_ref()
                .expect("fallible methods declare an error schema");
            Err(encode_declared(error, exc_path).unwrap_or_else(|e| {
                ErrorDict::unserializable(format!("Unserializable error: {e}"))
            }))
        }
    }
}

/// The reply to a method the service does not have.
#[doc(hidden)]
pub fn method_not_found(method: &str) -> BoxFuture<'static, Outcome> {
    Box::pin(std::future::ready(Err(ErrorDict::method_not_found(method))))
}
