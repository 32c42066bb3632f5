//! The command line: the top-level parser, the arguments several commands share, and how a
//! command's outcome becomes an exit code.

mod call;
mod check;
mod codegen;
mod completions;
mod conform;
mod dead_letters;
mod dispatch;
mod docs;
mod infer;
mod man;
mod record;
mod validate;

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use contracts_cli::catalog::Catalog;
use contracts_cli::remote;

const EXIT_CODES: &str = "Exit codes: 0 clean, 1 violations found (breaking changes, invalid \
                          payloads), 2 usage or I/O error.";

#[derive(Parser)]
#[command(
    name = "contracts",
    version,
    about = "Check service contracts from their schema files: breaking changes, payloads.",
    after_help = EXIT_CODES
)]
pub(crate) struct Cli {
    /// The schemas directory (one folder per service, each with a service.json).
    #[arg(long, global = true, default_value = "schemas")]
    schemas: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(check::Check),
    Validate(validate::Validate),
    Docs(docs::Docs),
    Codegen(codegen::Codegen),
    Call(call::Call),
    DeadLetters(dead_letters::DeadLetters),
    Dispatch(dispatch::Dispatch),
    Record(record::Record),
    Infer(infer::Infer),
    Conform(conform::Conform),
    Completions(completions::Completions),
    Man(man::Man),
}

impl Cli {
    pub(crate) fn run(self) -> Result<Verdict, Usage> {
        let schemas = self.schemas.as_path();
        match self.command {
            Command::Check(command) => command.run(schemas),
            Command::Validate(command) => command.run(schemas),
            Command::Docs(command) => command.run(schemas),
            Command::Codegen(command) => command.run(schemas),
            Command::Call(command) => command.run(schemas),
            Command::DeadLetters(command) => command.run(),
            Command::Dispatch(command) => command.run(schemas),
            Command::Record(command) => command.run(schemas),
            Command::Infer(command) => command.run(),
            Command::Conform(command) => command.run(schemas),
            Command::Completions(command) => command.run(),
            Command::Man(command) => command.run(),
        }
    }
}

/// How a command ended when it could do its job.
pub(crate) enum Verdict {
    /// Nothing wrong: exit 0.
    Clean,
    /// It found what it looks for (a breaking change, an invalid payload, an error reply, a
    /// dead letter): exit 1.
    Violations,
}

impl Verdict {
    fn clean_if(clean: bool) -> Self {
        if clean { Self::Clean } else { Self::Violations }
    }
}

/// What went wrong outside the contracts themselves (bad arguments, I/O, the broker): exit 2.
pub(crate) struct Usage(pub(crate) String);

impl Usage {
    /// `error` with each of its sources, as one line: `cannot read schemas/x: No such file`.
    pub(crate) fn of(error: &dyn std::error::Error) -> Self {
        Self(contracts_cli::report(error))
    }
}

/// How results are printed.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A table for people.
    Table,
    /// JSON for machines.
    Json,
}

/// `--format`, for commands that print results.
#[derive(Args)]
struct Output {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// `--amqp-uri`, for commands that talk to a broker.
#[derive(Args)]
struct Broker {
    /// The broker.
    #[arg(
        long,
        env = "AMQP_URI",
        default_value = contracts_amqp::DEFAULT_AMQP_URI,
        hide_env_values = true
    )]
    amqp_uri: String,
}

fn load(schemas: &Path) -> Result<Catalog, Usage> {
    Catalog::load(schemas).map_err(|e| Usage::of(&e))
}

/// The schemas when the directory exists: `call` and `dispatch` also serve services that
/// have none (Python ones).
fn optional_catalog(schemas: &Path) -> Result<Option<Catalog>, Usage> {
    if schemas.is_dir() {
        load(schemas).map(Some)
    } else {
        Ok(None)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Usage> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Usage(format!("cannot start the async runtime: {e}")))
}

/// A remote operation's outcome: a refusal is printed and is a violation; an unusable broker
/// or input is a usage error.
fn remote_outcome<T>(outcome: Result<T, remote::Failure>) -> Result<Option<T>, Usage> {
    match outcome {
        Ok(value) => Ok(Some(value)),
        Err(remote::Failure::Refused(why)) => {
            eprintln!("{why}");
            Ok(None)
        }
        Err(unusable) => Err(Usage(unusable.to_string())),
    }
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values encode")
    );
}
