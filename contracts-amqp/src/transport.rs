//! [`Transport`] over a RabbitMQ connection (lapin).
//!
//! Channel use follows lapin's and RabbitMQ's advice (docs/reliability.md, "Publishing"):
//! - declarations run on a throwaway channel each, because a refused declaration (`406`,
//!   `404`) closes the channel it ran on;
//! - publishes go through a small pool of confirm-mode channels, and confirms are awaited per
//!   publish but concurrently across callers (pipelined, not publish-and-wait per channel);
//! - every consumer has its own channel, so its prefetch (`basic.qos`, per consumer) and its
//!   acks are independent of the others. The channel stays open after `basic.cancel` until
//!   every delivery handed out is settled, then closes.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use contracts_core::transport::{
    Acker, Acknowledge, BoxFuture, Consumer, Delivery, DeliveryStream, ExchangeKind, ExchangeSpec,
    Message, Properties, QueueSpec, Transport, TransportError,
};
use futures_core::Stream;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions,
    BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};

use crate::fields::{from_table, to_table};
use crate::uri::BrokerUri;

/// Publish channels per connection: enough that one slow confirm does not serialise every
/// caller, few enough to stay far below `channel_max`.
const PUBLISH_CHANNELS: usize = 4;

/// AMQP reply codes the runtime tells apart.
const NOT_FOUND: u16 = 404;
const PRECONDITION_FAILED: u16 = 406;

/// A RabbitMQ connection implementing [`Transport`] with Nameko's topology rules: publisher
/// confirms on every publish, mandatory publishes reported as
/// [`TransportError::Unroutable`], and manual acknowledgement.
pub struct AmqpTransport {
    connection: Arc<Connection>,
    closing: Closing,
    /// `Arc`, because cloning a lapin `Channel` clones a dozen handles: too much per publish.
    publishers: Vec<Mutex<Arc<Channel>>>,
    next_publisher: AtomicUsize,
    /// The channel of `basic.get`s; their deliveries are settled on it.
    getter: Mutex<Arc<Channel>>,
    uri: BrokerUri,
}

impl std::fmt::Debug for AmqpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpTransport")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl AmqpTransport {
    /// Connect to the broker at `uri` (`amqp://`, `amqps://` or Nameko's `pyamqp://`, vhost in
    /// the path).
    pub async fn connect(uri: &BrokerUri) -> Result<Self, TransportError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("contracts {}", env!("CARGO_PKG_VERSION")).into());
        let connection = Connection::connect_uri(uri.to_lapin(), properties)
            .await
            .map_err(|e| TransportError::Connect {
                broker: uri.to_string(),
                detail: describe(&e),
                source: Box::new(e),
            })?;
        let mut publishers = Vec::with_capacity(PUBLISH_CHANNELS);
        for _ in 0..PUBLISH_CHANNELS {
            publishers.push(Mutex::new(Arc::new(confirm_channel(&connection).await?)));
        }
        let getter = Mutex::new(Arc::new(
            connection.create_channel().await.map_err(|e| closed(&e))?,
        ));
        tracing::info!(broker = %uri, "connected");
        Ok(Self {
            connection: Arc::new(connection),
            closing: Closing::default(),
            publishers,
            next_publisher: AtomicUsize::new(0),
            getter,
            uri: uri.clone(),
        })
    }

    /// Connect and wrap in a [`SharedTransport`](contracts_core::transport::SharedTransport).
    pub async fn shared(uri: &BrokerUri) -> Result<Arc<Self>, TransportError> {
        Self::connect(uri).await.map(Arc::new)
    }

    /// The broker address, with the password hidden.
    pub fn uri(&self) -> &BrokerUri {
        &self.uri
    }

    /// Close the connection. Unsettled deliveries go back to their queues.
    pub async fn close(&self) {
        // Channels being closed finish first, or lapin reports their close-ok as an error.
        self.closing.wait().await;
        if let Err(e) = self.connection.close(200, "bye".into()).await {
            tracing::debug!(error = %describe(&e), "closing the connection");
        }
    }

    /// A publish channel that is open: one of the pool, reopened if the broker closed it (a
    /// publish to a missing exchange closes its channel with `404`).
    async fn publisher(&self) -> Result<Arc<Channel>, TransportError> {
        let slot = &self.publishers
            [self.next_publisher.fetch_add(1, Ordering::Relaxed) % self.publishers.len()];
        let channel = slot.lock().expect("publisher lock").clone();
        if channel.status().connected() {
            return Ok(channel);
        }
        let fresh = Arc::new(confirm_channel(&self.connection).await?);
        *slot.lock().expect("publisher lock") = fresh.clone();
        Ok(fresh)
    }

    async fn scratch_channel(&self) -> Result<ScratchChannel, TransportError> {
        self.connection
            .create_channel()
            .await
            .map(|channel| ScratchChannel(channel, self.closing.clone()))
            .map_err(|e| closed(&e))
    }
}

async fn confirm_channel(connection: &Connection) -> Result<Channel, TransportError> {
    let channel = connection.create_channel().await.map_err(|e| closed(&e))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| closed(&e))?;
    Ok(channel)
}

/// A channel for one declaration, closed when dropped.
struct ScratchChannel(Channel, Closing);

impl Drop for ScratchChannel {
    fn drop(&mut self) {
        self.1.close_later(self.0.clone());
    }
}

/// Channel closes still in progress, so that closing the connection can wait for them.
#[derive(Clone, Default)]
struct Closing(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Closing {
    fn close_later(&self, channel: Channel) {
        if !channel.status().connected() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let task = runtime.spawn(async move {
                let _ = channel.close(200, "done".into()).await;
            });
            let mut tasks = self.0.lock().expect("closing lock");
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    async fn wait(&self) {
        let tasks = std::mem::take(&mut *self.0.lock().expect("closing lock"));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for AmqpTransport {
    fn drop(&mut self) {
        // lapin keeps a dropped connection open (lapin#415); close it so the broker requeues
        // what this process held.
        let connection = self.connection.clone();
        if connection.status().connected()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = connection.close(200, "bye".into()).await;
            });
        }
    }
}

fn describe(e: &lapin::Error) -> String {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => {
            format!("{} {}", amqp.get_id(), amqp.get_message().as_str())
        }
        _ => e.to_string(),
    }
}

fn reply_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => Some(amqp.get_id()),
        _ => None,
    }
}

fn closed(e: &lapin::Error) -> TransportError {
    TransportError::closed_by(describe(e), e.clone())
}

fn declare_error(
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

fn to_properties(properties: &Properties) -> BasicProperties {
    let mut out = BasicProperties::default()
        .with_delivery_mode(properties.delivery_mode)
        .with_priority(properties.priority);
    if let Some(v) = &properties.content_type {
        out = out.with_content_type(v.as_str().into());
    }
    if let Some(v) = &properties.content_encoding {
        out = out.with_content_encoding(v.as_str().into());
    }
    if let Some(v) = &properties.correlation_id {
        out = out.with_correlation_id(v.as_str().into());
    }
    if let Some(v) = &properties.reply_to {
        out = out.with_reply_to(v.as_str().into());
    }
    if let Some(v) = &properties.message_id {
        out = out.with_message_id(v.as_str().into());
    }
    if let Some(v) = &properties.expiration {
        out = out.with_expiration(v.as_str().into());
    }
    // Nameko sends `headers: {}` on replies; an empty table is what py-amqp writes too.
    out.with_headers(to_table(&properties.headers))
}

fn from_properties(properties: &BasicProperties) -> Properties {
    let text = |v: &Option<ShortString>| v.as_ref().map(|s| s.as_str().to_owned());
    Properties {
        content_type: text(properties.content_type()),
        content_encoding: text(properties.content_encoding()),
        correlation_id: text(properties.correlation_id()),
        reply_to: text(properties.reply_to()),
        message_id: text(properties.message_id()),
        expiration: text(properties.expiration()),
        delivery_mode: properties.delivery_mode().unwrap_or(1),
        priority: properties.priority().unwrap_or(0),
        headers: properties
            .headers()
            .as_ref()
            .map(from_table)
            .unwrap_or_default(),
    }
}

/// A lapin delivery as a transport [`Delivery`]; `channel` keeps a consumer's channel open
/// until the delivery is settled.
fn from_lapin(delivery: lapin::message::Delivery, channel: Option<Arc<ChannelGuard>>) -> Delivery {
    Delivery {
        exchange: delivery.exchange.as_str().into(),
        routing_key: delivery.routing_key.as_str().into(),
        redelivered: delivery.redelivered,
        message: Arc::new(Message {
            properties: from_properties(&delivery.properties),
            body: delivery.data,
        }),
        acker: Acker::new(AmqpAcker {
            acker: Some(delivery.acker),
            _channel: channel,
        }),
    }
}

impl Transport for AmqpTransport {
    fn declare_exchange<'a>(
        &'a self,
        spec: &'a ExchangeSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let channel = self.scratch_channel().await?;
            let kind = match spec.kind {
                ExchangeKind::Topic => lapin::ExchangeKind::Topic,
            };
            let options = ExchangeDeclareOptions {
                durable: spec.durable,
                auto_delete: spec.auto_delete,
                ..ExchangeDeclareOptions::default()
            };
            channel
                .0
                .exchange_declare(
                    spec.name.as_str().into(),
                    kind,
                    options,
                    FieldTable::default(),
                )
                .await
                .map_err(|e| declare_error(&e, &spec.name, TransportError::NoSuchExchange))
        })
    }

    fn declare_queue<'a>(
        &'a self,
        spec: &'a QueueSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let channel = self.scratch_channel().await?;
            let options = QueueDeclareOptions {
                durable: spec.durable,
                exclusive: spec.exclusive,
                auto_delete: spec.auto_delete,
                ..QueueDeclareOptions::default()
            };
            channel
                .0
                .queue_declare(
                    spec.name.as_str().into(),
                    options,
                    to_table(&spec.arguments),
                )
                .await
                .map(drop)
                .map_err(|e| declare_error(&e, &spec.name, TransportError::NoSuchQueue))
        })
    }

    fn bind<'a>(
        &'a self,
        queue: &'a str,
        exchange: &'a str,
        routing_key: &'a str,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let channel = self.scratch_channel().await?;
            channel
                .0
                .queue_bind(
                    queue.into(),
                    exchange.into(),
                    routing_key.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| match reply_code(&e) {
                    Some(NOT_FOUND) => TransportError::closed_by(
                        format!("cannot bind `{queue}` to `{exchange}`: {}", describe(&e)),
                        e.clone(),
                    ),
                    _ => closed(&e),
                })
        })
    }

    fn delete_queue<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let channel = self.scratch_channel().await?;
            channel
                .0
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
                .map(drop)
                .map_err(|e| declare_error(&e, queue, TransportError::NoSuchQueue))
        })
    }

    fn publish<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        message: Message,
        mandatory: bool,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let channel = self.publisher().await?;
            let options = BasicPublishOptions {
                mandatory,
                immediate: false,
            };
            let missing = |e: lapin::Error| match reply_code(&e) {
                Some(NOT_FOUND) => TransportError::NoSuchExchange(exchange.to_owned()),
                _ => closed(&e),
            };
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    options,
                    &message.body,
                    to_properties(&message.properties),
                )
                .await
                .map_err(missing)?;
            match confirm.await.map_err(missing)? {
                // With `mandatory`, RabbitMQ sends `basic.return` before the ack: an ack can
                // carry a returned message (docs/reliability.md, "Publishing").
                Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => {
                    Err(TransportError::Unroutable {
                        exchange: exchange.to_owned(),
                        routing_key: routing_key.to_owned(),
                    })
                }
                Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
                Confirmation::Nack(None) => Err(TransportError::Nacked {
                    exchange: exchange.to_owned(),
                    routing_key: routing_key.to_owned(),
                }),
            }
        })
    }

    fn get<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<(Delivery, u32)>, TransportError>> {
        Box::pin(async move {
            let mut channel = self.getter.lock().expect("getter lock").clone();
            if !channel.status().connected() {
                // A get on a missing queue closes the channel with 404.
                channel = Arc::new(
                    self.connection
                        .create_channel()
                        .await
                        .map_err(|e| closed(&e))?,
                );
                *self.getter.lock().expect("getter lock") = channel.clone();
            }
            let got = channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: false })
                .await
                .map_err(|e| declare_error(&e, queue, TransportError::NoSuchQueue))?;
            Ok(got.map(|got| {
                let delivery = got.delivery;
                (
                    // Settled on the long-lived get channel, which needs no guard.
                    from_lapin(delivery, None),
                    got.message_count,
                )
            }))
        })
    }

    fn consume<'a>(
        &'a self,
        queue: &'a str,
        prefetch: u16,
    ) -> BoxFuture<'a, Result<Consumer, TransportError>> {
        Box::pin(async move {
            let channel = self
                .connection
                .create_channel()
                .await
                .map_err(|e| closed(&e))?;
            let guard = Arc::new(ChannelGuard(channel.clone(), self.closing.clone()));
            if prefetch > 0 {
                channel
                    .basic_qos(prefetch, BasicQosOptions { global: false })
                    .await
                    .map_err(|e| closed(&e))?;
            }
            let consumer = channel
                .basic_consume(
                    queue.into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| declare_error(&e, queue, TransportError::NoSuchQueue))?;
            Ok(Consumer::new(AmqpConsumer {
                consumer,
                guard,
                queue: queue.to_owned(),
            }))
        })
    }
}

/// Closes a consumer's channel once the consumer and every delivery it handed out are gone.
struct ChannelGuard(Channel, Closing);

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        self.1.close_later(self.0.clone());
    }
}

struct AmqpConsumer {
    consumer: lapin::Consumer,
    guard: Arc<ChannelGuard>,
    queue: String,
}

impl DeliveryStream for AmqpConsumer {
    fn next(&mut self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            loop {
                let item =
                    std::future::poll_fn(|cx| Pin::new(&mut self.consumer).poll_next(cx)).await;
                match item {
                    None => return None,
                    Some(Err(e)) => {
                        // lapin follows an error with the end of the stream.
                        tracing::warn!(queue = %self.queue, error = %describe(&e), "consumer failed");
                        continue;
                    }
                    Some(Ok(delivery)) => {
                        return Some(from_lapin(delivery, Some(self.guard.clone())));
                    }
                }
            }
        })
    }

    fn cancel(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let channel = self.guard.0.clone();
            if let Err(e) = channel
                .basic_cancel(self.consumer.tag(), BasicCancelOptions::default())
                .await
            {
                tracing::debug!(queue = %self.queue, error = %describe(&e), "cancelling a consumer");
            }
            // Deliveries buffered but never handed out are requeued when the channel closes,
            // which happens once the last handed-out delivery is settled.
        })
    }
}

struct AmqpAcker {
    acker: Option<lapin::Acker>,
    /// A consumer's channel stays open while its deliveries are unsettled.
    _channel: Option<Arc<ChannelGuard>>,
}

impl AmqpAcker {
    fn settled(result: lapin::Result<bool>) -> Result<(), TransportError> {
        match result {
            Ok(true) => Ok(()),
            // A poisoned acker: the channel closed and the broker has requeued the message.
            Ok(false) => Err(TransportError::closed(
                "the delivery's channel closed before it was settled; the broker requeued it",
            )),
            Err(e) => Err(closed(&e)),
        }
    }
}

impl Acknowledge for AmqpAcker {
    fn ack(mut self: Box<Self>) -> BoxFuture<'static, Result<(), TransportError>> {
        let acker = self.acker.take().expect("settled once");
        Box::pin(async move {
            let result = acker.ack(BasicAckOptions::default()).await;
            drop(self);
            Self::settled(result)
        })
    }

    fn reject(
        mut self: Box<Self>,
        requeue: bool,
    ) -> BoxFuture<'static, Result<(), TransportError>> {
        let acker = self.acker.take().expect("settled once");
        Box::pin(async move {
            let result = acker.reject(BasicRejectOptions { requeue }).await;
            drop(self);
            Self::settled(result)
        })
    }
}

impl Drop for AmqpAcker {
    fn drop(&mut self) {
        // Dropped unsettled: give the message back now rather than when the channel closes.
        if let Some(acker) = self.acker.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let channel = self._channel.clone();
            runtime.spawn(async move {
                let _ = acker.reject(BasicRejectOptions { requeue: true }).await;
                drop(channel);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_connection_names_the_broker_but_not_the_password() {
        // Port 1 on loopback: nothing listens, so the connection is refused at once.
        let uri: BrokerUri = "amqp://app:hunter2@127.0.0.1:1/orders".parse().unwrap();
        let err = AmqpTransport::connect(&uri).await.unwrap_err().to_string();
        assert!(err.contains("amqp://app:***@127.0.0.1:1/orders"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
