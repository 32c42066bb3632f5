//! `contracts call` and `contracts dispatch`: Nameko's `n.rpc.service.method(..)` and
//! `n.dispatch_event(..)` from the command line, checked against the schemas when the service
//! has them. They work against Nameko services as well as Rust ones: it is the same wire.
//! The checks, headers and call context are the runtime's own
//! ([`RpcClient::call_checked`], [`EventPublisher::publish_value`]).

use std::sync::Arc;
use std::time::Duration;

use contracts_amqp::{AmqpTransport, BrokerUri};
use contracts_core::contract::{EventContract, MessageSchema, ServiceContract};
use contracts_core::validate::{Direction, ValidationError};
use contracts_core::{
    CallError, CompiledService, EventPublisher, PublishError, RemoteError, RpcClient,
};
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, methods_by_name};

/// How a remote operation ended, beyond success.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The payload or the reply breaks the contract, or the service answered with an error:
    /// exit code 1.
    #[error("{0}")]
    Refused(String),
    /// The broker, the service or the input could not be reached or read: exit code 2.
    #[error("{0}")]
    Unusable(String),
}

/// Every failure of a message, a line each.
fn describe(error: &ValidationError) -> String {
    error
        .failures
        .iter()
        .map(|v| {
            let at = if v.pointer.is_empty() {
                "/"
            } else {
                &v.pointer
            };
            format!("  {at}: {}", v.reason)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Split `service.method` (or `service.event`'s two words).
pub fn split_target(target: &str) -> Result<(&str, &str), Failure> {
    target
        .split_once('.')
        .filter(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('.'))
        .ok_or_else(|| Failure::Unusable(format!("`{target}`: write service.method")))
}

async fn connect(uri: &str) -> Result<Arc<AmqpTransport>, Failure> {
    let uri: BrokerUri = uri.parse().map_err(|e| Failure::Unusable(format!("{e}")))?;
    AmqpTransport::shared(&uri)
        .await
        .map_err(|e| Failure::Unusable(crate::report(&e)))
}

/// `contract`, its schemas compiled, or why they cannot be used.
fn compiled(contract: ServiceContract) -> Result<CompiledService, Failure> {
    CompiledService::try_compile(contract).map_err(|e| Failure::Unusable(crate::report(&e)))
}

/// An error reply as Nameko prints its `RemoteError`.
fn remote(error: &RemoteError) -> Failure {
    let path = error.exc_path.as_deref().unwrap_or("?");
    Failure::Refused(format!(
        "RemoteError {}: {}\n  exc_path: {path}\n  exc_args: {}",
        error.exc_type,
        error.value,
        Value::Array(error.exc_args.clone())
    ))
}

/// Call `service.method` with `arguments` (a JSON object of keyword arguments, or an array of
/// positional ones) and return the reply's result.
pub async fn call(
    catalog: Option<&Catalog>,
    uri: &str,
    target: &str,
    arguments: &str,
    timeout: Duration,
) -> Result<Value, Failure> {
    let (service, method) = split_target(target)?;
    let arguments: Value = serde_json::from_str(arguments)
        .map_err(|e| Failure::Unusable(format!("the arguments are not JSON: {e}")))?;
    let (args, kwargs) = match arguments {
        Value::Object(kwargs) => (Vec::new(), kwargs),
        Value::Array(args) => (args, Map::new()),
        other => {
            return Err(Failure::Unusable(format!(
                "pass the arguments as a JSON object (by name) or array (by position), not {other}"
            )));
        }
    };
    let contract = match catalog.and_then(|c| c.services.get(service)) {
        Some(contract) => Some(compiled(contract.clone())?),
        None => None,
    };
    let checked = match &contract {
        Some(contract) => Some((
            contract,
            contract.method_by_name(method).ok_or_else(|| {
                Failure::Refused(format!(
                    "{service} has no method `{method}` in the schemas (methods: {:?})",
                    methods_by_name(contract.contract())
                        .map(|m| &m.name)
                        .collect::<Vec<_>>()
                ))
            })?,
        )),
        None => None,
    };
    let broker = connect(uri).await?;
    let rpc = RpcClient::connect(broker.clone(), "contracts_cli")
        .await
        .map_err(|e| Failure::Unusable(crate::report(&e)))?
        .with_timeout(timeout);
    // Services with schemas get the checked call; others (Python ones) the raw one.
    let outcome = match checked {
        Some((contract, spec)) => rpc.call_checked(contract, spec, args, kwargs).await,
        None => (rpc.call(service, method, args, kwargs).await)
            .map_err(|e| e.map_service(|never| match never {})),
    };
    broker.close().await;
    match outcome {
        Ok(result) => Ok(result),
        Err(CallError::Service(declared)) => Err(remote(&declared.error)),
        Err(CallError::Remote(error)) => Err(remote(&error)),
        Err(CallError::Validation(error)) => {
            let what = match error.direction {
                Direction::Request => "request refused",
                Direction::Reply => "reply refused",
                _ => "error reply refused",
            };
            Err(Failure::Refused(format!(
                "{what}: it breaks {service}.{method}'s {} schema\n{}",
                error.direction,
                describe(&error)
            )))
        }
        Err(other) => Err(Failure::Unusable(crate::report(&other))),
    }
}

/// Publish `payload` as `service`'s event `event`, as Nameko's dispatcher does: to
/// `<service>.events`, routing key = event type, persistent and confirmed.
pub async fn dispatch(
    catalog: Option<&Catalog>,
    uri: &str,
    service: &str,
    event: &str,
    payload: &str,
) -> Result<(), Failure> {
    let payload: Value = serde_json::from_str(payload)
        .map_err(|e| Failure::Unusable(format!("the payload is not JSON: {e}")))?;
    // A service without schemas (a Python one) publishes through a contract that declares
    // the event and accepts any payload: the same publisher, headers and confirms.
    let contract = match catalog.and_then(|c| c.services.get(service)) {
        Some(contract) => contract.clone(),
        None => ServiceContract {
            events: vec![EventContract {
                name: event.to_owned(),
                doc: None,
                payload: MessageSchema {
                    type_name: "Value".into(),
                    schema: json!(true),
                },
            }],
            ..ServiceContract::new(service, None)
        },
    };
    let contract = Arc::new(compiled(contract)?);
    let broker = connect(uri).await?;
    let published = EventPublisher::for_contract(broker.clone(), contract)
        .publish_value(event, &payload)
        .await;
    broker.close().await;
    match published {
        Ok(()) => Ok(()),
        Err(PublishError::Validation(error)) => Err(Failure::Refused(format!(
            "event refused before sending: it breaks {service}.{event}'s schema\n{}",
            describe(&error)
        ))),
        Err(unknown @ PublishError::UnknownEvent { .. }) => {
            Err(Failure::Refused(format!("{unknown} in the schemas")))
        }
        Err(other) => Err(Failure::Unusable(crate::report(&other))),
    }
}
