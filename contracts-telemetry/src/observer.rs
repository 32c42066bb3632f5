//! The observer installed into the runtime: each report becomes metrics and, with tracing on,
//! a span.

use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts_core::CallContext;
use contracts_core::observe::{
    Call, CallOutcome, Consuming, Handle, HandleOutcome, Observation, Observer, Publish,
    PublishOutcome, WorkerPool,
};
use contracts_core::transport::Headers;
use tracing::Span;

use crate::metrics::{HandlerLabels, Metrics};
use crate::{logs, traces};

pub(crate) struct TelemetryObserver {
    pub(crate) metrics: Arc<Metrics>,
    /// Spans are exported, and their context sent with every message.
    pub(crate) traces: bool,
    /// Log lines are JSON, carrying the ids of the call they were written in.
    pub(crate) json_logs: bool,
}

impl Observer for TelemetryObserver {
    fn call(&self, call: &Call<'_>) -> Box<dyn Observation<CallOutcome>> {
        let method = self.metrics.method(call.side, call.service, call.method);
        method.started();
        self.observe(
            method,
            || traces::call_span(call),
            |_, method, outcome, took| method.ended(outcome, took),
        )
    }

    fn publish(&self, event: &Publish<'_>) -> Box<dyn Observation<PublishOutcome>> {
        let labels = (event.service.to_owned(), event.event.to_owned());
        self.observe(
            labels,
            || traces::publish_span(event),
            |m, (service, event), outcome, _| m.published(&service, &event, outcome),
        )
    }

    fn handle(&self, event: &Handle<'_>) -> Box<dyn Observation<HandleOutcome>> {
        let labels = HandlerLabels {
            source: event.source.to_owned(),
            event: event.event.to_owned(),
            service: event.service.to_owned(),
            method: event.method.to_owned(),
        };
        self.observe(labels, || traces::handle_span(event), Metrics::handled)
    }

    fn inject(&self, headers: &mut Headers) {
        if self.traces {
            traces::inject(headers);
        }
    }

    fn worker(&self, context: &CallContext) {
        if self.json_logs {
            let stack = context.call_id_stack();
            logs::with_ids(&Span::current(), |ids| {
                ids.call_id_stack = stack.into_iter().map(str::to_owned).collect();
            });
        }
    }

    fn consuming(&self, queue: &Consuming) {
        self.metrics.watch_consumer(queue);
    }

    fn workers(&self, pool: &WorkerPool) {
        self.metrics.watch_pool(pool);
    }
}

impl TelemetryObserver {
    /// Start observing work labelled `labels`, in the span `span` makes; `record`
    /// writes its end into the metrics.
    fn observe<L: Send + 'static, O: Ending>(
        &self,
        labels: L,
        span: impl FnOnce() -> Span,
        record: Record<L, O>,
    ) -> Box<dyn Observation<O>> {
        // Spans for export, or for log lines to name their call by; neither: none.
        let span = if self.traces || self.json_logs {
            span()
        } else {
            Span::none()
        };
        if self.traces && self.json_logs {
            let trace = traces::ids(&span);
            logs::with_ids(&span, |ids| ids.trace = trace);
        }
        Box::new(Observed {
            metrics: self.metrics.clone(),
            labels: Some(labels),
            span,
            start: Instant::now(),
            record,
        })
    }
}

/// How an observation's end is written into the metrics: its labels, its outcome (`None`:
/// abandoned) and how long it took.
type Record<L, O> = fn(&Metrics, L, Option<O>, Duration);

/// The outcomes of the three kinds of work.
trait Ending: Copy + Send + 'static {
    fn label(self) -> &'static str;
    fn is_failure(self) -> bool;
}

impl Ending for CallOutcome {
    fn label(self) -> &'static str {
        self.as_str()
    }
    fn is_failure(self) -> bool {
        self.is_error()
    }
}

impl Ending for PublishOutcome {
    fn label(self) -> &'static str {
        self.as_str()
    }
    fn is_failure(self) -> bool {
        self != PublishOutcome::Published
    }
}

impl Ending for HandleOutcome {
    fn label(self) -> &'static str {
        self.as_str()
    }
    fn is_failure(self) -> bool {
        self.is_error()
    }
}

struct Observed<L: Send + 'static, O: Ending> {
    metrics: Arc<Metrics>,
    /// Taken when the end is recorded, so it is recorded once.
    labels: Option<L>,
    span: Span,
    start: Instant,
    record: Record<L, O>,
}

impl<L: Send + 'static, O: Ending> Observed<L, O> {
    fn end(&mut self, outcome: Option<O>) {
        let Some(labels) = self.labels.take() else {
            return;
        };
        match outcome {
            Some(outcome) if outcome.is_failure() => traces::failed(&self.span, outcome.label()),
            Some(_) => {}
            None => traces::failed(&self.span, "cancelled"),
        }
        (self.record)(&self.metrics, labels, outcome, self.start.elapsed());
    }
}

impl<L: Send + 'static, O: Ending> Observation<O> for Observed<L, O> {
    fn span(&self) -> Span {
        self.span.clone()
    }

    fn finish(mut self: Box<Self>, outcome: O) {
        self.end(Some(outcome));
    }
}

impl<L: Send + 'static, O: Ending> Drop for Observed<L, O> {
    fn drop(&mut self) {
        self.end(None);
    }
}
