//! [`Transport`] over RabbitMQ (lapin), kept connected.
//!
//! Channel use follows lapin's and RabbitMQ's advice (book/src/reliability.md, "Publishing"):
//! - declarations run on a throwaway channel each, because a refused declaration (`406`,
//!   `404`) closes the channel it ran on;
//! - publishes go through a small pool of confirm-mode channels, and confirms are awaited per
//!   publish but concurrently across callers (pipelined, not publish-and-wait per channel);
//! - every consumer has its own channel (`consumer.rs`).
//!
//! The connection is supervised (`link.rs`): when it is lost, the link reconnects and
//! re-declares what was declared; meanwhile declarations and publishes wait for it and are
//! retried on the new connection, and consumers re-subscribe. A caller bounds the wait with
//! its own deadline (book/src/reliability.md, "Reconnection").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts_core::transport::{
    BoxFuture, Consumer, Delivery, ExchangeSpec, Message, QueueSpec, QueueType, Transport,
    TransportError,
};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation, Connection};

use crate::broker_error::{NOT_FOUND, closed, declare_error, queue_type_error, reply_code};
use crate::channel::Closing;
use crate::consumer::AmqpConsumer;
use crate::link::{
    Link, ReconnectPolicy, bind_on, declare_exchange_on, declare_queue_on, on_connection,
};
use crate::message::{from_lapin, to_properties};
use crate::uri::BrokerUri;

/// A RabbitMQ connection implementing [`Transport`] with Nameko's topology rules: publisher
/// confirms on every publish, mandatory publishes reported as
/// [`TransportError::Unroutable`], manual acknowledgement, and reconnection.
pub struct AmqpTransport {
    link: Arc<Link>,
    closing: Closing,
    /// The channel of `basic.get`s and its connection's generation; their deliveries are
    /// settled on it.
    getter: Mutex<Option<(Arc<Channel>, u64)>>,
    queue_type: QueueType,
}

impl std::fmt::Debug for AmqpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpTransport")
            .field("brokers", &self.link.brokers())
            .finish_non_exhaustive()
    }
}

impl AmqpTransport {
    /// Connect to the broker at `uri` (`amqp://`, `amqps://` or Nameko's `pyamqp://`, vhost in
    /// the path), reconnecting after a loss with the default [`ReconnectPolicy`].
    pub async fn connect(uri: &BrokerUri) -> Result<Self, TransportError> {
        Self::connect_to(vec![uri.clone()], ReconnectPolicy::default()).await
    }

    /// Connect to the first of `brokers` that answers (kombu's failover list); after a loss,
    /// reconnect to any of them in turn as `policy` says.
    ///
    /// # Panics
    /// If `brokers` is empty.
    pub async fn connect_to(
        brokers: Vec<BrokerUri>,
        policy: ReconnectPolicy,
    ) -> Result<Self, TransportError> {
        Ok(Self {
            link: Link::connect(brokers, policy).await?,
            closing: Closing::default(),
            getter: Mutex::new(None),
            queue_type: QueueType::default(),
        })
    }

    /// Declare the durable queues that instances share as `queue_type` queues (the config key
    /// `QUEUE_TYPE`; classic, Nameko's, unless set).
    pub fn with_queue_type(mut self, queue_type: QueueType) -> Self {
        self.queue_type = queue_type;
        self
    }

    /// Connect and wrap in a [`SharedTransport`](contracts_core::transport::SharedTransport).
    pub async fn shared(uri: &BrokerUri) -> Result<Arc<Self>, TransportError> {
        Self::connect(uri).await.map(Arc::new)
    }

    /// The broker address (the first one), with the password hidden.
    pub fn uri(&self) -> &BrokerUri {
        &self.link.brokers()[0]
    }

    /// Whether the transport is connected now (it reconnects by itself when not).
    pub fn is_connected(&self) -> bool {
        self.link.is_up()
    }

    /// Follow the connection: `true` while connected, `false` while reconnecting (and after
    /// [`close`](Self::close) or giving up).
    pub fn watch_connected(&self) -> tokio::sync::watch::Receiver<bool> {
        self.link.watch_connected()
    }

    /// Follow whether the broker blocks this connection's publishes (a memory or disk alarm),
    /// with the broker's reason.
    pub fn watch_blocked(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.link.watch_blocked()
    }

    /// Close the connection for good. Unsettled deliveries go back to their queues.
    pub async fn close(&self) {
        // Channels being closed finish first, or lapin reports their close-ok as an error.
        self.closing.wait().await;
        self.link.close().await;
    }

    async fn scratch_channel(
        &self,
        connection: &Connection,
    ) -> Result<ScratchChannel, TransportError> {
        connection
            .create_channel()
            .await
            .map(|channel| ScratchChannel(channel, self.closing.clone()))
            .map_err(|e| closed(&e))
    }

    async fn getter(&self) -> Result<(Arc<Channel>, u64), TransportError> {
        if let Some((channel, generation)) = self.getter.lock().expect("getter lock").clone()
            && channel.status().connected()
            && !self.link.suspect(generation)
        {
            return Ok((channel, generation));
        }
        loop {
            let (connection, generation) = self.link.connection().await?;
            match connection.create_channel().await {
                Ok(channel) => {
                    let channel = Arc::new(channel);
                    *self.getter.lock().expect("getter lock") = Some((channel.clone(), generation));
                    return Ok((channel, generation));
                }
                Err(_) if self.link.suspect(generation) => self.link.newer_than(generation).await,
                Err(e) => return Err(closed(&e)),
            }
        }
    }
}

/// A channel for one declaration, closed when dropped.
struct ScratchChannel(Channel, Closing);

impl Drop for ScratchChannel {
    fn drop(&mut self) {
        self.1.close_later(self.0.clone());
    }
}

impl Drop for AmqpTransport {
    fn drop(&mut self) {
        // lapin keeps a dropped connection open (lapin#415); close it so the broker requeues
        // what this process held, and stop reconnecting.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let link = self.link.clone();
            runtime.spawn(async move { link.close().await });
        }
    }
}

impl Transport for AmqpTransport {
    fn declare_exchange<'a>(
        &'a self,
        spec: &'a ExchangeSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            on_connection(&self.link, |connection| async move {
                let channel = self.scratch_channel(&connection).await?;
                declare_exchange_on(&channel.0, spec)
                    .await
                    .map_err(|e| declare_error(&e, &spec.name, TransportError::NoSuchExchange))
            })
            .await?;
            self.link.record_exchange(spec);
            Ok(())
        })
    }

    fn declare_queue<'a>(
        &'a self,
        spec: &'a QueueSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            on_connection(&self.link, |connection| async move {
                let channel = self.scratch_channel(&connection).await?;
                declare_queue_on(&channel.0, spec).await.map_err(|e| {
                    queue_type_error(&e, spec, self.queue_type).unwrap_or_else(|| {
                        declare_error(&e, &spec.name, TransportError::NoSuchQueue)
                    })
                })
            })
            .await?;
            self.link.record_queue(spec);
            Ok(())
        })
    }

    fn bind<'a>(
        &'a self,
        queue: &'a str,
        exchange: &'a str,
        routing_key: &'a str,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            on_connection(&self.link, |connection| async move {
                let channel = self.scratch_channel(&connection).await?;
                bind_on(
                    &channel.0,
                    &self.link.on_broker(queue),
                    exchange,
                    routing_key,
                )
                .await
                .map_err(|e| match reply_code(&e) {
                    Some(NOT_FOUND) => TransportError::closed_by(
                        format!("cannot bind `{queue}` to `{exchange}`"),
                        e.clone(),
                    ),
                    _ => closed(&e),
                })
            })
            .await?;
            self.link.record_binding(queue, exchange, routing_key);
            Ok(())
        })
    }

    fn delete_queue<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let on_broker = &self.link.on_broker(queue);
            self.link.forget_queue(queue);
            on_connection(&self.link, |connection| async move {
                let channel = self.scratch_channel(&connection).await?;
                channel
                    .0
                    .queue_delete(on_broker.as_str().into(), QueueDeleteOptions::default())
                    .await
                    .map(drop)
                    .map_err(|e| declare_error(&e, queue, TransportError::NoSuchQueue))
            })
            .await
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
            let properties = to_properties(&message.properties);
            let mut refusals = 0;
            loop {
                let (channel, generation) = self.link.publisher().await?;
                match publish_once(
                    &channel,
                    exchange,
                    routing_key,
                    &message.body,
                    &properties,
                    mandatory,
                )
                .await
                {
                    // Not confirmed because the connection went: publish again on the next one
                    // (the broker may have stored the first copy: at least once).
                    Err(e @ TransportError::Closed { .. })
                        if self.link.lost_with(generation, &e) =>
                    {
                        self.link.newer_than(generation).await;
                    }
                    // Refused: not taken, so publishing again duplicates nothing the broker
                    // kept. A quorum queue refuses while it has no leader (a node just went)
                    // and a refusing channel can stay stuck, so try again on a fresh channel
                    // a few times, backing off, before the refusal is the caller's.
                    Err(e @ TransportError::Nacked { .. }) => {
                        self.link.retire_publisher(&channel);
                        if refusals == NACK_RETRIES {
                            return Err(e);
                        }
                        tokio::time::sleep(NACK_BACKOFF * 2u32.pow(refusals)).await;
                        refusals += 1;
                    }
                    other => return other,
                }
            }
        })
    }

    fn get<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<(Delivery, u32)>, TransportError>> {
        Box::pin(async move {
            loop {
                let (channel, generation) = self.getter().await?;
                let got = channel
                    .basic_get(
                        self.link.on_broker(queue).as_str().into(),
                        BasicGetOptions { no_ack: false },
                    )
                    .await;
                match got {
                    Ok(got) => {
                        return Ok(got.map(|got| {
                            // Settled on the long-lived get channel, which needs no guard.
                            (from_lapin(got.delivery, None), got.message_count)
                        }));
                    }
                    Err(_) if self.link.suspect(generation) => {
                        self.link.newer_than(generation).await;
                    }
                    // A get on a missing queue closes the channel with 404; the next get
                    // opens another.
                    Err(e) => return Err(declare_error(&e, queue, TransportError::NoSuchQueue)),
                }
            }
        })
    }

    fn consume<'a>(
        &'a self,
        queue: &'a str,
        prefetch: u16,
    ) -> BoxFuture<'a, Result<Consumer, TransportError>> {
        Box::pin(async move {
            let consumer =
                AmqpConsumer::start(self.link.clone(), self.closing.clone(), queue, prefetch)
                    .await?;
            Ok(Consumer::new(consumer))
        })
    }

    fn is_connected(&self) -> bool {
        self.link.is_up()
    }

    fn blocked(&self) -> Option<String> {
        self.link.blocked()
    }

    fn reconnections(&self) -> u64 {
        self.link.reconnections()
    }

    fn queue_type(&self) -> QueueType {
        self.queue_type
    }

    fn message_count<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, TransportError>> {
        Box::pin(async move {
            // Whoever asks (a metrics scrape) must not wait out a reconnection.
            if !self.link.is_up() {
                return Ok(None);
            }
            let (channel, _) = self.getter().await?;
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            // A passive declare on a missing queue closes the channel with 404; the next
            // use of the get channel opens another.
            let declared = channel
                .queue_declare(
                    self.link.on_broker(queue).as_str().into(),
                    options,
                    FieldTable::default(),
                )
                .await
                .map_err(|e| declare_error(&e, queue, TransportError::NoSuchQueue))?;
            Ok(Some(u64::from(declared.message_count())))
        })
    }
}

/// Publishes a refused message (`basic.nack`) again this many times, waiting `NACK_BACKOFF`,
/// then twice as long each time (6.3 s in all): longer than a quorum queue's leader election
/// takes after a node is lost, and the caller's deadline cuts it short anyway.
const NACK_RETRIES: u32 = 6;
const NACK_BACKOFF: Duration = Duration::from_millis(100);

/// One publish on `channel`, awaiting its confirm.
async fn publish_once(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: &lapin::BasicProperties,
    mandatory: bool,
) -> Result<(), TransportError> {
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
            body,
            properties.clone(),
        )
        .await
        .map_err(missing)?;
    match confirm.await.map_err(missing)? {
        // With `mandatory`, RabbitMQ sends `basic.return` before the ack: an ack can carry a
        // returned message (book/src/reliability.md, "Publishing").
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
