//! A declared event, named through its contract: what a subscription is made from.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::handler::{EventHandler, HandlerFailure, Invoke};

use crate::contract::CompiledService;

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
        EventHandler::with_defaults(self.service, self.index, service, method, invoke)
    }
}
