//! `contracts validate`: payloads against a message's schema.

use std::io::Read;
use std::path::Path;

use clap::Args;
use contracts_cli::validate::validate;
use contracts_core::validate::Failure;

use super::{Format, Output, Usage, Verdict, load, print_json};

/// Validate JSON payloads against a message's schema, printing each error's JSON pointer.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts validate user_service.create_user payload.json        # a request (the default)
  contracts validate user_service.create_user.reply reply.json
  contracts validate user_service.user_created events/*.json      # an event payload
  echo '{\"user_data\": {\"user_id\": 0}}' | contracts validate user_service.create_user -

A request payload is the object of keyword arguments (Nameko's `kwargs`).
Exit codes: 0 every payload valid, 1 some payload invalid, 2 usage or I/O error.")]
pub(super) struct Validate {
    /// `service.method` (its request), `service.method.reply`, `service.method.error`
    /// or `service.event`.
    message: String,
    /// JSON files to check; `-` (the default) reads one payload from standard input.
    #[arg(default_value = "-")]
    files: Vec<String>,
    #[command(flatten)]
    output: Output,
}

impl Validate {
    pub(super) fn run(self, schemas: &Path) -> Result<Verdict, Usage> {
        let catalog = load(schemas)?;
        let (label, schema) = catalog.message(&self.message).map_err(|e| Usage::of(&e))?;
        let mut all_valid = true;
        let mut report = Vec::new();
        for file in &self.files {
            let failures = match serde_json::from_str(&read(file)?) {
                Ok(payload) => validate(schema, &payload)
                    .map_err(|e| Usage(format!("the schema itself is invalid: {}", e.0)))?,
                Err(e) => vec![Failure {
                    pointer: String::new(),
                    reason: format!("not JSON: {e}"),
                }],
            };
            all_valid &= failures.is_empty();
            match self.output.format {
                Format::Table => print_verdict(file, &label, &failures),
                Format::Json => report.push(serde_json::json!({
                    "file": file,
                    "message": label,
                    "valid": failures.is_empty(),
                    "errors": failures,
                })),
            }
        }
        if let Format::Json = self.output.format {
            print_json(&report);
        }
        Ok(Verdict::clean_if(all_valid))
    }
}

fn read(file: &str) -> Result<String, Usage> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Usage(format!("cannot read standard input: {e}")))?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).map_err(|e| Usage(format!("cannot read {file}: {e}")))
    }
}

fn print_verdict(file: &str, label: &str, failures: &[Failure]) {
    if failures.is_empty() {
        println!("{file}: valid {label}");
        return;
    }
    println!("{file}: invalid {label}");
    for failure in failures {
        let at = if failure.pointer.is_empty() {
            "/"
        } else {
            &failure.pointer
        };
        println!("  {at}: {}", failure.reason);
    }
}
