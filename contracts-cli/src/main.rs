//! `contracts`: breaking-change checks, payload validation, calls and docs from the committed
//! `schemas/` files. Exit codes: 0 clean, 1 violations found, 2 usage or I/O error.
//!
//! One module per subcommand under `cli/`, each with its arguments and its `run`; the logic
//! they drive lives in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.run() {
        Ok(cli::Verdict::Clean) => ExitCode::SUCCESS,
        Ok(cli::Verdict::Violations) => ExitCode::from(1),
        Err(cli::Usage(message)) => {
            eprintln!("contracts: {message}");
            ExitCode::from(2)
        }
    }
}
