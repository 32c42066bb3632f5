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
//! Spans are made with the OpenTelemetry SDK directly (not through `tracing`), and a call's
//! work runs with its span's context current, so spans a handler opens with `tracing` (and
//! `tracing-opentelemetry`, which [`crate::install`] sets up) are its children.
//!
//! Context travels as opentelemetry-instrumentation-nameko carries it: W3C `traceparent` and
//! `tracestate` in AMQP headers under Nameko's `nameko.` prefix (`nameko.traceparent`); the
//! un-prefixed form, which Nameko's standalone event dispatcher writes, is read too. A call
//! handled or an event taken continues the trace of the message (its span's parent is the
//! sender's span), so one trace follows a request through every service it reaches, Rust or
//! Python.

use contracts_core::observe::{Call, Handle, HttpRequest, Publish, Side, Tick};
use contracts_core::transport::Headers;
use contracts_core::wire::HEADER_PREFIX;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanBuilder, SpanId, SpanKind, Status, TraceContextExt, TraceId, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::Tracer;
use serde_json::Value;

/// The semantic conventions the spans follow.
pub const SEMCONV_VERSION: &str = "1.40.0";

/// The context of a call's span: a child of the current context (client) or of the
/// request's trace context (server).
pub(crate) fn call_span(tracer: &Tracer, call: &Call<'_>) -> Context {
    let name = format!("{}/{}", call.service, call.method);
    let (kind, parent) = match call.side {
        Side::Client => (SpanKind::Client, Context::current()),
        Side::Server => (SpanKind::Server, received(call.headers)),
    };
    let span = SpanBuilder::from_name(name.clone())
        .with_kind(kind)
        .with_attributes([
            KeyValue::new("rpc.system.name", "nameko"),
            KeyValue::new("rpc.method", name),
        ]);
    start(tracer, span, parent)
}

/// The context of an event's publishing span, a child of the current context.
pub(crate) fn publish_span(tracer: &Tracer, event: &Publish<'_>) -> Context {
    let destination = format!("{}.events:{}", event.service, event.event);
    let span = SpanBuilder::from_name(format!("publish {destination}"))
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "rabbitmq"),
            KeyValue::new("messaging.operation.type", "send"),
            KeyValue::new("messaging.operation.name", "publish"),
            KeyValue::new("messaging.destination.name", destination),
            KeyValue::new(
                "messaging.rabbitmq.destination.routing_key",
                event.event.to_owned(),
            ),
        ]);
    start(tracer, span, Context::current())
}

/// The context of a handler taking an event, continuing the publisher's trace.
pub(crate) fn handle_span(tracer: &Tracer, event: &Handle<'_>) -> Context {
    let destination = format!("{}.events:{}", event.source, event.event);
    let span = SpanBuilder::from_name(format!("process {destination}"))
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("messaging.system", "rabbitmq"),
            KeyValue::new("messaging.operation.type", "process"),
            KeyValue::new("messaging.operation.name", "process"),
            KeyValue::new("messaging.destination.name", destination),
            KeyValue::new(
                "messaging.rabbitmq.destination.routing_key",
                event.event.to_owned(),
            ),
            KeyValue::new(
                "messaging.consumer.group.name",
                format!("{}.{}", event.service, event.method),
            ),
        ]);
    start(tracer, span, received(Some(event.headers)))
}

/// An HTTP request to a gateway: a server span continuing the caller's W3C trace context.
pub(crate) fn http_span(tracer: &Tracer, request: &HttpRequest<'_>) -> Context {
    let name = format!("{} {}", request.method, request.route);
    let span = SpanBuilder::from_name(name)
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", request.method.to_owned()),
            KeyValue::new("http.route", request.route.to_owned()),
        ]);
    let carrier = HttpCarrier(request);
    start(
        tracer,
        span,
        TraceContextPropagator::new().extract(&carrier),
    )
}

/// The trace context headers of an HTTP request.
struct HttpCarrier<'a, 'b>(&'a HttpRequest<'b>);

impl Extractor for HttpCarrier<'_, '_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.0.traceparent,
            "tracestate" => self.0.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// Mark an HTTP span with its status code.
pub(crate) fn answered(cx: &Context, status: u16) {
    cx.span().set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
}

/// A timer's run: an internal span, the root of its own trace (nothing called it).
pub(crate) fn tick_span(tracer: &Tracer, tick: &Tick<'_>) -> Context {
    let span = SpanBuilder::from_name(format!("{}/{} tick", tick.service, tick.timer))
        .with_kind(SpanKind::Internal)
        .with_attributes([
            KeyValue::new("contracts.service", tick.service.to_owned()),
            KeyValue::new("contracts.timer", tick.timer.to_owned()),
        ]);
    start(tracer, span, Context::new())
}

fn start(tracer: &Tracer, span: SpanBuilder, parent: Context) -> Context {
    let span = tracer.build_with_context(span, &parent);
    parent.with_span(span)
}

/// Mark the span of `cx` failed with `error_type`.
pub(crate) fn failed(cx: &Context, error_type: &'static str) {
    let span = cx.span();
    span.set_attribute(KeyValue::new("error.type", error_type));
    span.set_status(Status::error(""));
}

/// Write the current trace context into outgoing `headers`, under Nameko's prefix.
pub(crate) fn inject(headers: &mut Headers) {
    Context::map_current(|cx| {
        if cx.span().span_context().is_valid() {
            TraceContextPropagator::new().inject_context(cx, &mut Prefixed(headers));
        }
    });
}

/// The trace context a message's `headers` carry; without one, a new trace starts.
fn received(headers: Option<&Headers>) -> Context {
    match headers {
        Some(headers) => TraceContextPropagator::new().extract(&Inbound(headers)),
        None => Context::new(),
    }
}

/// The trace and span ids of the current span, if there is one.
pub(crate) fn current_ids() -> Option<(TraceId, SpanId)> {
    Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        context
            .is_valid()
            .then(|| (context.trace_id(), context.span_id()))
    })
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
