//! `contracts call`: one RPC call over RabbitMQ.

use std::path::Path;
use std::time::Duration;

use clap::Args;
use contracts_cli::remote;

use super::{Broker, Usage, Verdict, optional_catalog, print_json, remote_outcome, runtime};

/// Call an RPC method over RabbitMQ, like Nameko's `n.rpc.service.method(..)`, and print
/// the reply.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts call my_service.hello '[\"World\"]'                          # positional arguments
  contracts call user_service.create_user '{\"user_data\": {\"user_id\": 1, \"name\": \"Ada\"}}'
  contracts call slow_service.work '{}' --timeout 60
  AMQP_URI=amqp://user:pass@rabbit:5672/prod contracts call my_service.hello '[\"x\"]'

The request (and the reply) are checked against schemas/ when the service has schemas there;
services without (Python Nameko ones, say) are called as they are.
Exit codes: 0 a reply, 1 refused (schema violation, or an error reply, printed as Nameko's
RemoteError), 2 usage, broker or timeout error.")]
pub(super) struct Call {
    /// `service.method`.
    target: String,
    /// The arguments as JSON: an object binds by name (kwargs), an array by position.
    #[arg(default_value = "{}")]
    arguments: String,
    /// Seconds to wait for the reply.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    #[command(flatten)]
    broker: Broker,
}

impl Call {
    pub(super) fn run(self, schemas: &Path) -> Result<Verdict, Usage> {
        let catalog = optional_catalog(schemas)?;
        let timeout = Duration::try_from_secs_f64(self.timeout)
            .map_err(|_| Usage(format!("--timeout {}: not a duration", self.timeout)))?;
        let call = remote::call(
            catalog.as_ref(),
            &self.broker.amqp_uri,
            &self.target,
            &self.arguments,
            timeout,
        );
        Ok(match remote_outcome(runtime()?.block_on(call))? {
            Some(reply) => {
                print_json(&reply);
                Verdict::Clean
            }
            None => Verdict::Violations,
        })
    }
}
