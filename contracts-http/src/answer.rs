//! HTTP answers: a call's outcome as a status and a JSON body.

use std::collections::HashMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use contracts_core::contract::CompiledMethod;
use contracts_core::validate::Direction;
use contracts_core::wire::topology::CONTENT_TYPE_JSON;
use contracts_core::wire::{INCORRECT_SIGNATURE, MALFORMED_REQUEST, METHOD_NOT_FOUND};
use contracts_core::{CallError, Declared, ValidationError};
use serde_json::{Value, json};

use contracts_docs::{Problem, openapi};

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE_JSON)], body).into_response()
}

/// Why a request got no reply: a [`Problem`] as `{"error": {"type": ..., "message": ...}}`,
/// or a validation error's own JSON.
pub(crate) struct Refusal {
    status: StatusCode,
    body: Value,
}

impl Refusal {
    pub(crate) fn new(kind: Problem, message: impl Into<String>) -> Self {
        Self {
            status: status(kind.status()),
            body: json!({"error": {"type": kind.name(), "message": message.into()}}),
        }
    }

    /// A request that breaks its contract: `422` with the failures, as the services send
    /// them.
    pub(crate) fn invalid(error: &ValidationError) -> Self {
        Self {
            status: status(openapi::INVALID_REQUEST_STATUS),
            body: serde_json::to_value(error).unwrap_or(Value::Null),
        }
    }
}

/// A status the documents name: always a valid one.
fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<Refusal> for Response {
    fn from(refusal: Refusal) -> Self {
        json(refusal.status, refusal.body.to_string())
    }
}

/// The answer to a checked call of `method` ([`contracts_core::RpcClient::call_checked`]),
/// a declared error on the status `statuses` maps its `exc_path` to (else `400`).
pub(crate) fn reply(
    statuses: &HashMap<String, StatusCode>,
    method: &CompiledMethod,
    result: Result<Value, CallError<Declared>>,
) -> Response {
    let error = match result {
        Ok(reply) => return json(StatusCode::OK, reply.to_string()),
        Err(error) => error,
    };
    let message = contracts_core::error::Report(&error).to_string();
    match error {
        // The declared error, its value checked: the body, on the status it is mapped to.
        CallError::Service(declared) => {
            let status = method
                .error()
                .and_then(|(_, exc_path)| statuses.get(exc_path))
                .copied()
                .unwrap_or(StatusCode::BAD_REQUEST);
            Refusal {
                status,
                body: declared.payload,
            }
        }
        CallError::Remote(remote) => {
            let kind = match remote.exc_path.as_deref() {
                Some(METHOD_NOT_FOUND) => Problem::MethodNotFound,
                Some(MALFORMED_REQUEST | INCORRECT_SIGNATURE) => Problem::BadRequest,
                _ => Problem::RemoteError,
            };
            Refusal::new(kind, message)
        }
        CallError::Validation(rejected) if rejected.direction == Direction::Request => {
            Refusal::invalid(&rejected)
        }
        CallError::Validation(_) => Refusal::new(Problem::InvalidReply, message),
        CallError::Timeout { .. } => Refusal::new(Problem::Timeout, message),
        CallError::UnknownService(_) => Refusal::new(Problem::UnknownService, message),
        CallError::Unreachable { .. } | CallError::Blocked { .. } | CallError::Transport(_) => {
            Refusal::new(Problem::Unavailable, message)
        }
        _ => Refusal::new(Problem::ProtocolError, message),
    }
    .into()
}
