//! Log lines: one JSON object per line for log collectors, or human-readable text.
//!
//! A JSON line holds `timestamp`, `level`, `target`, `message` and the event's own fields, then
//! the fields of the spans it was written in (inside a call: `service` and `method`; inside an
//! event handling also `source` and `event`), then the innermost call's ids: `call_id`,
//! `call_id_stack` (an array, as Nameko keeps it), and with tracing on `trace_id` and `span_id`
//! (hex, the names OpenTelemetry's log correlation gives them), so a line leads to its trace.
//!
//! Span fields meant for traces only (`otel.*`, `rpc.*`, `messaging.*`, `error.type`) stay out
//! of log lines, and the ids are kept as they are and written only when a line is: a call that
//! logs nothing pays for neither.

use std::fmt::{self, Write as _};

use opentelemetry::trace::{SpanId, TraceId};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing::{Event, Span, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The ids of the call or event handling a span belongs to, kept on the span.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallIds {
    pub(crate) trace: Option<(TraceId, SpanId)>,
    pub(crate) call_id_stack: Vec<String>,
}

/// Change the ids kept on `span` (a span of this process's subscriber).
pub(crate) fn with_ids(span: &Span, change: impl FnOnce(&mut CallIds)) {
    let Some(id) = span.id() else {
        return;
    };
    let mut change = Some(change);
    tracing::dispatcher::get_default(|dispatch| {
        let Some(change) = change.take() else {
            return;
        };
        let Some(registry) = dispatch.downcast_ref::<Registry>() else {
            return;
        };
        let Some(span) = registry.span(&id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<CallIds>() {
            Some(ids) => change(ids),
            None => {
                let mut ids = CallIds::default();
                change(&mut ids);
                extensions.insert(ids);
            }
        }
    });
}

/// Whether a span field belongs in log lines.
fn for_logs(name: &str) -> bool {
    !(name.starts_with("otel.")
        || name.starts_with("rpc.")
        || name.starts_with("messaging.")
        || name == "error.type")
}

/// Formats span fields as a JSON object, leaving the trace-only ones out.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut map = Map::new();
        fields.record(&mut Fields::new(&mut map, true));
        if map.is_empty() {
            return Ok(());
        }
        write!(writer, "{}", Value::Object(map))
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let mut map = match serde_json::from_str(current) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let mut visit = Fields::new(&mut map, true);
        fields.record(&mut visit);
        if !visit.changed {
            // Only trace fields were recorded (a status, an error type).
            return Ok(());
        }
        current.fields.clear();
        write!(current.fields, "{}", Value::Object(map))
    }
}

/// Formats fields as `name=value` pairs for human-readable lines, leaving the trace-only ones
/// out (they would be formatted for every span, whether a line is written or not).
#[derive(Clone, Copy, Debug, Default)]
pub struct TextFields;

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visit = Pairs {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visit);
        visit.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let mut added = String::new();
        let mut visit = Pairs {
            writer: &mut Writer::new(&mut added),
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visit);
        visit.result?;
        // Only trace fields were recorded (a status, an error type): nothing to add.
        if !added.is_empty() {
            if !current.fields.is_empty() {
                current.fields.push(' ');
            }
            current.fields.push_str(&added);
        }
        Ok(())
    }
}

/// Fields as `name=value` pairs, the message first and bare.
struct Pairs<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visit for Pairs<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || !for_logs(field.name()) {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            write!(self.writer, "{separator}{value:?}")
        } else {
            write!(self.writer, "{separator}{}={value:?}", field.name())
        };
    }
}

/// Formats each event as one JSON object with its spans' fields and ids at the top level.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonLines;

impl<S> FormatEvent<S, SpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), Value::String(timestamp));
        let meta = event.metadata();
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        let mut ids = None;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<SpanFields>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(fields);
                }
                if let Some(found) = extensions.get::<CallIds>() {
                    ids = Some(found.clone());
                }
            }
        }
        if let Some(ids) = ids {
            if let Some(id) = ids.call_id_stack.last() {
                line.insert("call_id".into(), Value::String(id.clone()));
            }
            if !ids.call_id_stack.is_empty() {
                line.insert(
                    "call_id_stack".into(),
                    Value::Array(ids.call_id_stack.into_iter().map(Value::String).collect()),
                );
            }
            if let Some((trace_id, span_id)) = ids.trace {
                line.insert("trace_id".into(), Value::String(trace_id.to_string()));
                line.insert("span_id".into(), Value::String(span_id.to_string()));
            }
        }
        event.record(&mut Fields::new(&mut line, false));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Fields, into a JSON object.
struct Fields<'a> {
    map: &'a mut Map<String, Value>,
    only_for_logs: bool,
    /// Whether a field went in.
    changed: bool,
}

impl<'a> Fields<'a> {
    fn new(map: &'a mut Map<String, Value>, only_for_logs: bool) -> Self {
        Self {
            map,
            only_for_logs,
            changed: false,
        }
    }

    fn put(&mut self, field: &Field, value: Value) {
        if !self.only_for_logs || for_logs(field.name()) {
            self.map.insert(field.name().into(), value);
            self.changed = true;
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.into()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.only_for_logs || for_logs(field.name()) {
            self.put(field, Value::String(format!("{value:?}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What a line written inside a runtime-like span says, in text or JSON.
    fn line(json: bool) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let make = move || writer.clone();
        let layer = tracing_subscriber::fmt::layer().with_ansi(false);
        let subscriber: Box<dyn Subscriber + Send + Sync> = if json {
            Box::new(tracing_subscriber::layer::SubscriberExt::with(
                tracing_subscriber::registry(),
                layer
                    .fmt_fields(SpanFields)
                    .event_format(JsonLines)
                    .with_writer(make),
            ))
        } else {
            Box::new(tracing_subscriber::layer::SubscriberExt::with(
                tracing_subscriber::registry(),
                layer.fmt_fields(TextFields).with_writer(make),
            ))
        };
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "rpc",
                "otel.name" = "lab/boom",
                "rpc.method" = "lab/boom",
                "error.type" = tracing::field::Empty,
                service = "lab",
                method = "boom",
            );
            let _entered = span.enter();
            span.record("error.type", "remote_error");
            tracing::warn!(reason = "bad", "call failed");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn text_lines_name_the_call_without_trace_fields() {
        let line = line(false);
        assert!(
            line.contains(r#"rpc{service="lab" method="boom"}"#),
            "{line}"
        );
        assert!(line.contains(r#"call failed reason="bad""#), "{line}");
        for traced in ["otel.name", "rpc.method", "error.type"] {
            assert!(!line.contains(traced), "{traced} in {line}");
        }
    }

    #[test]
    fn json_lines_name_the_call_without_trace_fields() {
        let line: Value = serde_json::from_str(&line(true)).unwrap();
        assert_eq!(line["service"], "lab");
        assert_eq!(line["method"], "boom");
        assert_eq!(line["message"], "call failed");
        assert_eq!(line["reason"], "bad");
        assert_eq!(line["level"], "WARN");
        for traced in ["otel.name", "rpc.method", "error.type"] {
            assert!(line.get(traced).is_none(), "{traced} in {line}");
        }
    }
}
