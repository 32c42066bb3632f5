//! The observer installed into the runtime: each report becomes metrics and, with tracing on,
//! a span.

use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts_core::observe::{
    Call, CallOutcome, Consuming, Handle, HandleOutcome, HttpOutcome, HttpRequest, Observation,
    Observer, Publish, PublishOutcome, Tick, TickOutcome, WorkerPool,
};
use contracts_core::transport::Headers;
use contracts_core::validate::ValidationError;
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::trace::Tracer;

use crate::metrics::{HandlerLabels, Metrics, RouteLabels, TimerLabels};
use crate::traces;

pub(crate) struct TelemetryObserver {
    pub(crate) metrics: Arc<Metrics>,
    /// Where spans go, if they are exported; their context is then sent with every message.
    pub(crate) tracer: Option<Tracer>,
}

impl Observer for TelemetryObserver {
    fn call(&self, call: &Call<'_>) -> Box<dyn Observation<CallOutcome>> {
        let method = self.metrics.method(call.side, call.service, call.method);
        method.started();
        self.observe(
            method,
            |tracer| traces::call_span(tracer, call),
            |_, method, outcome, took| method.ended(outcome, took),
        )
    }

    fn publish(&self, event: &Publish<'_>) -> Box<dyn Observation<PublishOutcome>> {
        let labels = (event.service.to_owned(), event.event.to_owned());
        self.observe(
            labels,
            |tracer| traces::publish_span(tracer, event),
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
        self.observe(
            labels,
            |tracer| traces::handle_span(tracer, event),
            Metrics::handled,
        )
    }

    fn http(&self, request: &HttpRequest<'_>) -> Box<dyn Observation<HttpOutcome>> {
        let labels = RouteLabels {
            route: request.route.to_owned(),
        };
        self.observe(
            labels,
            |tracer| traces::http_span(tracer, request),
            Metrics::answered,
        )
    }

    fn tick(&self, tick: &Tick<'_>) -> Box<dyn Observation<TickOutcome>> {
        let labels = TimerLabels {
            service: tick.service.to_owned(),
            timer: tick.timer.to_owned(),
        };
        self.observe(
            labels,
            |tracer| traces::tick_span(tracer, tick),
            Metrics::ticked,
        )
    }

    fn inject(&self, headers: &mut Headers) {
        if self.tracer.is_some() {
            traces::inject(headers);
        }
    }

    fn consuming(&self, queue: &Consuming) {
        self.metrics.watch_consumer(queue);
    }

    fn workers(&self, pool: &WorkerPool) {
        self.metrics.watch_pool(pool);
    }

    fn violation(&self, violation: &ValidationError) {
        self.metrics.violated(violation);
    }
}

impl TelemetryObserver {
    /// Start observing work labelled `labels`, in the span `span` starts if tracing;
    /// `record` writes its end into the metrics.
    fn observe<L: Send + 'static, O: Ending>(
        &self,
        labels: L,
        span: impl FnOnce(&Tracer) -> Context,
        record: Record<L, O>,
    ) -> Box<dyn Observation<O>> {
        Box::new(Observed {
            metrics: self.metrics.clone(),
            labels: Some(labels),
            span: self.tracer.as_ref().map(span),
            start: Instant::now(),
            record,
        })
    }
}

/// How an observation's end is written into the metrics: its labels, its outcome (`None`:
/// abandoned) and how long it took.
type Record<L, O> = fn(&Metrics, L, Option<O>, Duration);

/// The outcomes of the kinds of work.
trait Ending: Copy + Send + 'static {
    fn label(self) -> &'static str;
    fn is_failure(self) -> bool;
    /// Write what else the outcome says into the span.
    fn annotate(self, cx: &Context) {
        let _ = cx;
    }
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

impl Ending for HttpOutcome {
    fn label(self) -> &'static str {
        // OpenTelemetry's `error.type` for HTTP is the status code.
        match self.status {
            500 => "500",
            502 => "502",
            503 => "503",
            504 => "504",
            _ => "5xx",
        }
    }
    fn is_failure(self) -> bool {
        self.status >= 500
    }
    fn annotate(self, cx: &Context) {
        traces::answered(cx, self.status);
    }
}

impl Ending for TickOutcome {
    fn label(self) -> &'static str {
        self.as_str()
    }
    fn is_failure(self) -> bool {
        self == TickOutcome::Failed
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
    /// The context holding the work's span, if tracing.
    span: Option<Context>,
    start: Instant,
    record: Record<L, O>,
}

impl<L: Send + 'static, O: Ending> Observed<L, O> {
    fn end(&mut self, outcome: Option<O>) {
        let Some(labels) = self.labels.take() else {
            return;
        };
        if let Some(cx) = &self.span {
            if let Some(outcome) = outcome {
                outcome.annotate(cx);
            }
            match outcome {
                Some(outcome) if outcome.is_failure() => traces::failed(cx, outcome.label()),
                Some(_) => {}
                None => traces::failed(cx, "cancelled"),
            }
            cx.span().end();
        }
        (self.record)(&self.metrics, labels, outcome, self.start.elapsed());
    }
}

impl<L: Send + 'static, O: Ending> Observation<O> for Observed<L, O> {
    fn enter(&self, step: &mut dyn FnMut()) {
        match &self.span {
            Some(cx) => {
                let _current = cx.clone().attach();
                step();
            }
            None => step(),
        }
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
