//! Consuming a queue across reconnections. Each consumer has its own channel (its prefetch
//! and acks are its own). When the connection goes, the stream does not end: it waits for the
//! link to come back, opens a channel on the new connection, sets the prefetch again and
//! re-subscribes. It ends only when the queue is gone, the consumer was cancelled, or the link
//! gave up.
//!
//! Deliveries handed out before a loss keep their old channel: their acks fail (a delivery
//! tag belongs to its channel), and the broker redelivers them.

use std::pin::Pin;
use std::sync::Arc;

use contracts_core::error::Report;
use contracts_core::transport::{BoxFuture, Delivery, DeliveryStream, TransportError};
use futures_core::Stream;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;

use crate::broker_error::{NOT_FOUND, closed, describe, reply_code};
use crate::channel::{ChannelGuard, Closing, within};
use crate::link::Link;
use crate::message::from_lapin;

/// One subscription: a channel of one connection, and lapin's consumer on it.
struct Subscription {
    consumer: lapin::Consumer,
    guard: Arc<ChannelGuard>,
    generation: u64,
}

pub(crate) struct AmqpConsumer {
    link: Arc<Link>,
    closing: Closing,
    queue: String,
    prefetch: u16,
    current: Option<Subscription>,
}

/// Why a subscription could not be made.
enum Refused {
    /// The connection went meanwhile: wait for the next one.
    Lost(u64),
    /// For good (the queue is gone, the link gave up).
    Final(TransportError),
}

impl AmqpConsumer {
    /// Subscribe to `queue` on the current connection.
    pub(crate) async fn start(
        link: Arc<Link>,
        closing: Closing,
        queue: &str,
        prefetch: u16,
    ) -> Result<Self, TransportError> {
        let mut consumer = Self {
            link,
            closing,
            queue: queue.to_owned(),
            prefetch,
            current: None,
        };
        loop {
            match consumer.subscribe().await {
                Ok(()) => return Ok(consumer),
                Err(Refused::Lost(generation)) => consumer.link.newer_than(generation).await,
                Err(Refused::Final(e)) => return Err(e),
            }
        }
    }

    async fn subscribe(&mut self) -> Result<(), Refused> {
        let (connection, generation) = self.link.connection().await.map_err(Refused::Final)?;
        let lost = |e: lapin::Error| {
            if self.link.suspect(generation) {
                Refused::Lost(generation)
            } else if reply_code(&e) == Some(NOT_FOUND) {
                Refused::Final(TransportError::NoSuchQueue(self.queue.clone()))
            } else {
                Refused::Final(closed(&e))
            }
        };
        let channel = connection.create_channel().await.map_err(lost)?;
        let guard = Arc::new(ChannelGuard(channel.clone(), self.closing.clone()));
        if self.prefetch > 0 {
            channel
                .basic_qos(self.prefetch, BasicQosOptions { global: false })
                .await
                .map_err(lost)?;
        }
        let consumer = channel
            .basic_consume(
                // The queue's replacement if its node went (link.rs, `redeclare`).
                self.link.on_broker(&self.queue).as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(lost)?;
        self.current = Some(Subscription {
            consumer,
            guard,
            generation,
        });
        Ok(())
    }

    /// After the stream of the current subscription ended: subscribe again if the connection
    /// was lost (or the broker cancelled us while the connection stays up), `false` when the
    /// consumer is done for good.
    async fn resubscribe(&mut self) -> bool {
        let Some(ended) = self.current.take() else {
            return false;
        };
        let mut generation = ended.generation;
        if self.link.suspect(generation) {
            tracing::debug!(queue = %self.queue, "consumer waiting for the broker");
            self.link.newer_than(generation).await;
        }
        loop {
            if self.link.is_finished() {
                return false;
            }
            match self.subscribe().await {
                Ok(()) => {
                    tracing::info!(queue = %self.queue, "consumer re-subscribed");
                    return true;
                }
                Err(Refused::Lost(g)) => {
                    generation = g;
                    self.link.newer_than(generation).await;
                }
                Err(Refused::Final(e)) => {
                    tracing::warn!(queue = %self.queue, error = %Report(&e), "consumer cannot re-subscribe");
                    return false;
                }
            }
        }
    }
}

impl DeliveryStream for AmqpConsumer {
    fn next(&mut self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            loop {
                let subscription = self.current.as_mut()?;
                let item =
                    std::future::poll_fn(|cx| Pin::new(&mut subscription.consumer).poll_next(cx))
                        .await;
                match item {
                    Some(Ok(delivery)) => {
                        return Some(from_lapin(delivery, Some(subscription.guard.clone())));
                    }
                    Some(Err(e)) => {
                        // lapin follows an error with the end of the stream.
                        tracing::warn!(queue = %self.queue, error = %describe(&e), "consumer failed");
                    }
                    None => {
                        if !self.resubscribe().await {
                            return None;
                        }
                    }
                }
            }
        })
    }

    fn cancel(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let Some(subscription) = &self.current else {
                return;
            };
            let channel = subscription.guard.0.clone();
            let cancel =
                channel.basic_cancel(subscription.consumer.tag(), BasicCancelOptions::default());
            if let Err(e) = within("a consumer's cancel", cancel).await {
                tracing::debug!(queue = %self.queue, error = %Report(&e), "cancelling a consumer");
            }
            // Deliveries buffered but never handed out are requeued when the channel closes,
            // which happens once the last handed-out delivery is settled.
        })
    }
}
