//! Log lines: one JSON object per line for log collectors, or human-readable text.
//!
//! A JSON line holds `timestamp`, `level`, `target`, `message` and the event's own fields, the
//! fields of any `tracing` spans it was written in, and — written inside a handler — the
//! call's `service`, `method`, `call_id` and `call_id_stack` (an array, as Nameko keeps it);
//! with tracing on, `trace_id` and `span_id` of the current span (hex, the names
//! OpenTelemetry's log correlation gives them), so a line leads to its trace. A text line
//! written inside a handler ends with its `call_id=…`.
//!
//! The call's ids are read from the handler's context ([`contracts_core::wire::context`]) and the
//! current OpenTelemetry context when a line is written: a call that logs nothing pays for
//! neither.

use std::fmt::{self, Write as _};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::traces;

/// The service and method a Nameko call id (`{service}.{method}.{uuid}`) names. Method names
/// are identifiers, without dots; a service name may have some.
fn service_and_method(call_id: &str) -> Option<(&str, &str)> {
    let (name, _uuid) = call_id.rsplit_once('.')?;
    name.rsplit_once('.')
}

/// Formats span fields as a JSON object.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut map = Map::new();
        fields.record(&mut Fields(&mut map));
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
        fields.record(&mut Fields(&mut map));
        current.fields.clear();
        write!(current.fields, "{}", Value::Object(map))
    }
}

/// Formats each event as one JSON object with its spans' fields and the call's ids at the
/// top level.
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
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<SpanFields>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(fields);
                }
            }
        }
        contracts_core::wire::context::with_current(|call| {
            let stack = call.call_id_stack();
            let Some(&call_id) = stack.last() else {
                return;
            };
            if let Some((service, method)) = service_and_method(call_id) {
                line.insert("service".into(), service.into());
                line.insert("method".into(), method.into());
            }
            line.insert("call_id".into(), call_id.into());
            line.insert("call_id_stack".into(), stack.into());
        });
        if let Some((trace_id, span_id)) = traces::current_ids() {
            line.insert("trace_id".into(), Value::String(trace_id.to_string()));
            line.insert("span_id".into(), Value::String(span_id.to_string()));
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Formats each event as `tracing-subscriber`'s human-readable line, ending with the call's
/// `call_id=…` when written inside a handler.
#[derive(Debug, Default)]
pub struct TextLines {
    plain: Format,
    colored: Format,
}

impl TextLines {
    /// Lines in `tracing-subscriber`'s full format, colored where the writer takes colors.
    pub fn new() -> Self {
        Self {
            plain: Format::default().with_ansi(false),
            colored: Format::default().with_ansi(true),
        }
    }
}

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let format = if writer.has_ansi_escapes() {
            &self.colored
        } else {
            &self.plain
        };
        let call_id =
            contracts_core::wire::context::with_current(|call| call.call_id().map(str::to_owned))
                .flatten();
        let Some(call_id) = call_id else {
            return format.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        format.format_event(ctx, Writer::new(&mut line), event)?;
        writeln!(writer, "{} call_id={call_id}", line.trim_end_matches('\n'))
    }
}

/// Fields, into a JSON object.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().into(), value);
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
        self.put(field, Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use contracts_core::CallContext;
    use contracts_core::transport::Headers;

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

    /// The line a warning inside a span writes, in text or JSON, inside the handler of
    /// `lab.boom` or outside any handler.
    fn line(json: bool, in_handler: bool) -> String {
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
                layer.event_format(TextLines::new()).with_writer(make),
            ))
        };
        let warn = async {
            let span = tracing::info_span!("lookup", table = "users");
            let _entered = span.enter();
            tracing::warn!(reason = "bad", "call failed");
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            if in_handler {
                let call = CallContext::for_worker(&Headers::new(), "lab", "boom");
                runtime.block_on(contracts_core::wire::context::scope(call, warn));
            } else {
                runtime.block_on(warn);
            }
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_lines_name_the_call_and_carry_span_fields() {
        let line: Value = serde_json::from_str(&line(true, true)).unwrap();
        assert_eq!(line["service"], "lab");
        assert_eq!(line["method"], "boom");
        let call_id = line["call_id"].as_str().unwrap();
        assert!(call_id.starts_with("lab.boom."), "{line}");
        assert_eq!(line["call_id_stack"], serde_json::json!([call_id]));
        assert_eq!(line["table"], "users");
        assert_eq!(line["message"], "call failed");
        assert_eq!(line["reason"], "bad");
        assert_eq!(line["level"], "WARN");
        // No tracing here: no ids to lead to a trace.
        assert!(line.get("trace_id").is_none(), "{line}");
    }

    #[test]
    fn json_lines_outside_a_handler_name_no_call() {
        let line: Value = serde_json::from_str(&line(true, false)).unwrap();
        for key in ["service", "method", "call_id", "call_id_stack"] {
            assert!(line.get(key).is_none(), "{key} in {line}");
        }
        assert_eq!(line["message"], "call failed");
    }

    #[test]
    fn text_lines_end_with_the_call_id() {
        let inside = line(false, true);
        assert!(inside.contains(r#"lookup{table="users"}"#), "{inside}");
        assert!(
            inside.contains(r#"call failed reason="bad" call_id=lab.boom."#),
            "{inside}"
        );
        assert!(
            inside.ends_with('\n') && inside.lines().count() == 1,
            "{inside}"
        );
        let outside = line(false, false);
        assert!(!outside.contains("call_id"), "{outside}");
    }

    #[test]
    fn service_and_method_are_read_from_a_nameko_call_id() {
        let id = "lab.boom.0b1e8e2c-5f1a-4c59-9b0e-6f3f1f1f1f1f";
        assert_eq!(service_and_method(id), Some(("lab", "boom")));
        let dotted = "acme.billing.charge.0b1e8e2c-5f1a-4c59-9b0e-6f3f1f1f1f1f";
        assert_eq!(service_and_method(dotted), Some(("acme.billing", "charge")));
        assert_eq!(service_and_method("nonsense"), None);
    }
}
