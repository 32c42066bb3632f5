//! `contracts dispatch`: publish one event over RabbitMQ.

use std::path::Path;

use clap::Args;
use contracts_cli::remote;

use super::{Broker, Usage, Verdict, optional_catalog, remote_outcome, runtime};

/// Publish an event over RabbitMQ, like Nameko's `n.dispatch_event(service, event, data)`.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts dispatch user_service user_created '{\"user_id\": 7, \"name\": \"Grace\"}'
  AMQP_URI=amqp://user:pass@rabbit:5672/prod contracts dispatch billing invoice_paid '{\"id\": 3}'

The payload is checked against schemas/ when the service has schemas there.
Exit codes: 0 published (confirmed by the broker), 1 refused by the schema, 2 usage or
broker error.")]
pub(super) struct Dispatch {
    /// The publishing service.
    service: String,
    /// The event type.
    event: String,
    /// The payload as JSON.
    payload: String,
    #[command(flatten)]
    broker: Broker,
}

impl Dispatch {
    pub(super) fn run(self, schemas: &Path) -> Result<Verdict, Usage> {
        let catalog = optional_catalog(schemas)?;
        let dispatch = remote::dispatch(
            catalog.as_ref(),
            &self.broker.amqp_uri,
            &self.service,
            &self.event,
            &self.payload,
        );
        Ok(match remote_outcome(runtime()?.block_on(dispatch))? {
            Some(()) => {
                println!("dispatched {}.{}", self.service, self.event);
                Verdict::Clean
            }
            None => Verdict::Violations,
        })
    }
}
