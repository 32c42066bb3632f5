//! Events: typed publishing to `<service>.events` and typed handlers on Nameko's handler queues.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{OnceCell, watch};

use crate::catch_panic::catch_panic;
use crate::context::{self, CallContext, outgoing_headers};
use crate::contract::{CompiledEvent, CompiledService};
use crate::dedupe::{self, Claim, DedupeStore, DedupeWindow};
use crate::error::Report;
use crate::inbound;
use crate::limits::Limits;
use crate::observe::{self, Handle, HandleOutcome, Publish, PublishOutcome};
use crate::retry::{self, RetryPolicy};
use crate::topology::{self, HandlerType};
use crate::transport::{
    BoxFuture, Consumer, Delivery, Headers, Message, Properties, SharedTransport, TransportError,
};
use crate::validate::{Direction, Failure, ValidationError, ValidationMode, serde_failure};

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The payload breaks the event's contract.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The broker refused or the connection failed.
    #[error("transport failure")]
    Transport(#[from] TransportError),
    /// The contract declares no such event ([`EventPublisher::publish_value`]).
    #[error("`{service}` declares no event `{event}` (events: {declared:?})")]
    UnknownEvent {
        /// The publishing service.
        service: String,
        /// The event named.
        event: String,
        /// The events it declares.
        declared: Vec<String>,
    },
    /// Not confirmed by the broker within the publisher's deadline. The event may still
    /// arrive (it may have been stored without the confirm reaching us): handlers that must
    /// not run twice use a dedupe store.
    #[error("event `{event}` not confirmed within {after:?}{}{}", if *.unreachable { " (the broker was unreachable)" } else { "" }, .blocked.as_ref().map(|r| format!(" (the broker blocks publishing: {r})")).unwrap_or_default())]
    Timeout {
        /// The event type.
        event: String,
        /// The deadline.
        after: std::time::Duration,
        /// Whether the broker was unreachable when the deadline passed.
        unreachable: bool,
        /// Why the broker blocked publishing when the deadline passed (a memory or disk
        /// alarm), if it did.
        blocked: Option<String>,
    },
}

/// How long a publish waits for the broker's confirm unless the publisher says otherwise:
/// as long as a call waits for its reply.
pub const DEFAULT_PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Publishes a service's events. Generated publishers (`<Trait>Publisher`) wrap one and add a
/// typed method per declared event.
#[derive(Clone)]
pub struct EventPublisher {
    transport: SharedTransport,
    service: Source,
    validation: ValidationMode,
    timeout: std::time::Duration,
    declared: Arc<OnceCell<()>>,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("service", &self.service.name())
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

/// The contract a publisher publishes by: a generated one, compiled once per process, or
/// one a front end holds at run time (read from schema files, say).
#[derive(Clone)]
enum Source {
    Generated(&'static CompiledService),
    Held(Arc<CompiledService>),
}

impl std::ops::Deref for Source {
    type Target = CompiledService;

    fn deref(&self) -> &CompiledService {
        match self {
            Source::Generated(service) => service,
            Source::Held(service) => service,
        }
    }
}

impl EventPublisher {
    /// A publisher for `service`'s events.
    pub fn new(transport: SharedTransport, service: &'static CompiledService) -> Self {
        Self::of(transport, Source::Generated(service))
    }

    /// A publisher for the events of a contract held at run time, published with
    /// [`EventPublisher::publish_value`]: what `contracts dispatch` uses.
    pub fn for_contract(transport: SharedTransport, service: Arc<CompiledService>) -> Self {
        Self::of(transport, Source::Held(service))
    }

    fn of(transport: SharedTransport, service: Source) -> Self {
        Self {
            transport,
            service,
            validation: ValidationMode::default(),
            timeout: DEFAULT_PUBLISH_TIMEOUT,
            declared: Arc::default(),
        }
    }

    /// A publisher whose publishes wait at most `timeout` for the broker's confirm (default
    /// [`DEFAULT_PUBLISH_TIMEOUT`]). While the broker is away, a
    /// reconnecting transport keeps retrying until then.
    #[must_use]
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// A publisher that validates as `mode` says.
    #[must_use]
    pub fn with_validation(&self, mode: ValidationMode) -> Self {
        Self {
            validation: mode,
            ..self.clone()
        }
    }

    /// Publish event number `index` of the contract. Inside a handler the event carries the
    /// handler's context headers.
    #[doc(hidden)]
    pub async fn publish<P: Serialize>(
        &self,
        event: &str,
        payload: &P,
    ) -> Result<(), PublishError> {
        let index = self.service.event_index(event).unwrap_or_else(|| {
            panic!(
                "service `{}` declares no event `{event}`",
                self.service.name()
            )
        });
        self.publish_event(self.service.event(index), payload).await
    }

    /// Publish `payload` as `event`, checked against the event's schema as typed publishing
    /// checks it, with the same headers and call context; an event the contract does not
    /// declare is [`PublishError::UnknownEvent`].
    pub async fn publish_value(&self, event: &str, payload: &Value) -> Result<(), PublishError> {
        let Some(event) = self.service.event_by_name(event) else {
            return Err(PublishError::UnknownEvent {
                service: self.service.name().to_owned(),
                event: event.to_owned(),
                declared: (self.service.contract().events.iter())
                    .map(|e| e.name.clone())
                    .collect(),
            });
        };
        self.publish_event(event, payload).await
    }

    async fn publish_event<P: Serialize>(
        &self,
        event: &CompiledEvent,
        payload: &P,
    ) -> Result<(), PublishError> {
        let Some(observer) = observe::current() else {
            return self.send(event, payload).await;
        };
        let observation = observer.publish(&Publish {
            service: self.service.name(),
            event: &event.name,
        });
        observe::observed(
            observation,
            self.send(event, payload),
            |published| match published {
                Ok(()) => PublishOutcome::Published,
                Err(PublishError::Validation(_)) => PublishOutcome::Invalid,
                Err(_) => PublishOutcome::Failed,
            },
        )
        .await
    }

    /// Validate, encode and publish `payload` as `event`.
    async fn send<P: Serialize>(
        &self,
        event: &CompiledEvent,
        payload: &P,
    ) -> Result<(), PublishError> {
        let invalid = |failures| {
            ValidationError::new(self.service.name(), &event.name, Direction::Event, failures)
        };
        let value = serde_json::to_value(payload).map_err(|e| invalid(vec![serde_failure(&e)]))?;
        if self.validation.checks_outbound() {
            event.payload.check(&value).map_err(invalid)?;
        }
        let exchange = topology::events_exchange(self.service.name());
        let mut message = Message {
            properties: Properties {
                message_id: Some(context::new_uuid()),
                headers: outgoing_headers(self.service.name(), &event.name, &Headers::new()),
                ..topology::json_properties()
            },
            body: serde_json::to_vec(&value).expect("JSON values always encode"),
        };
        if let Some(observer) = observe::current() {
            observer.inject(&mut message.properties.headers);
        }
        let publish = async {
            self.declared
                .get_or_try_init(|| async { self.transport.declare_exchange(&exchange).await })
                .await?;
            self.transport
                .publish(&exchange.name, &event.name, message, false)
                .await
        };
        // The deadline covers declaring and publishing: a reconnecting transport retries
        // both until then.
        match tokio::time::timeout(self.timeout, publish).await {
            Ok(published) => Ok(published?),
            Err(_) => Err(PublishError::Timeout {
                event: event.name.clone(),
                after: self.timeout,
                unreachable: !self.transport.is_connected(),
                blocked: self.transport.blocked(),
            }),
        }
    }
}

/// A declared event with payload `P`, as generated on `<Trait>Contract`: the only way to name
/// an event when subscribing, so an undeclared event does not compile.
pub struct EventSpec<P> {
    service: &'static CompiledService,
    index: usize,
    _payload: PhantomData<fn() -> P>,
}

impl<P> Clone for EventSpec<P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for EventSpec<P> {}

impl<P> std::fmt::Debug for EventSpec<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventSpec({}.{})", self.service.name(), self.name())
    }
}

impl<P> EventSpec<P> {
    #[doc(hidden)]
    pub fn new(service: &'static CompiledService, event: &str) -> Self {
        let index = service
            .event_index(event)
            .unwrap_or_else(|| panic!("service `{}` declares no event `{event}`", service.name()));
        Self {
            service,
            index,
            _payload: PhantomData,
        }
    }

    /// The publishing service.
    pub fn source(&self) -> &'static str {
        self.service.name()
    }

    /// The event type.
    pub fn name(&self) -> &'static str {
        &self.service.event(self.index).name
    }
}

impl<P: DeserializeOwned + Send + 'static> EventSpec<P> {
    /// Handle this event in `service` with the method called `method` (they name the handler's
    /// queue, as in Nameko). The handler gets the decoded, validated payload.
    pub fn handler<F, Fut, E>(self, service: &str, method: &str, f: F) -> EventHandler
    where
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let f = Arc::new(f);
        let event = self.service.event(self.index);
        let invoke: Invoke = Arc::new(move |payload: Value| {
            let f = f.clone();
            Box::pin(async move {
                let payload = event
                    .payload
                    .decode::<P>(&payload)
                    .map_err(HandlerFailure::Undecodable)?;
                f(payload)
                    .await
                    .map_err(|e| HandlerFailure::Failed(e.to_string()))
            })
        });
        EventHandler {
            source: self.service,
            event: self.index,
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

/// What a runner applies to every handler it hosts: its own settings, and the policies of
/// handlers that set none.
pub(crate) struct HandlerDefaults {
    pub(crate) validation: ValidationMode,
    pub(crate) limits: Limits,
    pub(crate) parent_calls_tracked: usize,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) dedupe: Option<(Arc<dyn DedupeStore>, DedupeWindow)>,
}

type Invoke = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<(), HandlerFailure>> + Send + Sync>;

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
        self.queue_name = self.queue().name;
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
    /// kept in `store` (see [`crate::dedupe`]) for the default [`DedupeWindow`].
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
        self.queue().name
    }

    fn queue(&self) -> crate::transport::QueueSpec {
        topology::event_queue(
            self.names(),
            self.handler_type,
            &self.broadcast_identifier,
            self.reliable_delivery,
        )
    }

    pub(crate) async fn declare(
        &self,
        transport: &SharedTransport,
        prefetch: u16,
    ) -> Result<(String, Consumer), TransportError> {
        let exchange = topology::events_exchange(self.source.name());
        transport.declare_exchange(&exchange).await?;
        let queue = self.queue();
        transport.declare_queue(&queue).await?;
        transport
            .bind(&queue.name, &exchange.name, self.event_name())
            .await?;
        if self.reliable_delivery {
            retry::declare(transport.as_ref(), &queue.name, &self.retry_policy()).await?;
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
