//! lapin's errors as the runtime's [`TransportError`]s: which reply codes it tells apart, and
//! how a failed operation is described.

use contracts_core::transport::TransportError;

/// AMQP reply codes the runtime tells apart.
pub(crate) const NOT_FOUND: u16 = 404;
const PRECONDITION_FAILED: u16 = 406;

/// A lapin error in words: an AMQP refusal as its code and the broker's text.
pub(crate) fn describe(e: &lapin::Error) -> String {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => {
            format!("{} {}", amqp.get_id(), amqp.get_message().as_str())
        }
        _ => e.to_string(),
    }
}

pub(crate) fn reply_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => Some(amqp.get_id()),
        _ => None,
    }
}

/// `e` as a closed channel or connection, lapin's error its source. The detail says what
/// kind of failure it was and leaves lapin's own words to the source, so a report of the
/// chain says each thing once.
pub(crate) fn closed(e: &lapin::Error) -> TransportError {
    let what = match e.kind() {
        lapin::ErrorKind::ProtocolError(_) => "the broker closed the channel",
        lapin::ErrorKind::IOError(_) => "the connection failed",
        lapin::ErrorKind::InvalidChannelState(..) | lapin::ErrorKind::InvalidConnectionState(_) => {
            "the channel or connection was already closed"
        }
        _ => "the broker library failed",
    };
    TransportError::closed_by(what, e.clone())
}

pub(crate) fn declare_error(
    e: &lapin::Error,
    name: &str,
    missing: fn(String) -> TransportError,
) -> TransportError {
    match reply_code(e) {
        Some(PRECONDITION_FAILED) => TransportError::PreconditionFailed {
            name: name.to_owned(),
            detail: describe(e),
        },
        Some(NOT_FOUND) => missing(name.to_owned()),
        _ => closed(e),
    }
}
