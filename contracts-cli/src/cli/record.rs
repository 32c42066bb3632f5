//! `contracts record`: copy a running fleet's Nameko traffic into sample files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use contracts_cli::record::{Options, Recorder, Summary};

use super::{Broker, Format, Output, Usage, Verdict, optional_catalog, print_json, runtime};

/// Record the requests, replies and events of running services, without disturbing them.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts record --out recording --service user_service --service mailer --duration 600
  contracts record --out recording --count 10000        # the services of --schemas

The recorder binds a queue of its own beside the services' queues, so the broker routes it a
copy of each message: nothing is taken from a service's queue or acknowledged for it.
Samples go to OUT/<service>/<method>.rpc.jsonl and OUT/<service>/<event>.event.jsonl, at most
--cap per message. It stops after --duration, after --count messages, or on Ctrl-C.
Exit codes: 0 recorded, 2 usage or broker error.")]
pub(super) struct Record {
    /// Where the samples go (one folder per service).
    #[arg(long)]
    out: PathBuf,
    /// A service to record (repeat it); the services of --schemas when none is named.
    #[arg(long = "service", value_name = "NAME")]
    services: Vec<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Stop after this many messages (requests, replies and events).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Samples written per method or event, at most.
    #[arg(long, default_value_t = 1000)]
    cap: usize,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    broker: Broker,
}

impl Record {
    pub(super) fn run(self, schemas: &Path) -> Result<Verdict, Usage> {
        let mut services = self.services.clone();
        if services.is_empty()
            && let Some(catalog) = optional_catalog(schemas)?
        {
            services = catalog.services.keys().cloned().collect();
        }
        if services.is_empty() {
            return Err(Usage(format!(
                "no services to record: name them with --service, or point --schemas at their \
                 schema files ({} has none)",
                schemas.display()
            )));
        }
        let duration = self.duration.map(seconds).transpose()?;
        let options = Options {
            services,
            cap: self.cap,
            count: self.count,
        };
        let summary = record(&self.broker, &options, &self.out, duration)?;
        self.print(&summary);
        Ok(Verdict::Clean)
    }

    fn print(&self, summary: &Summary) {
        match self.output.format {
            Format::Json => print_json(summary),
            Format::Table => {
                println!(
                    "recorded {} message(s) into {}; requests of: {}",
                    summary.taken,
                    self.out.display(),
                    if summary.rpc_services.is_empty() {
                        "no service (none has an RPC queue)".to_owned()
                    } else {
                        summary.rpc_services.join(", ")
                    }
                );
                for (message, tally) in &summary.messages {
                    println!(
                        "  {message}: {} seen, {} written",
                        tally.seen, tally.written
                    );
                }
                for (message, n) in &summary.not_json {
                    println!("  {message}: {n} body(ies) not JSON, not written");
                }
                if summary.unmatched_replies > 0 {
                    println!(
                        "  {} reply(ies) to requests sent before the recording began",
                        summary.unmatched_replies
                    );
                }
            }
        }
    }
}

/// `--duration` as a [`Duration`].
pub(super) fn seconds(secs: f64) -> Result<Duration, Usage> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| Usage(format!("--duration {secs} is not a number of seconds")))
}

/// Record `options` from the broker into `out` until `duration` has passed (or Ctrl-C).
pub(super) fn record(
    broker: &Broker,
    options: &Options,
    out: &Path,
    duration: Option<Duration>,
) -> Result<Summary, Usage> {
    runtime()?.block_on(async {
        let uri: contracts_amqp::BrokerUri =
            broker.amqp_uri.parse().map_err(|e| Usage(format!("{e}")))?;
        let broker = Arc::new(
            contracts_amqp::AmqpTransport::connect(&uri)
                .await
                .map_err(|e| Usage::of(&e))?,
        );
        let stop = async {
            match duration {
                Some(duration) => {
                    tokio::select! {
                        () = tokio::time::sleep(duration) => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        let transport: contracts_core::transport::SharedTransport = broker.clone();
        let recorded = match Recorder::start(&transport, options).await {
            Ok(recorder) => {
                // On stderr, so that `--format json` keeps stdout to the summary.
                eprintln!(
                    "recording {} into {}; Ctrl-C stops",
                    options.services.join(", "),
                    out.display()
                );
                recorder.run(out, stop).await
            }
            Err(e) => Err(e),
        };
        broker.close().await;
        recorded.map_err(|e| Usage::of(&e))
    })
}
