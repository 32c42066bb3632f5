//! `contracts`: breaking-change checks and payload validation from the committed `schemas/`
//! files. Exit codes: 0 clean, 1 violations found, 2 usage or I/O error.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use contracts_cli::catalog::Catalog;
use contracts_cli::check::{Finding, check};
use contracts_cli::{baseline, remote, validate};
use std::time::Duration;

const EXIT_CODES: &str = "Exit codes: 0 clean, 1 violations found (breaking changes, invalid \
                          payloads), 2 usage or I/O error.";

#[derive(Parser)]
#[command(
    name = "contracts",
    version,
    about = "Check service contracts from their schema files: breaking changes, payloads.",
    after_help = EXIT_CODES
)]
struct Cli {
    /// The schemas directory (one folder per service, each with a service.json).
    #[arg(long, global = true, default_value = "schemas")]
    schemas: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A table for people.
    Table,
    /// JSON for machines.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Compare the schemas with a baseline and classify every change; exit 1 on a breaking one.
    #[command(after_help = "Examples:
  contracts check --against origin/main            # a git revision of the same repository
  contracts check --against ../released/schemas    # a directory
  contracts check --against v1.2.0 --format json   # for machines

A request schema breaks when it narrows (the server reads it); a reply, error or event
schema breaks when it widens (clients and subscribers read it). Removed services, methods
and events break. Exit codes: 0 no breaking change, 1 breaking changes, 2 usage or I/O error.")]
    Check {
        /// The baseline: a schemas directory, or a git revision (`origin/main`, a tag).
        #[arg(long)]
        against: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Validate JSON payloads against a message's schema, printing each error's JSON pointer.
    #[command(after_help = "Examples:
  contracts validate user_service.create_user payload.json        # a request (the default)
  contracts validate user_service.create_user.reply reply.json
  contracts validate user_service.user_created events/*.json      # an event payload
  echo '{\"user_data\": {\"user_id\": 0}}' | contracts validate user_service.create_user -

A request payload is the object of keyword arguments (Nameko's `kwargs`).
Exit codes: 0 every payload valid, 1 some payload invalid, 2 usage or I/O error.")]
    Validate {
        /// `service.method` (its request), `service.method.reply`, `service.method.error`
        /// or `service.event`.
        message: String,
        /// JSON files to check; `-` (the default) reads one payload from standard input.
        #[arg(default_value = "-")]
        files: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Write the docs: an AsyncAPI 3.0 document and a self-contained HTML catalog page.
    #[command(after_help = "Examples:
  contracts docs                          # docs/asyncapi.json and docs/catalog.html
  contracts docs --out site --title 'Orders platform'

The HTML page needs no network: styles inline, the topology drawn as inline SVG.
Exit codes: 0 written, 2 usage or I/O error.")]
    Docs {
        /// Where to write `asyncapi.json` and `catalog.html`.
        #[arg(long, default_value = "docs")]
        out: PathBuf,
        /// The title of both documents.
        #[arg(long, default_value = "Service catalog")]
        title: String,
    },
    /// Call an RPC method over RabbitMQ, like Nameko's `n.rpc.service.method(..)`, and print
    /// the reply.
    #[command(after_help = "Examples:
  contracts call my_service.hello '[\"World\"]'                          # positional arguments
  contracts call user_service.create_user '{\"user_data\": {\"user_id\": 1, \"name\": \"Ada\"}}'
  contracts call slow_service.work '{}' --timeout 60
  AMQP_URI=amqp://user:pass@rabbit:5672/prod contracts call my_service.hello '[\"x\"]'

The request (and the reply) are checked against schemas/ when the service has schemas there;
services without (Python Nameko ones, say) are called as they are.
Exit codes: 0 a reply, 1 refused (schema violation, or an error reply, printed as Nameko's
RemoteError), 2 usage, broker or timeout error.")]
    Call {
        /// `service.method`.
        target: String,
        /// The arguments as JSON: an object binds by name (kwargs), an array by position.
        #[arg(default_value = "{}")]
        arguments: String,
        /// Seconds to wait for the reply.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// The broker.
        #[arg(long, env = "AMQP_URI", default_value = contracts_amqp::DEFAULT_AMQP_URI, hide_env_values = true)]
        amqp_uri: String,
    },
    /// List an event handler's dead letters, or send them back to it.
    #[command(
        name = "dead-letters",
        after_help = "Examples:
  contracts dead-letters evt-user_service-user_created--notification_service.on_user_created
  contracts dead-letters evt-user_service-user_created--notification_service.on_user_created --replay
  contracts dead-letters <handler queue> --format json

The argument is the handler's queue (schemas/<service>/service.json lists it under
`subscriptions`); its dead letters are in `<queue>.dead`. Listing leaves them there;
`--replay` sends each back to that handler only, with its attempts reset.
Exit codes: 0 no dead letters (or all replayed), 1 dead letters listed, 2 usage or broker error."
    )]
    DeadLetters {
        /// The handler's queue.
        queue: String,
        /// Send them back to the handler instead of listing them.
        #[arg(long)]
        replay: bool,
        /// Output format for the listing.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// The broker.
        #[arg(long, env = "AMQP_URI", default_value = contracts_amqp::DEFAULT_AMQP_URI, hide_env_values = true)]
        amqp_uri: String,
    },
    /// Publish an event over RabbitMQ, like Nameko's `n.dispatch_event(service, event, data)`.
    #[command(after_help = "Examples:
  contracts dispatch user_service user_created '{\"user_id\": 7, \"name\": \"Grace\"}'
  AMQP_URI=amqp://user:pass@rabbit:5672/prod contracts dispatch billing invoice_paid '{\"id\": 3}'

The payload is checked against schemas/ when the service has schemas there.
Exit codes: 0 published (confirmed by the broker), 1 refused by the schema, 2 usage or
broker error.")]
    Dispatch {
        /// The publishing service.
        service: String,
        /// The event type.
        event: String,
        /// The payload as JSON.
        payload: String,
        /// The broker.
        #[arg(long, env = "AMQP_URI", default_value = contracts_amqp::DEFAULT_AMQP_URI, hide_env_values = true)]
        amqp_uri: String,
    },
}

/// What went wrong outside the contracts themselves: exit code 2.
struct Usage(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Check { against, format } => run_check(&cli.schemas, against, *format),
        Command::Validate {
            message,
            files,
            format,
        } => run_validate(&cli.schemas, message, files, *format),
        Command::Docs { out, title } => run_docs(&cli.schemas, out, title),
        Command::Call {
            target,
            arguments,
            timeout,
            amqp_uri,
        } => runtime().and_then(|rt| {
            let catalog = optional_catalog(&cli.schemas)?;
            let timeout = Duration::try_from_secs_f64(*timeout)
                .map_err(|_| Usage(format!("--timeout {timeout}: not a duration")))?;
            remote_outcome(rt.block_on(remote::call(
                catalog.as_ref(),
                amqp_uri,
                target,
                arguments,
                timeout,
            )))
            .map(|reply| match reply {
                Some(reply) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&reply).expect("JSON encodes")
                    );
                    true
                }
                None => false,
            })
        }),
        Command::Dispatch {
            service,
            event,
            payload,
            amqp_uri,
        } => runtime().and_then(|rt| {
            let catalog = optional_catalog(&cli.schemas)?;
            remote_outcome(rt.block_on(remote::dispatch(
                catalog.as_ref(),
                amqp_uri,
                service,
                event,
                payload,
            )))
            .map(|published| match published {
                Some(()) => {
                    println!("dispatched {service}.{event}");
                    true
                }
                None => false,
            })
        }),
        Command::DeadLetters {
            queue,
            replay,
            format,
            amqp_uri,
        } => runtime()
            .and_then(|rt| rt.block_on(run_dead_letters(amqp_uri, queue, *replay, *format))),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Usage(message)) => {
            eprintln!("contracts: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_docs(schemas: &Path, out: &Path, title: &str) -> Result<bool, Usage> {
    let catalog = load(schemas)?;
    std::fs::create_dir_all(out).map_err(|e| Usage(format!("{}: {e}", out.display())))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| Usage(format!("{}: {e}", path.display())))?;
        println!("wrote {}", path.display());
        Ok::<(), Usage>(())
    };
    let asyncapi = contracts_cli::asyncapi::document(&catalog, title);
    write(
        "asyncapi.json",
        serde_json::to_string_pretty(&asyncapi).expect("JSON encodes") + "\n",
    )?;
    write(
        "catalog.html",
        contracts_cli::catalog_page::page(&catalog, title),
    )?;
    Ok(true)
}

/// `Ok(true)` when nothing is left dead-lettered.
async fn run_dead_letters(
    uri: &str,
    queue: &str,
    replay: bool,
    format: Format,
) -> Result<bool, Usage> {
    use contracts_core::retry;
    let uri: contracts_amqp::BrokerUri = uri.parse().map_err(|e| Usage(format!("{e}")))?;
    let broker = contracts_amqp::AmqpTransport::connect(&uri)
        .await
        .map_err(|e| Usage(e.to_string()))?;
    let outcome = if replay {
        retry::replay_dead_letters(&broker, queue).await.map(|n| {
            println!("replayed {n} dead letter(s) to {queue}");
            true
        })
    } else {
        retry::dead_letters(&broker, queue).await.map(|letters| {
            match format {
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
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&rows).expect("JSON encodes")
                    );
                }
                Format::Table if letters.is_empty() => println!("no dead letters in {queue}.dead"),
                Format::Table => {
                    for l in &letters {
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
            letters.is_empty()
        })
    };
    broker.close().await;
    outcome.map_err(|e| Usage(format!("{queue}: {e}")))
}

fn runtime() -> Result<tokio::runtime::Runtime, Usage> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Usage(format!("cannot start the async runtime: {e}")))
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

/// `Some` on success; a refusal is printed and is `None` (exit 1); an unusable broker or
/// input is exit 2.
fn remote_outcome<T>(outcome: Result<T, remote::Failure>) -> Result<Option<T>, Usage> {
    match outcome {
        Ok(value) => Ok(Some(value)),
        Err(remote::Failure::Refused(why)) => {
            eprintln!("{why}");
            Ok(None)
        }
        Err(remote::Failure::Unusable(why)) => Err(Usage(why)),
    }
}

fn load(schemas: &Path) -> Result<Catalog, Usage> {
    Catalog::load(schemas).map_err(|e| Usage(e.to_string()))
}

/// `Ok(true)` when no change breaks.
fn run_check(schemas: &Path, against: &str, format: Format) -> Result<bool, Usage> {
    let current = load(schemas)?;
    let old = baseline::load(schemas, against).map_err(Usage)?;
    let findings = check(&old, &current);
    let breaking = findings.iter().filter(|f| f.change.breaking).count();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "against": against,
                "breaking": breaking,
                "changes": findings,
            }))
            .expect("findings encode")
        ),
        Format::Table => print_findings(&findings, against, breaking),
    }
    Ok(breaking == 0)
}

fn print_findings(findings: &[Finding], against: &str, breaking: usize) {
    if findings.is_empty() {
        println!("no changes against {against}");
        return;
    }
    let rows: Vec<[String; 4]> = findings
        .iter()
        .map(|f| {
            [
                if f.change.breaking {
                    "BREAKING".into()
                } else {
                    "ok".into()
                },
                format!("{} {}", f.item, f.message),
                f.change.at.clone(),
                f.change.what.clone(),
            ]
        })
        .collect();
    let header = ["verdict", "message", "at", "change"];
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| {
        println!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3]]);
    }
    println!(
        "\n{} change(s) against {against}, {breaking} breaking",
        findings.len()
    );
}

/// `Ok(true)` when every payload is valid.
fn run_validate(
    schemas: &Path,
    message: &str,
    files: &[String],
    format: Format,
) -> Result<bool, Usage> {
    let catalog = load(schemas)?;
    let (label, schema) = catalog.message(message).map_err(Usage)?;
    let mut all_valid = true;
    let mut report = Vec::new();
    for file in files {
        let text = if file == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Usage(format!("cannot read standard input: {e}")))?;
            text
        } else {
            std::fs::read_to_string(file).map_err(|e| Usage(format!("cannot read {file}: {e}")))?
        };
        let violations = match serde_json::from_str(&text) {
            Ok(payload) => validate::validate(schema, &payload).map_err(Usage)?,
            Err(e) => vec![contracts_core::validate::Failure {
                pointer: String::new(),
                reason: format!("not JSON: {e}"),
            }],
        };
        all_valid &= violations.is_empty();
        match format {
            Format::Table if violations.is_empty() => println!("{file}: valid {label}"),
            Format::Table => {
                println!("{file}: invalid {label}");
                for v in &violations {
                    let at = if v.pointer.is_empty() {
                        "/"
                    } else {
                        &v.pointer
                    };
                    println!("  {at}: {}", v.reason);
                }
            }
            Format::Json => report.push(serde_json::json!({
                "file": file,
                "message": label,
                "valid": violations.is_empty(),
                "errors": violations,
            })),
        }
    }
    if let Format::Json = format {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report encodes")
        );
    }
    Ok(all_valid)
}
