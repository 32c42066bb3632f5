//! `contracts infer`: write contracts from recorded samples.

use std::path::{Path, PathBuf};

use clap::Args;
use contracts_cli::infer::{CoreDependency, infer};

use super::{Format, Output, Usage, Verdict, print_json};

/// Write contracts from recorded samples: schema files, a Rust contract crate, a review.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts infer recording --out inferred
  contracts infer recording --out inferred --crate-name fleet-contracts --format json

Writes OUT/schemas/ (the layout of schemas/) and OUT/<crate-name>/, a Rust crate with a
#[service] trait per service whose own schemas `contracts check` finds equal to OUT/schemas/.
Prints the review: every choice made on thin evidence (fields seen in few samples, enums from
few values, methods never seen failing), for a human to confirm before the contracts are
enforced. Exit codes: 0 written, 2 usage or I/O error.")]
pub(super) struct Infer {
    /// The recording (`contracts record --out`): one folder per service.
    samples: PathBuf,
    /// Where the schemas and the crate go.
    #[arg(long)]
    out: PathBuf,
    /// The generated crate's name.
    #[arg(long, default_value = "inferred-contracts")]
    crate_name: String,
    /// A checkout of contracts-core for the crate to depend on, instead of the released one.
    #[arg(long, value_name = "DIR")]
    contracts_core: Option<PathBuf>,
    #[command(flatten)]
    output: Output,
}

impl Infer {
    pub(super) fn run(self) -> Result<Verdict, Usage> {
        let inference = infer(&self.samples).map_err(|e| Usage::of(&e))?;
        let core = match &self.contracts_core {
            Some(path) => CoreDependency::Path(
                std::path::absolute(path).map_err(|e| Usage(format!("{}: {e}", path.display())))?,
            ),
            None => CoreDependency::Registry,
        };
        inference
            .write(&self.out, &self.crate_name, &core)
            .map_err(|e| Usage::of(&e))?;
        let services: Vec<&str> = inference
            .contracts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        match self.output.format {
            Format::Json => print_json(&serde_json::json!({
                "samples": inference.samples,
                "unreadable": inference.unreadable,
                "services": services,
                "schemas": self.out.join("schemas"),
                "crate": self.out.join(&self.crate_name),
                "review": inference.review,
            })),
            Format::Table => {
                println!(
                    "inferred {} from {} sample(s) into {} and {}",
                    services.join(", "),
                    inference.samples,
                    Path::new(&self.out).join("schemas").display(),
                    self.out.join(&self.crate_name).display(),
                );
                if inference.unreadable > 0 {
                    println!("  {} line(s) were no sample, skipped", inference.unreadable);
                }
                println!(
                    "review ({} choice(s) on thin evidence):",
                    inference.review.len()
                );
                for note in &inference.review {
                    println!(
                        "  {} {} {}: {}",
                        note.item, note.message, note.at, note.what
                    );
                }
            }
        }
        Ok(Verdict::Clean)
    }
}
