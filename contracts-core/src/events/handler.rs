//! A typed event handler: its queue, and one delivery's way through checks, dedupe, the
//! handler and its retries.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;

use super::dedupe::{Claim, DedupeStore, DedupeWindow};
use super::retry::RetryPolicy;
use super::{dedupe, retry};
use crate::catch_panic::catch_panic;
use crate::contract::CompiledService;
use crate::error::Report;
use crate::observe::{self, Handle, HandleOutcome};
use crate::transport::{BoxFuture, Consumer, Delivery, SharedTransport, TransportError};
use crate::validate::{Failure, ValidationMode};
use crate::wire::context::{self, CallContext};
use crate::wire::inbound;
use crate::wire::limits::Limits;
use crate::wire::topology::{self, HandlerType};

/// What a runner applies to every handler it hosts: its own settings, and the policies of
/// handlers that set none.
pub(crate) struct HandlerDefaults {
    pub(crate) validation: ValidationMode,
    pub(crate) limits: Limits,
    pub(crate) parent_calls_tracked: usize,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) dedupe: Option<(Arc<dyn DedupeStore>, DedupeWindow)>,
}

pub(super) type Invoke =
    Arc<dyn Fn(Value) -> BoxFuture<'static, Result<(), HandlerFailure>> + Send + Sync>;

/// Why an event was not handled, which decides where it goes next: a failure that another
/// attempt could cure is retried, the others go straight to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerFailure {
    /// The payload passed its schema but does not decode into the handler's type (a type
    /// stricter than its schema, such as a 30-digit number for a `u64`). Every attempt would
    /// fail the same way: dead-lettered at once.
    #[error("the payload does not decode into the handler's type at {}: {}", at(&.0.pointer), .0.reason)]
    Undecodable(Failure),
    /// The handler returned an error: retried.
    #[error("{0}")]
    Failed(String),
    /// The handler panicked: retried.
    #[error("panicked: {0}")]
    Panicked(String),
}

fn at(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

impl HandlerFailure {
    /// Whether another attempt could succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Undecodable(_))
    }
}

/// A typed event handler, ready for [`ServiceRunner::subscribe`](crate::ServiceRunner::subscribe).
pub struct EventHandler {
    source: &'static CompiledService,
    event: usize,
    service: String,
    method: String,
    handler_type: HandlerType,
    /// Ends this instance's queue name when the handler type is broadcast.
    broadcast_identifier: String,
    validation: ValidationMode,
    limits: Limits,
    parent_calls_tracked: usize,
    reliable_delivery: bool,
    /// `None` until set here or by the runner's default; then [`RetryPolicy::default`].
    retry: Option<RetryPolicy>,
    dedupe: Option<(Arc<dyn DedupeStore>, DedupeWindow)>,
    queue_name: String,
    invoke: Invoke,
    /// Deliveries settled so far, with the last one's outcome: what waiters watch.
    settled: watch::Sender<Settled>,
}

/// How many deliveries a handler has settled, and how the last one ended.
pub(crate) type Settled = (u64, Option<HandleOutcome>);

impl std::fmt::Debug for EventHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHandler")
            .field("source", &self.source.name())
            .field("event", &self.source.event(self.event).name)
            .field("service", &self.service)
            .field("method", &self.method)
            .field("handler_type", &self.handler_type)
            .finish_non_exhaustive()
    }
}

impl EventHandler {
    /// Share the queue as `handler_type` says (default: service pool).
    #[must_use]
    pub fn handler_type(mut self, handler_type: HandlerType) -> Self {
        self.handler_type = handler_type;
        self
    }

    /// The handling service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The handling method.
    pub fn method(&self) -> &str {
        &self.method
    }

    pub(crate) fn configured(mut self, defaults: &HandlerDefaults) -> Self {
        self.validation = defaults.validation;
        self.limits = defaults.limits;
        self.parent_calls_tracked = defaults.parent_calls_tracked;
        if self.retry.is_none() {
            self.retry = defaults.retry.clone();
        }
        if self.dedupe.is_none() {
            self.dedupe = defaults.dedupe.clone();
        }
        self.queue_name = self.queue_name();
        self
    }

    fn retry_policy(&self) -> RetryPolicy {
        self.retry.clone().unwrap_or_default()
    }

    /// Nameko's `reliable_delivery` (default `true`): with `false`, the handler's queue is
    /// deleted when the handler stops, so events published while no instance runs are lost,
    /// and a broadcast queue is exclusive to its connection. Retry and dead-letter queues are
    /// declared only for reliable handlers.
    #[must_use]
    pub fn reliable_delivery(mut self, reliable: bool) -> Self {
        self.reliable_delivery = reliable;
        self
    }

    /// Handle each event once, however often it is delivered: keys of handled events are
    /// kept in `store` (see [`crate::events::dedupe`]) for the default [`DedupeWindow`].
    #[must_use]
    pub fn dedupe(self, store: impl DedupeStore) -> Self {
        self.dedupe_for(store, DedupeWindow::default())
    }

    /// [`EventHandler::dedupe`] with other claim and memory durations.
    #[must_use]
    pub fn dedupe_for(mut self, store: impl DedupeStore, window: DedupeWindow) -> Self {
        self.dedupe = Some((Arc::new(store), window));
        self
    }

    /// Retry failed events as `policy` says (default: [`RetryPolicy::default`]), then
    /// dead-letter them.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    fn event_name(&self) -> &'static str {
        &self.source.event(self.event).name
    }

    /// What this handler consumes, for the handling service's contract
    /// ([`ServiceContract::with_subscription`](crate::ServiceContract::with_subscription)).
    pub fn subscription(&self) -> crate::contract::Subscription {
        crate::contract::Subscription::new(
            self.names(),
            self.handler_type,
            self.reliable_delivery,
            self.source.contract().events[self.event].payload.clone(),
        )
    }

    fn names(&self) -> topology::HandlerNames<'_> {
        topology::HandlerNames {
            source: self.source.name(),
            event: self.event_name(),
            service: &self.service,
            method: &self.method,
        }
    }

    /// The queue this handler consumes.
    pub fn queue_name(&self) -> String {
        topology::event_queue_name(self.names(), self.handler_type, &self.broadcast_identifier)
    }

    fn queue(&self, queue_type: topology::QueueType) -> crate::transport::QueueSpec {
        topology::event_queue(
            self.names(),
            self.handler_type,
            &self.broadcast_identifier,
            self.reliable_delivery,
            queue_type,
        )
    }

    pub(crate) async fn declare(
        &self,
        transport: &SharedTransport,
        prefetch: u16,
    ) -> Result<(String, Consumer), TransportError> {
        let exchange = topology::events_exchange(self.source.name());
        transport.declare_exchange(&exchange).await?;
        let queue = self.queue(transport.queue_type());
        transport.declare_queue(&queue).await?;
        transport
            .bind(&queue.name, &exchange.name, self.event_name())
            .await?;
        if self.reliable_delivery {
            retry::declare(transport.as_ref(), &queue, &self.retry_policy()).await?;
        }
        let consumer = transport.consume(&queue.name, prefetch).await?;
        Ok((queue.name, consumer))
    }

    /// Where the count of settled deliveries is published.
    pub(crate) fn settled(&self) -> watch::Sender<Settled> {
        self.settled.clone()
    }

    pub(crate) async fn handle(&self, transport: &SharedTransport, delivery: Delivery) {
        let outcome = self.observed(transport, delivery).await;
        // Only a waiter reads the count, and it counts from when it was made: with none,
        // a delivery costs nothing more.
        if self.settled.receiver_count() > 0 {
            self.settled.send_modify(|(count, last)| {
                *count += 1;
                *last = Some(outcome);
            });
        }
    }

    async fn observed(&self, transport: &SharedTransport, delivery: Delivery) -> HandleOutcome {
        let Some(observer) = observe::current() else {
            return self.settle(transport, delivery).await;
        };
        let observation = observer.handle(&Handle {
            source: self.source.name(),
            event: self.event_name(),
            service: &self.service,
            method: &self.method,
            headers: &delivery.message.properties.headers,
            redelivered: delivery.redelivered,
        });
        observe::observed(observation, self.settle(transport, delivery), |outcome| {
            *outcome
        })
        .await
    }

    /// Run the handler on `delivery` and settle it: ack, retry or dead-letter — in the
    /// worker's context, for the handler and every line logged about the delivery.
    async fn settle(&self, transport: &SharedTransport, delivery: Delivery) -> HandleOutcome {
        let ctx = CallContext::for_worker_tracking(
            &delivery.message.properties.headers,
            &self.service,
            &self.method,
            self.parent_calls_tracked,
        );
        context::scope(ctx, self.run(transport, delivery)).await
    }

    async fn run(&self, transport: &SharedTransport, delivery: Delivery) -> HandleOutcome {
        let message = delivery.message.clone();
        let source = self.source.name();
        let event = self.event_name();
        let admitted = inbound::event(
            self.source,
            self.event,
            &message.body,
            &self.limits,
            self.validation,
        );
        let payload = match admitted {
            Ok(payload) => payload,
            // Retrying cannot make a body valid: straight to the dead-letter queue.
            Err(e) => return self.fail(transport, delivery, &e, false).await,
        };
        let key = match &self.dedupe {
            None => None,
            Some((store, window)) => {
                let key = dedupe::key_of(&self.queue_name, &message);
                match store.claim(&key, window.claim).await {
                    Ok(Claim::Fresh) => Some(key),
                    Ok(Claim::Duplicate) => {
                        tracing::info!(source, event, handler = %self.method, %key, "duplicate event acked unhandled");
                        if let Err(e) = delivery.acker.ack().await {
                            tracing::warn!(error = %Report(&e), "could not ack an event");
                        }
                        return HandleOutcome::Deduplicated;
                    }
                    Err(e) => return self.fail(transport, delivery, &e.to_string(), true).await,
                }
            }
        };
        let outcome = match catch_panic((self.invoke)(payload)).await {
            Ok(outcome) => outcome,
            Err(panic) => Err(HandlerFailure::Panicked(panic)),
        };
        if let (Some(key), Some((store, window))) = (&key, &self.dedupe) {
            let recorded = match &outcome {
                Ok(()) => store.complete(key, window.remember).await,
                Err(_) => store.release(key).await,
            };
            if let Err(e) = recorded {
                tracing::warn!(%key, error = %Report(&e), "dedupe store not updated");
            }
        }
        match outcome {
            Ok(()) => {
                if let Err(e) = delivery.acker.ack().await {
                    tracing::warn!(error = %Report(&e), "could not ack an event");
                }
                HandleOutcome::Handled
            }
            Err(e) => {
                self.fail(transport, delivery, &e.to_string(), e.is_retryable())
                    .await
            }
        }
    }

    /// Move a delivery that could not be handled to its retry or dead-letter queue.
    async fn fail(
        &self,
        transport: &SharedTransport,
        delivery: Delivery,
        error: &str,
        retryable: bool,
    ) -> HandleOutcome {
        let (source, event) = (self.source.name(), self.event_name());
        let handler = format!("{}.{}", self.service, self.method);
        if !self.reliable_delivery {
            // Nobody asked for the event to survive: log and drop it, as Nameko does.
            tracing::error!(source, event, %handler, error, "event handling failed; dropped (reliable_delivery off)");
            if let Err(e) = delivery.acker.ack().await {
                tracing::warn!(error = %Report(&e), "could not ack an event");
            }
            return HandleOutcome::Dropped;
        }
        match retry::fail(
            transport,
            &self.queue_name,
            &self.retry_policy(),
            delivery,
            error,
            retryable,
        )
        .await
        {
            Ok(retry::Moved::Retry(after)) => {
                tracing::warn!(source, event, %handler, error, ?after, "event handling failed; retrying");
                HandleOutcome::Retried
            }
            Ok(retry::Moved::Dead) => {
                tracing::error!(source, event, %handler, error, "event handling failed; dead-lettered");
                HandleOutcome::DeadLettered
            }
            Err(e) => {
                tracing::error!(source, event, %handler, error, move_error = %Report(&e), "event handling failed and the event could not be moved; requeued");
                HandleOutcome::Requeued
            }
        }
    }
}

impl EventHandler {
    /// A handler of `source`'s event number `event` with the runner's defaults; `invoke`
    /// decodes the payload and runs the user's function.
    pub(super) fn with_defaults(
        source: &'static CompiledService,
        event: usize,
        service: &str,
        method: &str,
        invoke: Invoke,
    ) -> Self {
        EventHandler {
            source,
            event,
            service: service.to_owned(),
            method: method.to_owned(),
            handler_type: HandlerType::default(),
            broadcast_identifier: topology::broadcast_identifier(),
            validation: ValidationMode::default(),
            limits: Limits::default(),
            parent_calls_tracked: context::PARENT_CALLS_TRACKED,
            reliable_delivery: true,
            retry: None,
            dedupe: None,
            queue_name: String::new(),
            invoke,
            settled: watch::Sender::new((0, None)),
        }
    }
}
