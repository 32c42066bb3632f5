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
