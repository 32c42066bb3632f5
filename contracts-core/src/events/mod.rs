//! Events: typed publishing to `<service>.events` and typed handlers on Nameko's handler queues.

pub mod dedupe;
mod handler;
mod publisher;
pub mod retry;
mod spec;

pub use handler::{EventHandler, HandlerFailure};
pub(crate) use handler::{HandlerDefaults, Settled};
pub use publisher::{DEFAULT_PUBLISH_TIMEOUT, EventPublisher, PublishError};
pub use spec::EventSpec;
