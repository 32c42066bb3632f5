//! `contracts dead-letters`: list an event handler's dead letters, or replay them.

use clap::Args;
use contracts_core::events::retry::{self, DeadLetter};

use super::{Broker, Format, Output, Usage, Verdict, print_json, runtime};

/// List an event handler's dead letters, or send them back to it.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts dead-letters evt-user_service-user_created--notification_service.on_user_created
  contracts dead-letters evt-user_service-user_created--notification_service.on_user_created --replay
  contracts dead-letters <handler queue> --format json

The argument is the handler's queue (schemas/<service>/service.json lists it under
`subscriptions`); its dead letters are in `<queue>.dead`. Listing leaves them there;
`--replay` sends each back to that handler only, with its attempts reset.
Exit codes: 0 no dead letters (or all replayed), 1 dead letters listed, 2 usage or broker error.")]
pub(super) struct DeadLetters {
    /// The handler's queue.
    queue: String,
    /// Send them back to the handler instead of listing them.
    #[arg(long)]
    replay: bool,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    broker: Broker,
}

impl DeadLetters {
    pub(super) fn run(self) -> Result<Verdict, Usage> {
        runtime()?.block_on(self.run_async())
    }

    async fn run_async(self) -> Result<Verdict, Usage> {
        let uri: contracts_amqp::BrokerUri = self
            .broker
            .amqp_uri
            .parse()
            .map_err(|e| Usage(format!("{e}")))?;
        let broker = contracts_amqp::AmqpTransport::connect(&uri)
            .await
            .map_err(|e| Usage(e.to_string()))?;
        let queue = self.queue.as_str();
        let outcome = if self.replay {
            retry::replay_dead_letters(&broker, queue).await.map(|n| {
                println!("replayed {n} dead letter(s) to {queue}");
                Verdict::Clean
            })
        } else {
            retry::dead_letters(&broker, queue).await.map(|letters| {
                self.print(&letters);
                Verdict::clean_if(letters.is_empty())
            })
        };
        broker.close().await;
        outcome.map_err(|e| Usage(format!("{queue}: {e}")))
    }

    fn print(&self, letters: &[DeadLetter]) {
        let queue = &self.queue;
        match self.output.format {
            Format::Json => {
                let rows: Vec<serde_json::Value> = letters
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "event": l.event,
                            "exchange": l.exchange,
                            "attempts": l.attempts,
                            "error": l.error,
                            "payload": l.payload(),
                        })
                    })
                    .collect();
                print_json(&rows);
            }
            Format::Table if letters.is_empty() => println!("no dead letters in {queue}.dead"),
            Format::Table => {
                for l in letters {
                    println!(
                        "{} from {} after {} attempt(s): {}\n  payload: {}",
                        l.event,
                        l.exchange,
                        l.attempts,
                        l.error,
                        l.payload()
                    );
                }
                println!("{} dead letter(s) in {queue}.dead", letters.len());
            }
        }
    }
}
