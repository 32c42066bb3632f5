//! Publishing events: checked against the contract, sent with the call context's headers,
//! confirmed by the broker.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::contract::{CompiledEvent, CompiledService};
use crate::observe::{self, Publish, PublishOutcome};
use crate::transport::{Headers, Message, Properties, SharedTransport, TransportError};
use crate::validate::{Direction, ValidationError, ValidationMode, serde_failure};
use crate::wire::context::{self, outgoing_headers};
use crate::wire::topology::{self};

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
            let checked = event.payload.check(&value);
            observe::enforce(
                self.validation,
                self.service.name(),
                &event.name,
                Direction::Event,
                checked,
            )
            .map_err(invalid)?;
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
