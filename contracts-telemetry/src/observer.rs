//! The observer installed into the runtime: each report becomes metrics and, with tracing on,
//! a span.

use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts_core::observe::{
    Call, CallOutcome, Consuming, Handle, HandleOutcome, Observation, Observer, Publish,
    PublishOutcome, WorkerPool,
};
use contracts_core::transport::Headers;
use tracing::Span;

use crate::metrics::{HandlerLabels, MethodLabels, Metrics};
use crate::traces;

pub(crate) struct TelemetryObserver {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) traces: bool,
}

impl Observer for TelemetryObserver {
    fn call(&self, call: &Call<'_>) -> Box<dyn Observation<CallOutcome>> {
        let labels = MethodLabels {
            service: call.service.to_owned(),
            method: call.method.to_owned(),
        };
        self.metrics.call_started(call.side, &labels);
        self.observe(
            (call.side, labels),
            || traces::call_span(call),
            |m, (side, labels), outcome, took| m.call_ended(side, labels, outcome, took),
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
        Box::new(Observed {
            metrics: self.metrics.clone(),
            labels: Some(labels),
            // A span even without OpenTelemetry: its fields name the call in log lines.
            span: span(),
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
