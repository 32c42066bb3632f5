//! lapin's errors as the runtime's [`TransportError`]s: which reply codes it tells apart, and
//! how a failed operation is described.

use contracts_core::transport::{QueueSpec, QueueType, TransportError};
use contracts_core::wire::topology::{self, QUEUE_TYPE_ARGUMENT};

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

/// Whether `e` is a channel or connection closed because the whole connection went (an I/O
/// error, missed heartbeats, a connection-level AMQP close such as `320 CONNECTION_FORCED`),
/// as opposed to a channel the broker closed over what was done on it.
pub(crate) fn connection_gone(e: &TransportError) -> bool {
    let TransportError::Closed {
        source: Some(source),
        ..
    } = e
    else {
        return false;
    };
    source
        .downcast_ref::<lapin::Error>()
        .is_some_and(|e| match e.kind() {
            lapin::ErrorKind::IOError(_)
            | lapin::ErrorKind::InvalidConnectionState(_)
            | lapin::ErrorKind::MissingHeartbeatError => true,
            lapin::ErrorKind::ProtocolError(amqp) => {
                matches!(amqp.kind(), lapin::protocol::AMQPErrorKind::Hard(_))
            }
            _ => false,
        })
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

/// The arguments `QUEUE_TYPE` decides for a shared queue (contracts_core::wire::topology).
const SET_BY_QUEUE_TYPE: [&str; 6] = [
    QUEUE_TYPE_ARGUMENT,
    "x-delivery-limit",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-overflow",
];

/// A refused queue declaration that differs from the existing queue in an argument the queue
/// type decides, in words that say what to change: the queue was declared by a Nameko service
/// or by instances with another `QUEUE_TYPE`, and RabbitMQ cannot change a queue's type. (The
/// broker names the first argument that differs, in its own order, not always the type.)
pub(crate) fn queue_type_error(
    e: &lapin::Error,
    spec: &QueueSpec,
    configured: QueueType,
) -> Option<TransportError> {
    let detail = describe(e);
    let differs = |argument: &&str| detail.contains(&format!("inequivalent arg '{argument}'"));
    if reply_code(e) != Some(PRECONDITION_FAILED) || !SET_BY_QUEUE_TYPE.iter().any(differs) {
        return None;
    }
    let asked = topology::queue_type_of(spec);
    let other = match asked {
        QueueType::Quorum => QueueType::Classic,
        QueueType::Classic => QueueType::Quorum,
    };
    Some(TransportError::PreconditionFailed {
        name: spec.name.clone(),
        detail: format!(
            "it exists as a {other} queue (declared by a Nameko service, or by instances with \
             QUEUE_TYPE: {other}) and this process declares it {asked} (QUEUE_TYPE: \
             {configured}). Every process that \
             declares a queue must agree on its type, and Nameko 2 declares only classic \
             queues: set QUEUE_TYPE: {other} here, or move the queue to {asked} once no process \
             of the other kind uses it (book/src/reliability.md, \"Quorum queues\"). The broker \
             said: {detail}"
        ),
    })
}
