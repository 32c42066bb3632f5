//! `contracts call` and `contracts dispatch`: Nameko's `n.rpc.service.method(..)` and
//! `n.dispatch_event(..)` from the command line, checked against the schemas when the service
//! has them. They work against Nameko services as well as Rust ones: it is the same wire.

use std::time::Duration;

use contracts_amqp::{AmqpTransport, BrokerUri};
use contracts_core::transport::{Message, Properties, Transport};
use contracts_core::{CallError, RpcClient, topology};
use serde_json::{Map, Value, json};

use crate::catalog::Catalog;
use crate::validate::validate;
use contracts_core::validate::Failure as SchemaFailure;

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

fn describe(violations: &[SchemaFailure]) -> String {
    violations
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

fn unusable_schema(error: contracts_core::validate::InvalidSchema) -> Failure {
    Failure::Unusable(format!("the schema itself is invalid: {}", error.0))
}

/// Split `service.method` (or `service.event`'s two words).
pub fn split_target(target: &str) -> Result<(&str, &str), Failure> {
    target
        .split_once('.')
        .filter(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('.'))
        .ok_or_else(|| Failure::Unusable(format!("`{target}`: write service.method")))
}

async fn connect(uri: &str) -> Result<std::sync::Arc<AmqpTransport>, Failure> {
    let uri: BrokerUri = uri.parse().map_err(|e| Failure::Unusable(format!("{e}")))?;
    AmqpTransport::shared(&uri)
        .await
        .map_err(|e| Failure::Unusable(e.to_string()))
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
    let contract = catalog.and_then(|c| c.services.get(service));
    if let Some(svc) = contract {
        let m = svc.method(method).ok_or_else(|| {
            Failure::Refused(format!(
                "{service} has no method `{method}` in the schemas (methods: {:?})",
                crate::catalog::methods_by_name(svc)
                    .map(|m| &m.name)
                    .collect::<Vec<_>>()
            ))
        })?;
        // Bind positional arguments to parameter names, as the server will.
        let mut bound = kwargs.clone();
        for (name, value) in m.params.iter().zip(&args) {
            bound.insert(name.clone(), value.clone());
        }
        let violations =
            validate(&m.request.schema, &Value::Object(bound)).map_err(unusable_schema)?;
        if !violations.is_empty() {
            return Err(Failure::Refused(format!(
                "request refused before sending: it breaks {service}.{method}'s request schema\n{}",
                describe(&violations)
            )));
        }
    }
    let broker = connect(uri).await?;
    let rpc = RpcClient::connect(broker.clone(), "contracts_cli")
        .await
        .map_err(|e| Failure::Unusable(e.to_string()))?
        .with_timeout(timeout);
    let outcome = rpc.call(service, method, args, kwargs).await;
    broker.close().await;
    let result = match outcome {
        Ok(result) => result,
        Err(CallError::Remote(e)) => {
            let path = e.exc_path.as_deref().unwrap_or("?");
            return Err(Failure::Refused(format!(
                "RemoteError {}: {}\n  exc_path: {path}\n  exc_args: {}",
                e.exc_type,
                e.value,
                Value::Array(e.exc_args.clone())
            )));
        }
        Err(other) => return Err(Failure::Unusable(other.to_string())),
    };
    if let Some(m) = contract.and_then(|svc| svc.method(method)) {
        let violations = validate(&m.reply.schema, &result).map_err(unusable_schema)?;
        if !violations.is_empty() {
            return Err(Failure::Refused(format!(
                "reply {result} breaks {service}.{method}'s reply schema\n{}",
                describe(&violations)
            )));
        }
    }
    Ok(result)
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
    if let Some(svc) = catalog.and_then(|c| c.services.get(service)) {
        let schema = svc.event(event).ok_or_else(|| {
            Failure::Refused(format!(
                "{service} declares no event `{event}` in the schemas (events: {:?})",
                crate::catalog::events_by_name(svc)
                    .map(|e| &e.name)
                    .collect::<Vec<_>>()
            ))
        })?;
        let violations = validate(&schema.payload.schema, &payload).map_err(unusable_schema)?;
        if !violations.is_empty() {
            return Err(Failure::Refused(format!(
                "event refused before sending: it breaks {service}.{event}'s schema\n{}",
                describe(&violations)
            )));
        }
    }
    let broker = connect(uri).await?;
    let exchange = topology::events_exchange(service);
    let published = async {
        broker.declare_exchange(&exchange).await?;
        let mut headers = Map::new();
        headers.insert(
            "nameko.call_id_stack".into(),
            json!([format!("contracts_cli.dispatch.{}", uuid::Uuid::new_v4())]),
        );
        let message = Message {
            properties: Properties {
                message_id: Some(uuid::Uuid::new_v4().to_string()),
                headers,
                ..topology::json_properties()
            },
            body: serde_json::to_vec(&payload).expect("JSON values encode"),
        };
        broker.publish(&exchange.name, event, message, false).await
    }
    .await;
    broker.close().await;
    published.map_err(|e| Failure::Unusable(e.to_string()))
}
