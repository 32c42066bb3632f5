//! Spans for calls and events, and the trace context that travels with every message.
//!
//! Spans follow the OpenTelemetry semantic conventions **v1.40.0**: an RPC call is a CLIENT
//! span on the caller and a SERVER span on the service, both named `{service}/{method}` with
//! `rpc.system.name = "nameko"` and `rpc.method = "{service}/{method}"`; publishing an event is
//! a PRODUCER span `publish {service}.events:{event}` and handling it a CONSUMER span
//! `process {service}.events:{event}`, with `messaging.system = "rabbitmq"`, the operation's
//! type and name, `messaging.destination.name` (`{exchange}:{routing key}`) and the routing key.
//! A failed call or handling sets the span's status to error and `error.type` to its outcome
//! (`timeout`, `invalid_request`, `declared_error`, …).
//!
//! Context travels as opentelemetry-instrumentation-nameko carries it: W3C `traceparent` and
//! `tracestate` in AMQP headers under Nameko's `nameko.` prefix (`nameko.traceparent`); the
//! un-prefixed form, which Nameko's standalone event dispatcher writes, is read too. A call
//! handled or an event taken continues the trace of the message (its span's parent is the
//! sender's span), so one trace follows a request through every service it reaches, Rust or
//! Python.

use contracts_core::observe::{Call, Handle, Publish, Side};
use contracts_core::transport::Headers;
use contracts_core::wire::HEADER_PREFIX;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::Value;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The semantic conventions the spans follow.
pub const SEMCONV_VERSION: &str = "1.40.0";

/// The span of a call, a child of the caller's current span (client) or of the request's
/// trace context (server).
pub(crate) fn call_span(call: &Call<'_>) -> Span {
    let name = format!("{}/{}", call.service, call.method);
    let span = tracing::info_span!(
        target: "contracts",
        "rpc",
        "otel.name" = %name,
        "otel.kind" = call.side.as_str(),
        "otel.status_code" = Empty,
        "rpc.system.name" = "nameko",
        "rpc.method" = %name,
        "error.type" = Empty,
        service = call.service,
        method = call.method,
    );
    if let (Side::Server, Some(headers)) = (call.side, call.headers) {
        continue_trace(&span, headers);
    }
    span
}

/// The span of an event being published.
pub(crate) fn publish_span(event: &Publish<'_>) -> Span {
    let destination = format!("{}.events:{}", event.service, event.event);
    let span = tracing::info_span!(
        target: "contracts",
        "publish",
        "otel.name" = %format_args!("publish {destination}"),
        "otel.kind" = "producer",
        "otel.status_code" = Empty,
        "messaging.system" = "rabbitmq",
        "messaging.operation.type" = "send",
        "messaging.operation.name" = "publish",
        "messaging.destination.name" = %destination,
        "messaging.rabbitmq.destination.routing_key" = event.event,
        "error.type" = Empty,
        service = event.service,
        event = event.event,
    );
    span
}

/// The span of a handler taking an event, continuing the publisher's trace.
pub(crate) fn handle_span(event: &Handle<'_>) -> Span {
    let destination = format!("{}.events:{}", event.source, event.event);
    let span = tracing::info_span!(
        target: "contracts",
        "process",
        "otel.name" = %format_args!("process {destination}"),
        "otel.kind" = "consumer",
        "otel.status_code" = Empty,
        "messaging.system" = "rabbitmq",
        "messaging.operation.type" = "process",
        "messaging.operation.name" = "process",
        "messaging.destination.name" = %destination,
        "messaging.rabbitmq.destination.routing_key" = event.event,
        "messaging.consumer.group.name" = %format_args!("{}.{}", event.service, event.method),
        "error.type" = Empty,
        service = event.service,
        method = event.method,
        source = event.source,
        event = event.event,
        redelivered = event.redelivered,
    );
    continue_trace(&span, event.headers);
    span
}

/// Mark `span` failed with `error_type`.
pub(crate) fn failed(span: &Span, error_type: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", error_type);
}

/// Write the current span's trace context into outgoing `headers`, under Nameko's prefix.
pub(crate) fn inject(headers: &mut Headers) {
    let cx = Span::current().context();
    if !cx.span().span_context().is_valid() {
        return;
    }
    TraceContextPropagator::new().inject_context(&cx, &mut Prefixed(headers));
}

/// Make `span` a child of the trace context in `headers`, if they carry one.
fn continue_trace(span: &Span, headers: &Headers) {
    let parent = TraceContextPropagator::new().extract(&Inbound(headers));
    if parent.span().span_context().is_valid() {
        // Only fails if the span is not ours to re-parent (no OpenTelemetry layer).
        let _ = span.set_parent(parent);
    }
}

/// The span's own trace and span ids, once OpenTelemetry has given it some.
pub(crate) fn ids(span: &Span) -> Option<(TraceId, SpanId)> {
    let cx = span.context();
    let context = cx.span().span_context().clone();
    context
        .is_valid()
        .then(|| (context.trace_id(), context.span_id()))
}

/// Outgoing headers, written the way Nameko writes context data: every key prefixed.
struct Prefixed<'a>(&'a mut Headers);

impl Injector for Prefixed<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0
            .insert([HEADER_PREFIX, key].concat(), Value::String(value));
    }
}

/// Inbound headers, read as Nameko reads context data: the prefixed key, else the bare one.
struct Inbound<'a>(&'a Headers);

impl Extractor for Inbound<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(&[HEADER_PREFIX, key].concat())
            .or_else(|| self.0.get(key))
            .and_then(Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(|k| k.strip_prefix(HEADER_PREFIX).unwrap_or(k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(value: Value) -> Headers {
        let Value::Object(map) = value else {
            unreachable!()
        };
        map
    }

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_the_prefixed_key_first_then_the_bare_one() {
        let prefixed = headers(json!({"nameko.traceparent": PARENT, "traceparent": "junk"}));
        assert_eq!(Inbound(&prefixed).get("traceparent"), Some(PARENT));
        let bare = headers(json!({"traceparent": PARENT}));
        assert_eq!(Inbound(&bare).get("traceparent"), Some(PARENT));
        let cx = TraceContextPropagator::new().extract(&Inbound(&bare));
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let none = headers(json!({"nameko.call_id_stack": ["a.b.1"]}));
        let cx = TraceContextPropagator::new().extract(&Inbound(&none));
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn writes_under_namekos_prefix() {
        let mut out = Headers::new();
        Prefixed(&mut out).set("traceparent", PARENT.to_owned());
        assert_eq!(out["nameko.traceparent"], PARENT);
        assert!(!out.contains_key("traceparent"));
    }
}
