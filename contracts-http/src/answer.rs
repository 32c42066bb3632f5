//! HTTP answers: a call's outcome as a status and a JSON body.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use contracts_core::contract::CompiledMethod;
use contracts_core::validate::Direction;
use contracts_core::wire::{INCORRECT_SIGNATURE, MALFORMED_REQUEST, METHOD_NOT_FOUND};
use contracts_core::{CallError, CompiledService, ValidationError};
use serde_json::{Value, json};

use contracts_docs::{Problem, openapi};

use crate::gateway::Inner;

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
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

/// The answer to a call of `method` on `service`.
pub(crate) fn reply(
    inner: &Inner,
    service: &CompiledService,
    method: &CompiledMethod,
    result: Result<Value, CallError>,
) -> Response {
    let name = service.name();
    match result {
        Ok(reply) => match method.reply().check(&reply) {
            Ok(()) => json(StatusCode::OK, reply.to_string()),
            Err(failures) => Refusal::new(
                Problem::InvalidReply,
                ValidationError::new(name, method.name(), Direction::Reply, failures).to_string(),
            )
            .into(),
        },
        Err(error) => failure(inner, method, error).into(),
    }
}

fn failure(inner: &Inner, method: &CompiledMethod, error: CallError) -> Refusal {
    let message = error.to_string();
    match error {
        CallError::Remote(remote) => {
            if let Some((validator, exc_path)) = method.error()
                && remote.exc_path.as_deref() == Some(exc_path)
                && let Some(payload) = remote.detail("payload")
                && validator.check(&payload).is_ok()
            {
                let status = inner
                    .statuses
                    .get(exc_path)
                    .copied()
                    .unwrap_or(StatusCode::BAD_REQUEST);
                return Refusal {
                    status,
                    body: payload,
                };
            }
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
}
