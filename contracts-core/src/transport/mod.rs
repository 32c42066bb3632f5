//! The seam between the runtime and a message broker.
//!
//! The trait is shaped after AMQP 0-9-1 because Nameko's wire is AMQP: topic exchanges, queues
//! bound by routing keys, message properties (`reply_to`, `correlation_id`, headers) and
//! explicit acknowledgement. Everything above this module talks only to [`Transport`], so the
//! in-memory broker and RabbitMQ are interchangeable.

mod memory;
mod topic;

pub use memory::MemoryBroker;
pub use topic::topic_matches;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A boxed, sendable future: what every transport operation returns, so the trait stays
/// dyn-compatible and one runtime serves any broker.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// AMQP message headers as JSON values.
///
/// JSON covers every AMQP field type Nameko sends (`S` strings, `I`/`L` integers, `t` booleans,
/// `d` floats, `A` arrays, `F` tables, `V` void), so headers need no broker-specific type.
pub type Headers = serde_json::Map<String, serde_json::Value>;

/// A shared, type-erased transport: what clients, publishers and runners hold.
pub type SharedTransport = Arc<dyn Transport>;

/// The AMQP basic properties Nameko reads and writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Properties {
    /// MIME type of the body; Nameko sends `application/json`. Borrowed when it is one of
    /// ours, so that the common value costs no allocation per message.
    pub content_type: Option<Cow<'static, str>>,
    /// Body encoding; Nameko sends `utf-8`.
    pub content_encoding: Option<Cow<'static, str>>,
    /// Matches a reply to its request.
    pub correlation_id: Option<String>,
    /// For RPC requests: the routing key (on the RPC exchange) that the reply goes to.
    pub reply_to: Option<String>,
    /// The publisher's id for the message; our event publishers set a fresh UUID, which
    /// handlers use to recognise duplicates.
    pub message_id: Option<String>,
    /// Per-message TTL in milliseconds, as a decimal string (AMQP's form): the broker drops
    /// the message if no consumer took it in time.
    pub expiration: Option<String>,
    /// 2 = persistent, as Nameko publishes everything; 1 = transient; 0 (the default) leaves
    /// it unsaid, which brokers read as transient.
    pub delivery_mode: u8,
    /// Nameko always sets 0.
    pub priority: u8,
    /// Application headers (`nameko.*` context data).
    pub headers: Headers,
}

/// A message as published or delivered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// Basic properties and headers.
    pub properties: Properties,
    /// The raw body bytes.
    pub body: Vec<u8>,
}

/// Exchange types the runtime declares. Nameko uses only topic exchanges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeKind {
    /// Routing keys are dot-separated words; `*` binds one word, `#` zero or more.
    Topic,
}

/// An exchange declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeSpec {
    /// Exchange name.
    pub name: String,
    /// Exchange type.
    pub kind: ExchangeKind,
    /// Survives a broker restart.
    pub durable: bool,
    /// Deleted when its last binding goes.
    pub auto_delete: bool,
}

/// A queue declaration. The flags must match other declarers bit for bit, or RabbitMQ refuses
/// the second declaration with `406 PRECONDITION_FAILED`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSpec {
    /// Queue name.
    pub name: String,
    /// Survives a broker restart.
    pub durable: bool,
    /// Owned by the declaring connection.
    pub exclusive: bool,
    /// Deleted when its last consumer goes.
    pub auto_delete: bool,
    /// `x-*` arguments such as `x-expires`.
    pub arguments: Headers,
}

/// Which kind of RabbitMQ queue the durable queues that instances share become: the config
/// key `QUEUE_TYPE` (book/src/reliability.md, "Quorum queues").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueType {
    /// Declared exactly as Nameko declares them, with no arguments: Nameko services can share
    /// them (the default).
    #[default]
    Classic,
    /// Replicated over the cluster (Raft), with a delivery limit and at-least-once
    /// dead-lettering. Nameko 2 cannot declare these, so it cannot share them.
    Quorum,
}

impl QueueType {
    /// RabbitMQ's name for it, the value of `x-queue-type`: `classic` or `quorum`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Quorum => "quorum",
        }
    }
}

impl std::fmt::Display for QueueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The broker library's own error under a [`TransportError`], kept for
/// [`source()`](std::error::Error::source) (a `lapin::Error` over RabbitMQ).
pub type BrokerCause = Box<dyn std::error::Error + Send + Sync>;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A mandatory publish matched no queue (AMQP `basic.return` with `NO_ROUTE`).
    #[error("message to exchange `{exchange}` with routing key `{routing_key}` matched no queue")]
    Unroutable {
        /// Target exchange.
        exchange: String,
        /// Routing key that matched nothing.
        routing_key: String,
    },
    /// The named exchange does not exist.
    #[error("exchange `{0}` does not exist")]
    NoSuchExchange(String),
    /// The named queue does not exist.
    #[error("queue `{0}` does not exist")]
    NoSuchQueue(String),
    /// A redeclaration with different flags.
    #[error("declaration of `{name}` differs from the existing one: {detail}")]
    PreconditionFailed {
        /// Entity name.
        name: String,
        /// What differs.
        detail: String,
    },
    /// The broker could not be reached (`broker` never shows a password).
    #[error("cannot connect to {broker}{detail}")]
    Connect {
        /// The broker's address.
        broker: String,
        /// What the failure usually means, where the broker library's words (the source)
        /// do not say it, as a parenthesis after the address (` (…)`); often empty.
        detail: String,
        /// The broker library's error.
        #[source]
        source: BrokerCause,
    },
    /// The broker refused a publish (`basic.nack`): it could not take the message.
    #[error("the broker refused a message to exchange `{exchange}` (basic.nack)")]
    Nacked {
        /// Target exchange.
        exchange: String,
        /// The message's routing key.
        routing_key: String,
    },
    /// The connection or channel is gone.
    #[error("broker connection closed: {detail}")]
    Closed {
        /// What happened.
        detail: String,
        /// The broker library's error, when there was one.
        #[source]
        source: Option<BrokerCause>,
    },
}

impl TransportError {
    /// [`TransportError::Closed`] with no underlying error.
    pub fn closed(detail: impl Into<String>) -> Self {
        Self::Closed {
            detail: detail.into(),
            source: None,
        }
    }

    /// [`TransportError::Closed`] caused by the broker library's `error`.
    pub fn closed_by(
        detail: impl Into<String>,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Closed {
            detail: detail.into(),
            source: Some(Box::new(error)),
        }
    }
}

/// A broker connection, seen through the operations Nameko's protocol needs.
pub trait Transport: Send + Sync + 'static {
    /// Declare (or check) an exchange.
    fn declare_exchange<'a>(
        &'a self,
        spec: &'a ExchangeSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    /// Declare (or check) a queue.
    fn declare_queue<'a>(
        &'a self,
        spec: &'a QueueSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    /// Bind `queue` to `exchange` with a topic `routing_key` pattern.
    fn bind<'a>(
        &'a self,
        queue: &'a str,
        exchange: &'a str,
        routing_key: &'a str,
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    /// Delete a queue and its bindings; consumers see the end of their stream.
    fn delete_queue<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<(), TransportError>>;

    /// Publish a message. With `mandatory`, a message that matches no queue is an error
    /// ([`TransportError::Unroutable`]) instead of being dropped.
    fn publish<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        message: Message,
        mandatory: bool,
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    /// Take one message from `queue` (AMQP `basic.get`), with the count of messages left
    /// behind it; `None` when the queue is empty. For inspecting queues, not for consuming.
    fn get<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<(Delivery, u32)>, TransportError>>;

    /// How many messages wait in `queue` to be delivered (its backlog), when the transport
    /// can tell; `Ok(None)` when it cannot.
    fn message_count<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, TransportError>> {
        let _ = queue;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Start consuming `queue` with at most `prefetch` unacknowledged deliveries
    /// (0 = unlimited).
    fn consume<'a>(
        &'a self,
        queue: &'a str,
        prefetch: u16,
    ) -> BoxFuture<'a, Result<Consumer, TransportError>>;

    /// Whether the broker is reachable now. A transport that reconnects by itself reports
    /// `false` while it is trying, so that a call that timed out meanwhile can say the broker
    /// was unreachable rather than that the service was slow.
    fn is_connected(&self) -> bool {
        true
    }

    /// Why the broker blocks publishing now (RabbitMQ's `connection.blocked` on a memory or
    /// disk alarm), if it does: a call or publish that timed out meanwhile says so.
    fn blocked(&self) -> Option<String> {
        None
    }

    /// How many times the connection was re-established since it was first opened.
    fn reconnections(&self) -> u64 {
        0
    }

    /// Which type the durable queues that instances share get when declared through this
    /// transport (RPC queues, pooled and singleton event handlers' queues, their retry and
    /// dead-letter queues); see [`crate::wire::topology`].
    fn queue_type(&self) -> QueueType {
        QueueType::Classic
    }
}

/// A stream of deliveries from one queue.
pub struct Consumer {
    inner: Box<dyn DeliveryStream>,
}

impl Consumer {
    /// Wrap a transport's delivery stream.
    pub fn new(inner: impl DeliveryStream + 'static) -> Self {
        Self {
            inner: Box::new(inner),
        }
    }

    /// The next delivery, or `None` once the queue is gone or the consumer cancelled.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.inner.next().await
    }

    /// Stop receiving. Deliveries already handed out can still be acknowledged.
    pub async fn cancel(self) {
        self.inner.cancel().await
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

/// What a transport implements to feed a [`Consumer`].
pub trait DeliveryStream: Send {
    /// The next delivery, or `None` at the end.
    fn next(&mut self) -> BoxFuture<'_, Option<Delivery>>;
    /// Stop receiving (AMQP `basic.cancel`) without closing the channel, so that in-flight
    /// deliveries can still be acknowledged.
    fn cancel(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// One delivered message and the means to settle it.
#[derive(Debug)]
pub struct Delivery {
    /// Exchange the message was published to.
    pub exchange: Arc<str>,
    /// Routing key it was published with.
    pub routing_key: Arc<str>,
    /// The broker delivered it before and it was not acknowledged.
    pub redelivered: bool,
    /// The message itself, shared with the transport, which keeps it until the delivery is
    /// settled (to requeue it if need be).
    pub message: Arc<Message>,
    /// Settles the delivery.
    pub acker: Acker,
}

/// Settles a delivery: exactly one of [`Acker::ack`] or [`Acker::reject`]. An acker dropped
/// unsettled behaves like a closed AMQP channel: the broker requeues the message.
pub struct Acker(Box<dyn Acknowledge>);

impl Acker {
    /// Wrap a transport's acknowledger.
    pub fn new(inner: impl Acknowledge + 'static) -> Self {
        Self(Box::new(inner))
    }

    /// The message is handled; the broker forgets it.
    pub async fn ack(self) -> Result<(), TransportError> {
        self.0.ack().await
    }

    /// The message was not handled; requeue it or drop it.
    pub async fn reject(self, requeue: bool) -> Result<(), TransportError> {
        self.0.reject(requeue).await
    }
}

impl std::fmt::Debug for Acker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acker")
    }
}

/// What a transport implements to back an [`Acker`].
pub trait Acknowledge: Send {
    /// AMQP `basic.ack`.
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), TransportError>>;
    /// AMQP `basic.reject`.
    fn reject(self: Box<Self>, requeue: bool) -> BoxFuture<'static, Result<(), TransportError>>;
}
