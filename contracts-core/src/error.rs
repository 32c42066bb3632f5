//! What a call can fail with, on the caller's side.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::observe::CallOutcome;
use crate::transport::TransportError;
use crate::validate::ValidationError;
use crate::wire::ErrorDict;

/// An error type a method may declare (`-> Result<T, E>`). It crosses the wire typed: the
/// server puts its JSON value in the error dict, the client decodes it back into `E`.
///
/// `Display` supplies Nameko's `value` (`str(exc)`), which Python callers see.
pub trait DeclaredError:
    Serialize + DeserializeOwned + JsonSchema + fmt::Display + Send + Sync + 'static
{
}

impl<T> DeclaredError for T where
    T: Serialize + DeserializeOwned + JsonSchema + fmt::Display + Send + Sync + 'static
{
}

/// The error type of methods that declare none: it has no values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Never {}

impl fmt::Display for Never {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// An error raised by the remote side that is not the method's declared error type: a Python
/// exception, Nameko's `MethodNotFound`, a panic in a Rust handler, …
///
/// Decide by [`RemoteError::exc_type`], as Nameko users catch `RemoteError` and look at its type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RemoteError {
    /// The service called.
    pub service: String,
    /// The method called.
    pub method: String,
    /// The exception class name, e.g. `ValueError` or `MethodNotFound`.
    pub exc_type: String,
    /// `module.Class`, when the peer sent it.
    pub exc_path: Option<String>,
    /// The exception's arguments.
    pub exc_args: Vec<Value>,
    /// The exception's message (`str(exc)` on the Python side).
    pub value: String,
    /// Keys of the error dict beyond Nameko's four.
    pub extra: serde_json::Map<String, Value>,
}

impl RemoteError {
    pub(crate) fn from_dict(service: &str, method: &str, dict: ErrorDict) -> Self {
        Self {
            service: service.to_owned(),
            method: method.to_owned(),
            exc_type: dict.exc_type.clone(),
            value: dict.value_text(),
            exc_path: dict.exc_path,
            exc_args: dict.exc_args,
            extra: dict.extra,
        }
    }

    /// The structured detail the error carries under `key` (`payload` for a declared error),
    /// from a Rust or a Python service: see [`ErrorDict::detail`].
    pub fn detail(&self, key: &str) -> Option<Value> {
        crate::wire::detail(&self.extra, &self.exc_args, key)
    }

    /// Whether the remote exception's class is `exc_type`.
    pub fn is(&self, exc_type: &str) -> bool {
        self.exc_type == exc_type
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Nameko's RemoteError reads "<exc_type> <value>"; the call site follows.
        write!(
            f,
            "{} {} (raised by {}.{})",
            self.exc_type, self.value, self.service, self.method
        )
    }
}

impl std::error::Error for RemoteError {}

/// A method's declared error as a call made without the contract's types receives it
/// ([`RpcClient::call_checked`](crate::RpcClient::call_checked)): its value, checked against
/// the method's error schema, and the error as it arrived.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Declared {
    /// The error's value (the error dict's `payload`).
    pub payload: Value,
    /// The error as it arrived: its `exc_type`, `exc_path` and message.
    pub error: RemoteError,
}

impl fmt::Display for Declared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// Why a typed RPC call failed. `E` is the method's declared error type.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError<E = Never> {
    /// The method returned its declared error.
    Service(E),
    /// The remote side raised something else.
    Remote(RemoteError),
    /// The request (checked here before sending, or by the server) or the reply broke the
    /// contract.
    Validation(ValidationError),
    /// No queue is bound for the service: nothing serves it (Nameko's `UnknownService`).
    UnknownService(String),
    /// No reply within the client's timeout.
    Timeout {
        /// The service called.
        service: String,
        /// The method called.
        method: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The broker was unreachable for the whole deadline: the request was never sent. (A
    /// transport that reconnects by itself keeps trying until the deadline.)
    Unreachable {
        /// The service called.
        service: String,
        /// The method called.
        method: String,
        /// How long the client waited for the broker.
        after: Duration,
    },
    /// The broker blocked publishing for the whole deadline (RabbitMQ's `connection.blocked`,
    /// on a memory or disk alarm): the request was never sent.
    Blocked {
        /// The service called.
        service: String,
        /// The method called.
        method: String,
        /// How long the client waited.
        after: Duration,
        /// The broker's reason, such as `low on memory`.
        reason: String,
    },
    /// The reply could not be read as a Nameko reply.
    Protocol {
        /// The service called.
        service: String,
        /// The method called.
        method: String,
        /// What was wrong.
        detail: String,
        /// The JSON decoder's error, when the body did not parse.
        source: Option<serde_json::Error>,
    },
    /// The broker connection failed.
    Transport(TransportError),
}

impl<E> CallError<E> {
    /// How the call ended, as an [`crate::observe::Observer`] is told.
    pub fn outcome(&self) -> CallOutcome {
        match self {
            Self::Service(_) => CallOutcome::DeclaredError,
            // A declared error arrives as `Service`: any other is not the method's.
            Self::Remote(remote) => {
                CallOutcome::of_error(remote.exc_path.as_deref(), &remote.extra, None)
            }
            Self::Validation(e) => CallOutcome::Invalid(e.direction),
            Self::UnknownService(_) => CallOutcome::UnknownService,
            Self::Timeout { .. } => CallOutcome::Timeout,
            Self::Unreachable { .. } | Self::Blocked { .. } | Self::Transport(_) => {
                CallOutcome::Unavailable
            }
            Self::Protocol { .. } => CallOutcome::ProtocolError,
        }
    }

    /// The remote exception's class name, for a [`CallError::Remote`].
    pub fn remote_type(&self) -> Option<&str> {
        match self {
            Self::Remote(remote) => Some(&remote.exc_type),
            _ => None,
        }
    }

    /// Convert the declared error, keeping every other variant.
    pub fn map_service<F>(self, f: impl FnOnce(E) -> F) -> CallError<F> {
        match self {
            Self::Service(e) => CallError::Service(f(e)),
            Self::Remote(e) => CallError::Remote(e),
            Self::Validation(e) => CallError::Validation(e),
            Self::UnknownService(s) => CallError::UnknownService(s),
            Self::Timeout {
                service,
                method,
                after,
            } => CallError::Timeout {
                service,
                method,
                after,
            },
            Self::Unreachable {
                service,
                method,
                after,
            } => CallError::Unreachable {
                service,
                method,
                after,
            },
            Self::Blocked {
                service,
                method,
                after,
                reason,
            } => CallError::Blocked {
                service,
                method,
                after,
                reason,
            },
            Self::Protocol {
                service,
                method,
                detail,
                source,
            } => CallError::Protocol {
                service,
                method,
                detail,
                source,
            },
            Self::Transport(e) => CallError::Transport(e),
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service(e) => e.fmt(f),
            Self::Remote(e) => e.fmt(f),
            Self::Validation(e) => e.fmt(f),
            Self::UnknownService(service) => write!(f, "Unknown service `{service}`"),
            Self::Timeout {
                service,
                method,
                after,
            } => write!(f, "{service}.{method} did not reply within {after:?}"),
            Self::Unreachable {
                service,
                method,
                after,
            } => write!(
                f,
                "the broker was unreachable for {after:?}: {service}.{method} was not called"
            ),
            Self::Blocked {
                service,
                method,
                after,
                reason,
            } => write!(
                f,
                "the broker blocked publishing ({reason}) for {after:?}: {service}.{method} was \
                 not called"
            ),
            Self::Protocol {
                service,
                method,
                detail,
                ..
            } => write!(f, "{service}.{method} sent an unreadable reply: {detail}"),
            // The transport error is the source: a report of the chain says it once.
            Self::Transport(_) => f.write_str("transport failure"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // `E` is the contract's own type: `Display`, not necessarily an `Error`.
            Self::Service(_) | Self::UnknownService(_) | Self::Timeout { .. } => None,
            Self::Unreachable { .. } | Self::Blocked { .. } => None,
            Self::Protocol { source, .. } => source.as_ref().map(|e| e as _),
            // These display as the error they hold: its sources are theirs.
            Self::Remote(e) => e.source(),
            Self::Validation(e) => e.source(),
            Self::Transport(e) => Some(e),
        }
    }
}

/// An error with each of its sources, joined by `: ` on one line: how the runtime logs an
/// error, and how to print one. Each error in a chain says only what it adds (its source's
/// words are the source's), so the chain is what tells the whole story.
///
/// ```
/// use contracts_core::error::Report;
/// use contracts_core::TransportError;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
/// let error = TransportError::closed_by("the connection failed", io);
/// assert_eq!(
///     Report(&error).to_string(),
///     "broker connection closed: the connection failed: reset by peer"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'a));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Encode a declared error as Nameko's error dict, its typed value under `payload`.
pub(crate) fn encode_declared<E: Serialize + fmt::Display>(
    error: &E,
    exc_path: &str,
) -> Result<ErrorDict, serde_json::Error> {
    let payload = serde_json::to_value(error)?;
    // An enum's variant is the most useful `exc_type` ("decide by its type"): serde's external
    // tagging makes it the single key of an object, or the string of a unit variant.
    let exc_type = match &payload {
        Value::String(variant) => variant.clone(),
        Value::Object(map) if map.len() == 1 => map.keys().next().cloned().unwrap_or_default(),
        _ => exc_path.rsplit('.').next().unwrap_or(exc_path).to_owned(),
    };
    Ok(ErrorDict::with_detail(
        &exc_type,
        exc_path,
        error.to_string(),
        "payload",
        payload,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn call_errors_chain_to_their_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let error: CallError = CallError::Transport(TransportError::closed_by("lost", io));
        let transport = error.source().expect("the transport error");
        let cause = transport.source().expect("the I/O error");
        assert_eq!(
            cause
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::ConnectionReset)
        );
        let timeout: CallError = CallError::Timeout {
            service: "s".into(),
            method: "m".into(),
            after: Duration::from_secs(1),
        };
        assert!(timeout.source().is_none());
        let json = serde_json::from_str::<Value>("{not json").unwrap_err();
        let protocol: CallError = CallError::Protocol {
            service: "s".into(),
            method: "m".into(),
            detail: "reply body is not a Nameko reply".into(),
            source: Some(json),
        };
        let source = protocol.source().expect("the decoder's error");
        assert!(source.downcast_ref::<serde_json::Error>().is_some());
    }
}
