//! Serving contracts: the dispatch seam generated servers implement ([`Dispatch`]), the runner
//! that hosts several services and event handlers in one process (`runner`), and a service's
//! answer to one request (`responder`). What generated code calls is in `generated`, reached
//! through `__private` only.

pub mod timer;

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::contract::CompiledService;
use crate::events::EventHandler;
use crate::transport::BoxFuture;
use crate::wire::ErrorDict;
use crate::wire::inbound::Arguments;

pub(crate) mod generated;
mod responder;
mod runner;

pub(crate) use responder::Responder;
pub use runner::{DEFAULT_MAX_WORKERS, RunningServices, ServiceRunner, Waiter};

/// What a handler produced: the `result` of the reply as JSON text, or its `error` dict.
pub type Outcome = Result<Box<RawValue>, ErrorDict>;

/// A service the runner can host. `#[service]` generates the implementation
/// (`<Trait>Server<S>`); the runner does routing, binding, validation and replies, so the
/// generated code only decodes the request, calls the method and encodes what it returned.
pub trait Dispatch: Send + Sync + 'static {
    /// The service's compiled contract.
    fn compiled(&self) -> &'static CompiledService;

    /// Run `method` on a request whose arguments are bound by name and already validated.
    fn dispatch<'a>(&'a self, method: &'a str, request: Arguments<'a>) -> BoxFuture<'a, Outcome>;

    /// The service's event handlers (its `#[handles]` methods), subscribed by the runner
    /// with the service.
    fn handlers(self: Arc<Self>) -> Vec<EventHandler> {
        Vec::new()
    }
}
