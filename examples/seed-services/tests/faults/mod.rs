//! Fault injection around a real broker, for the failure paths: a transport that can lose a
//! delivery's ack (as when a connection drops between the handler's end and its ack), refuse
//! the moves of failed events to their retry and dead-letter queues, hold back publisher
//! confirms (as a broker storing a persistent message does) or nack a publish, and keeps a
//! journal of moves, settlements and confirms in the order they happened.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use contracts_core::SharedTransport;
use contracts_core::transport::{
    Acker, Acknowledge, BoxFuture, Consumer, Delivery, DeliveryStream, ExchangeSpec, Message,
    QueueSpec, Transport, TransportError,
};
use tokio::sync::mpsc;

/// What happened, in completion order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A failed event's move to `queue` was confirmed by the broker.
    Moved(String),
    /// A move to `queue` was refused by the fault.
    MoveRefused(String),
    /// A delivery was acked.
    Acked,
    /// A delivery was rejected, with requeue or not.
    Rejected { requeue: bool },
    /// An ack was dropped: the broker will redeliver.
    AckLost,
    /// A publish went out; its confirm is being held back.
    ConfirmHeld,
    /// The publisher stopped waiting for a held confirm.
    ConfirmAbandoned,
    /// A publish was nacked by the fault, before reaching the broker.
    Nacked,
}

/// The faulty transport; see the module docs.
pub(crate) struct Faulty {
    inner: SharedTransport,
    faults: Arc<Faults>,
}

/// The switches and the journal, shared with the consumers the transport hands out.
struct Faults {
    lose_next_ack: AtomicBool,
    refuse_moves: AtomicBool,
    hold_confirms: AtomicBool,
    nack_next_publish: AtomicBool,
    journal: mpsc::UnboundedSender<Entry>,
}

impl Faulty {
    /// `inner` with no fault yet, and the receiving end of its journal.
    pub(crate) fn new(inner: SharedTransport) -> (Arc<Self>, mpsc::UnboundedReceiver<Entry>) {
        let (journal, entries) = mpsc::unbounded_channel();
        let faults = Arc::new(Faults {
            lose_next_ack: AtomicBool::new(false),
            refuse_moves: AtomicBool::new(false),
            hold_confirms: AtomicBool::new(false),
            nack_next_publish: AtomicBool::new(false),
            journal,
        });
        (Arc::new(Self { inner, faults }), entries)
    }

    /// Lose the ack of the next delivery.
    pub(crate) fn lose_next_ack(&self) {
        self.faults.lose_next_ack.store(true, Ordering::SeqCst);
    }

    /// Refuse (or stop refusing) moves to retry and dead-letter queues.
    pub(crate) fn refuse_moves(&self, refuse: bool) {
        self.faults.refuse_moves.store(refuse, Ordering::SeqCst);
    }

    /// Hold back the confirm of every publish from now on: it goes out, but the publisher's
    /// future never resolves (the broker has not confirmed yet).
    pub(crate) fn hold_confirms(&self) {
        self.faults.hold_confirms.store(true, Ordering::SeqCst);
    }

    /// Nack the next publish before it reaches the broker (`basic.nack`).
    pub(crate) fn nack_next_publish(&self) {
        self.faults.nack_next_publish.store(true, Ordering::SeqCst);
    }

    fn note(&self, entry: Entry) {
        let _ = self.faults.journal.send(entry);
    }
}

/// An acker that reports how it was settled, or loses the ack.
struct Journaled {
    inner: Acker,
    lose: bool,
    journal: mpsc::UnboundedSender<Entry>,
}

impl Acknowledge for Journaled {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), TransportError>> {
        Box::pin(async move {
            if self.lose {
                // Dropping an unsettled acker is what a closed channel does: the broker
                // requeues the delivery.
                let _ = self.journal.send(Entry::AckLost);
                drop(self.inner);
                return Ok(());
            }
            self.inner.ack().await?;
            let _ = self.journal.send(Entry::Acked);
            Ok(())
        })
    }

    fn reject(self: Box<Self>, requeue: bool) -> BoxFuture<'static, Result<(), TransportError>> {
        Box::pin(async move {
            self.inner.reject(requeue).await?;
            let _ = self.journal.send(Entry::Rejected { requeue });
            Ok(())
        })
    }
}

struct Journaling {
    inner: Consumer,
    faults: Arc<Faults>,
}

impl DeliveryStream for Journaling {
    fn next(&mut self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            let mut delivery = self.inner.next().await?;
            delivery.acker = Acker::new(Journaled {
                inner: delivery.acker,
                lose: self.faults.lose_next_ack.swap(false, Ordering::SeqCst),
                journal: self.faults.journal.clone(),
            });
            Some(delivery)
        })
    }

    fn cancel(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(self.inner.cancel())
    }
}

impl Transport for Faulty {
    fn declare_exchange<'a>(
        &'a self,
        spec: &'a ExchangeSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        self.inner.declare_exchange(spec)
    }
    fn declare_queue<'a>(
        &'a self,
        spec: &'a QueueSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        self.inner.declare_queue(spec)
    }
    fn bind<'a>(
        &'a self,
        queue: &'a str,
        exchange: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        self.inner.bind(queue, exchange, key)
    }
    fn delete_queue<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
        self.inner.delete_queue(queue)
    }
    fn publish<'a>(
        &'a self,
        exchange: &'a str,
        key: &'a str,
        message: Message,
        mandatory: bool,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            // Failed events move through the default exchange, by queue name.
            let is_move = exchange.is_empty();
            if is_move && self.faults.refuse_moves.load(Ordering::SeqCst) {
                self.note(Entry::MoveRefused(key.to_owned()));
                return Err(TransportError::closed("injected: the move was refused"));
            }
            if self.faults.nack_next_publish.swap(false, Ordering::SeqCst) {
                self.note(Entry::Nacked);
                return Err(TransportError::Nacked {
                    exchange: exchange.to_owned(),
                    routing_key: key.to_owned(),
                });
            }
            self.inner
                .publish(exchange, key, message, mandatory)
                .await?;
            if self.faults.hold_confirms.load(Ordering::SeqCst) {
                self.note(Entry::ConfirmHeld);
                /// Notes when the publisher drops its wait for the held confirm.
                struct Abandoned<'a>(&'a Faulty);
                impl Drop for Abandoned<'_> {
                    fn drop(&mut self) {
                        self.0.note(Entry::ConfirmAbandoned);
                    }
                }
                let _abandoned = Abandoned(self);
                std::future::pending::<()>().await;
            }
            if is_move {
                self.note(Entry::Moved(key.to_owned()));
            }
            Ok(())
        })
    }
    fn get<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<(Delivery, u32)>, TransportError>> {
        self.inner.get(queue)
    }
    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }
    fn queue_type(&self) -> contracts_core::transport::QueueType {
        self.inner.queue_type()
    }
    fn blocked(&self) -> Option<String> {
        self.inner.blocked()
    }
    fn consume<'a>(
        &'a self,
        queue: &'a str,
        prefetch: u16,
    ) -> BoxFuture<'a, Result<Consumer, TransportError>> {
        Box::pin(async move {
            let inner = self.inner.consume(queue, prefetch).await?;
            Ok(Consumer::new(Journaling {
                inner,
                faults: self.faults.clone(),
            }))
        })
    }
}
