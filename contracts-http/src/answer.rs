//! HTTP answers: a call's outcome as a status and a JSON body.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use contracts_core::contract::CompiledMethod;
use contracts_core::validate::Direction;
use contracts_core::wire::{INCORRECT_SIGNATURE, MALFORMED_REQUEST, METHOD_NOT_FOUND};
use contracts_core::{CallError, CompiledService, ValidationError};
use serde_json::{Value, json};

use crate::gateway::Inner;

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Why a request got no reply: `{"error": {"type": ..., "message": ...}}`, or a validation
/// error's own JSON.
pub(crate) struct Problem {
    status: StatusCode,
    body: Value,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"error": {"type": kind, "message": message.into()}}),
        }
    }

    /// A request that breaks its contract: `422` with the failures, as the services send
    /// them.
    pub(crate) fn invalid(error: &ValidationError) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: serde_json::to_value(error).unwrap_or(Value::Null),
        }
    }
}

impl From<Problem> for Response {
    fn from(problem: Problem) -> Self {
        json(problem.status, problem.body.to_string())
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
            Err(failures) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "invalid_reply",
                ValidationError::new(name, method.name(), Direction::Reply, failures).to_string(),
            )
            .into(),
        },
        Err(error) => failure(inner, method, error).into(),
    }
}

fn failure(inner: &Inner, method: &CompiledMethod, error: CallError) -> Problem {
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
                return Problem {
                    status,
                    body: payload,
                };
            }
            let (status, kind) = match remote.exc_path.as_deref() {
                Some(METHOD_NOT_FOUND) => (StatusCode::NOT_FOUND, "method_not_found"),
                Some(MALFORMED_REQUEST | INCORRECT_SIGNATURE) => {
                    (StatusCode::BAD_REQUEST, "bad_request")
                }
                _ => (StatusCode::BAD_GATEWAY, "remote_error"),
            };
            Problem::new(status, kind, message)
        }
        CallError::Validation(rejected) if rejected.direction == Direction::Request => {
            Problem::invalid(&rejected)
        }
        CallError::Validation(_) => Problem::new(StatusCode::BAD_GATEWAY, "invalid_reply", message),
        CallError::Timeout { .. } => Problem::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message),
        CallError::UnknownService(_) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unknown_service", message)
        }
        CallError::Unreachable { .. } | CallError::Blocked { .. } | CallError::Transport(_) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
        _ => Problem::new(StatusCode::BAD_GATEWAY, "protocol_error", message),
    }
}
