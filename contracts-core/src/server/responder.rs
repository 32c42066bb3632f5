//! A service's answer to one request: the RPC worker that takes it off the queue, replies and
//! acks, and the responder that binds, checks, runs and encodes (shared with local clients).

use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::catch_panic::catch_panic;
use crate::contract::CompiledService;
use crate::error::Report;
use crate::observe::{self, Call, CallOutcome, Side};
use crate::transport::{Acker, Delivery, Message, Properties, SharedTransport};
use crate::validate::{Direction, ValidationError, ValidationMode, View, serde_failure};
use crate::wire::context::{self, CallContext};
use crate::wire::inbound;
use crate::wire::limits::Limits;
use crate::wire::topology;
use crate::wire::{self, ErrorDict};

use super::{Dispatch, Outcome};

/// Takes a service's requests off its queue: answers each, publishes the reply, then acks.
#[derive(Clone)]
pub(super) struct RpcWorker {
    pub(super) responder: Responder,
    pub(super) transport: SharedTransport,
    pub(super) exchange: Arc<str>,
}

/// A service's whole answer to a request but the broker: bind and check the request, run the
/// handler in its worker's context, check and encode the reply. Served by an [`RpcWorker`]
/// over a transport, or in process by a local client ([`crate::RpcClient::local`]).
#[derive(Clone)]
pub(crate) struct Responder {
    pub(crate) service: Arc<dyn Dispatch>,
    pub(crate) validation: ValidationMode,
    pub(crate) limits: Limits,
    pub(crate) parent_calls_tracked: usize,
}

impl RpcWorker {
    /// Answer one request, reply and ack, observed when the process has an observer.
    pub(super) async fn handle(&self, delivery: Delivery) {
        let Delivery {
            routing_key,
            message,
            acker,
            ..
        } = delivery;
        let compiled = self.responder.service.compiled();
        let Some(reply_to) = message.properties.reply_to.clone() else {
            // Nameko dies on this and loops on redelivery (#753). Nobody can be told, so drop
            // it (dead-lettered where the queue has a dead-letter exchange).
            tracing::error!(
                service = compiled.name(),
                routing_key = %routing_key,
                "request without reply_to rejected"
            );
            let _ = acker.reject(false).await;
            return;
        };
        let method = routing_key
            .strip_prefix(compiled.name())
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(&routing_key);
        let Some(observer) = observe::current() else {
            self.answer(compiled, method, &message, reply_to, acker)
                .await;
            return;
        };
        let observation = observer.call(&Call {
            side: Side::Server,
            service: compiled.name(),
            method,
            headers: Some(&message.properties.headers),
        });
        let answer = self.answer(compiled, method, &message, reply_to, acker);
        observe::observed(observation, answer, |outcome| *outcome).await;
    }

    /// Run the call, reply and ack; how the call ended, for the observer.
    async fn answer(
        &self,
        compiled: &'static CompiledService,
        method: &str,
        message: &Message,
        reply_to: String,
        acker: Acker,
    ) -> CallOutcome {
        let (body, observed) = self.responder.respond(compiled, method, message).await;
        let reply = Message {
            properties: Properties {
                correlation_id: message.properties.correlation_id.clone(),
                ..topology::json_properties()
            },
            body,
        };
        match self
            .transport
            .publish(&self.exchange, &reply_to, reply, false)
            .await
        {
            // The reply is out: now the request may be forgotten.
            Ok(()) => {
                if let Err(e) = acker.ack().await {
                    tracing::warn!(service = compiled.name(), error = %Report(&e), "ack failed");
                }
            }
            Err(e) => {
                tracing::error!(service = compiled.name(), error = %Report(&e), "reply not published; requeueing the request");
                let _ = acker.reject(true).await;
                return CallOutcome::Unavailable;
            }
        }
        observed
    }
}

impl Responder {
    /// The reply body to `message`, a request for `method`, with how the call ended.
    pub(crate) async fn respond(
        &self,
        compiled: &'static CompiledService,
        method: &str,
        message: &Message,
    ) -> (Vec<u8>, CallOutcome) {
        // The worker's context, for the handler and every line logged about the call.
        let ctx = CallContext::for_worker_tracking(
            &message.properties.headers,
            compiled.name(),
            method,
            self.parent_calls_tracked,
        );
        let (outcome, observed) = context::scope(ctx, async {
            let outcome = self.run(compiled, method, message).await;
            let observed = observed_outcome(compiled, method, &outcome);
            if let Err(error) = &outcome {
                log_failure(compiled.name(), method, observed, error);
            }
            (outcome, observed)
        })
        .await;
        let (result, error) = match &outcome {
            Ok(result) => (&**result, None),
            Err(error) => (RawValue::NULL, Some(error)),
        };
        (wire::encode_reply(result, error), observed)
    }

    async fn run(
        &self,
        compiled: &'static CompiledService,
        method: &str,
        message: &Message,
    ) -> Outcome {
        let (spec, bound) =
            inbound::request(compiled, method, message, &self.limits, self.validation)?;
        let invalid = |direction, failures| {
            ErrorDict::validation(&ValidationError::new(
                compiled.name(),
                method,
                direction,
                failures,
            ))
        };
        let outcome = catch_panic(self.service.dispatch(method, bound))
            .await
            .map_err(|panic| {
                tracing::error!(service = compiled.name(), method, panic = %panic, "handler panicked");
                ErrorDict::panicked(format!("{}.{method} panicked: {panic}", compiled.name()))
            })?;
        if self.validation.checks_outbound() {
            match &outcome {
                Ok(result) => {
                    let checked = View::parse(result.get().as_bytes())
                        .map_err(|e| vec![serde_failure(&e)])
                        .and_then(|view| spec.reply.check_view(&view));
                    observe::enforce(
                        self.validation,
                        compiled.name(),
                        method,
                        Direction::Reply,
                        checked,
                    )
                    .map_err(|f| invalid(Direction::Reply, f))?;
                }
                Err(error) => {
                    if let (Some((validator, path)), Some(payload)) =
                        (&spec.error, error.extra.get("payload"))
                        && error.exc_path.as_deref() == Some(path.as_str())
                    {
                        observe::enforce(
                            self.validation,
                            compiled.name(),
                            method,
                            Direction::Error,
                            validator.check(payload),
                        )
                        .map_err(|f| invalid(Direction::Error, f))?;
                    }
                }
            }
        }
        outcome
    }
}

/// Say why a call failed, at the level its cause deserves: a declared error is the contract
/// at work, a rejected request the caller's fault, anything else the handler's. (A panic was
/// logged where it was caught.) The reason is the error's message, from which the contract's
/// sensitive values were already redacted; arguments themselves are never logged.
fn log_failure(service: &str, method: &str, outcome: CallOutcome, error: &ErrorDict) {
    let reason = match &error.value {
        Value::String(s) => s.as_str(),
        _ => "",
    };
    if error.exc_path.as_deref() == Some(wire::HANDLER_PANICKED) {
        return;
    }
    let exc_type = error.exc_type.as_str();
    match outcome {
        CallOutcome::DeclaredError => {
            tracing::info!(
                service,
                method,
                outcome = outcome.as_str(),
                exc_type,
                reason,
                "call failed with its declared error"
            )
        }
        CallOutcome::Invalid(Direction::Request)
        | CallOutcome::BadRequest
        | CallOutcome::MethodNotFound => {
            tracing::warn!(
                service,
                method,
                outcome = outcome.as_str(),
                exc_type,
                reason,
                "request rejected"
            )
        }
        _ => {
            tracing::error!(
                service,
                method,
                outcome = outcome.as_str(),
                exc_type,
                reason,
                "call failed"
            )
        }
    }
}

/// How a call ended, read off the reply the server is sending.
fn observed_outcome(compiled: &CompiledService, method: &str, outcome: &Outcome) -> CallOutcome {
    let Err(error) = outcome else {
        return CallOutcome::Ok;
    };
    let declared = compiled
        .method_index(method)
        .and_then(|i| compiled.method(i).error.as_ref())
        .map(|(_, path)| path.as_str());
    CallOutcome::of_error(error.exc_path.as_deref(), &error.extra, declared)
}
