//! `contracts check`: compare the schemas with a baseline and classify every change.

use std::path::Path;

use clap::Args;
use contracts_cli::baseline;
use contracts_cli::check::{Finding, check};

use super::{Format, Output, Usage, Verdict, load, print_json};

/// Compare the schemas with a baseline and classify every change; exit 1 on a breaking one.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts check --against origin/main            # a git revision of the same repository
  contracts check --against ../released/schemas    # a directory
  contracts check --against v1.2.0 --format json   # for machines

A request schema breaks when it narrows (the server reads it); a reply, error or event
schema breaks when it widens (clients and subscribers read it). Removed services, methods
and events break. Exit codes: 0 no breaking change, 1 breaking changes, 2 usage or I/O error.")]
pub(super) struct Check {
    /// The baseline: a schemas directory, or a git revision (`origin/main`, a tag).
    #[arg(long)]
    against: String,
    #[command(flatten)]
    output: Output,
}

impl Check {
    pub(super) fn run(self, schemas: &Path) -> Result<Verdict, Usage> {
        let current = load(schemas)?;
        let old = baseline::load(schemas, &self.against).map_err(|e| Usage::of(&e))?;
        let findings = check(&old, &current);
        let breaking = findings.iter().filter(|f| f.change.breaking).count();
        match self.output.format {
            Format::Json => print_json(&serde_json::json!({
                "against": self.against,
                "breaking": breaking,
                "changes": findings,
            })),
            Format::Table => print_table(&findings, &self.against, breaking),
        }
        Ok(Verdict::clean_if(breaking == 0))
    }
}

fn print_table(findings: &[Finding], against: &str, breaking: usize) {
    if findings.is_empty() {
        println!("no changes against {against}");
        return;
    }
    let rows: Vec<[String; 4]> = findings
        .iter()
        .map(|f| {
            let verdict = if f.change.breaking { "BREAKING" } else { "ok" };
            [
                verdict.to_owned(),
                format!("{} {}", f.item, f.message),
                f.change.at.clone(),
                f.change.what.clone(),
            ]
        })
        .collect();
    let header = ["verdict", "message", "at", "change"].map(str::to_owned);
    // The last column is free text: only the first three are padded.
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .chain([&header])
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in [&header].into_iter().chain(&rows) {
        println!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    println!(
        "\n{} change(s) against {against}, {breaking} breaking",
        findings.len()
    );
}
