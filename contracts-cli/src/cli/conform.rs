//! `contracts conform`: a recording (or live traffic) against the committed contracts.

use std::path::{Path, PathBuf};

use clap::Args;
use contracts_cli::conform::{Conformance, conform};
use contracts_cli::record::Options;

use super::record::{record, seconds};
use super::{Broker, Format, Output, Usage, Verdict, load, print_json};

/// Tell how much of a fleet's traffic the committed contracts would refuse.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts conform recording                       # last week's `contracts record --out recording`
  contracts conform --duration 300 --format json    # five minutes of live traffic
  contracts conform --count 10000                   # the next 10000 messages

Each request is bound to the method's parameters and validated, each reply and event
validated, each error reply's exc_type looked up among the method's declared errors, as an
enforcing service would. Prints, per message and per JSON pointer, how many samples fail.
Services with no contract are listed as not covered. Live traffic is recorded as
`contracts record` does (nothing taken from the services' queues) into a temporary folder.
Exit codes: 0 every sample conforms, 1 some would be refused, 2 usage or I/O error.")]
pub(super) struct Conform {
    /// A recording (`contracts record --out`); without one, live traffic (--duration, --count).
    #[arg(required_unless_present_any = ["duration", "count"])]
    recording: Option<PathBuf>,
    /// Record live traffic of the contracts' services for this many seconds, then check it.
    #[arg(long, value_name = "SECS", conflicts_with = "recording")]
    duration: Option<f64>,
    /// Record live traffic until this many messages (requests, replies, events) were taken.
    #[arg(long, value_name = "N", conflicts_with = "recording")]
    count: Option<u64>,
    /// Samples kept per method or event when recording live.
    #[arg(long, default_value_t = 1000)]
    cap: usize,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    broker: Broker,
}

impl Conform {
    pub(super) fn run(self, schemas: &Path) -> Result<Verdict, Usage> {
        let catalog = load(schemas)?;
        let conformance = match (&self.recording, self.duration) {
            (Some(recording), _) => conform(&catalog, recording).map_err(|e| Usage::of(&e))?,
            (None, duration) => {
                let dir = std::env::temp_dir().join(format!(
                    "contracts-conform-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                ));
                let options = Options {
                    services: catalog.services.keys().cloned().collect(),
                    cap: self.cap,
                    count: self.count,
                };
                let duration = duration.map(seconds).transpose()?;
                let checked = record(&self.broker, &options, &dir, duration).and_then(|_| {
                    if dir.is_dir() {
                        conform(&catalog, &dir).map_err(|e| Usage::of(&e))
                    } else {
                        Err(Usage(format!(
                            "no traffic of {} was seen",
                            options.services.join(", ")
                        )))
                    }
                });
                let _ = std::fs::remove_dir_all(&dir);
                checked?
            }
        };
        match self.output.format {
            Format::Json => print_json(&conformance),
            Format::Table => print_table(&conformance),
        }
        Ok(Verdict::clean_if(conformance.failed() == 0))
    }
}

fn print_table(conformance: &Conformance) {
    println!(
        "{} sample(s) checked, {} would be refused",
        conformance.read.samples,
        conformance.failed()
    );
    if conformance.read.unreadable > 0 {
        println!(
            "  {} line(s) were no sample, skipped",
            conformance.read.unreadable
        );
    }
    for message in &conformance.messages {
        let part = message.part.as_str();
        let verdict = if message.failed == 0 {
            "ok".to_owned()
        } else {
            format!(
                "{:.1}% fail",
                message.failed as f64 * 100.0 / message.checked as f64
            )
        };
        println!(
            "{}.{} {part}: {} checked, {} failed ({verdict})",
            message.service, message.item, message.checked, message.failed
        );
        for pointer in &message.pointers {
            let at = if pointer.pointer.is_empty() {
                "/"
            } else {
                &pointer.pointer
            };
            println!(
                "  {at}: {} sample(s), e.g. {}",
                pointer.count, pointer.reason
            );
        }
    }
    for (service, samples) in &conformance.not_covered {
        println!("{service}: no contract, {samples} sample(s) not checked");
    }
}
