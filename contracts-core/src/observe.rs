//! What a process reports about its own work: every call, event publish and event handling as
//! it starts and as it ends, the queues it consumes and the worker pools it runs on.
//!
//! The runtime reports to the process's [`Observer`] once one is [`install`]ed; until then
//! (the default) each report point costs one atomic load and nothing else. The
//! `contracts-telemetry` crate provides the observer that turns these reports into
//! OpenTelemetry spans and Prometheus metrics; a test or an application can install its own.
//! The work itself runs inside its observation ([`Observation::enter`] wraps each poll), which
//! is how a span becomes current for what the work logs and the calls it makes.
//!
//! One observer per process, like `tracing`'s global dispatcher and OpenTelemetry's global
//! providers: the clients, servers and publishers a process makes all report to it without
//! being handed it one by one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;

use tokio::sync::Semaphore;

use crate::transport::{Headers, SharedTransport};
use crate::validate::{Direction, Failure, ValidationError, ValidationMode};
use crate::wire;

static OBSERVER: OnceLock<Box<dyn Observer>> = OnceLock::new();

/// Report a consumer starting on `queue` to the observer, if any; the consumer is down once
/// the returned guard is dropped.
pub fn consuming(queue: &str, service: &str, transport: &SharedTransport) -> Option<ConsumerUp> {
    let observer = current()?;
    let (consuming, up) = Consuming::start(queue, service, transport);
    observer.consuming(&consuming);
    Some(up)
}

/// Run `work` to its end inside `observation`, then finish it with the outcome `outcome`
/// reads from the work's output. Each step (poll) is taken in the observation's context, so
/// what the work logs and the calls it makes are known to belong to it; dropped before the
/// end, the observation is dropped unfinished (abandoned).
pub async fn observed<O, F: Future>(
    observation: Box<dyn Observation<O>>,
    work: F,
    outcome: impl FnOnce(&F::Output) -> O,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    let mut ending = Some((observation, outcome));
    std::future::poll_fn(move |cx| {
        let (observation, _) = ending.as_ref().expect("polled after completion");
        let mut step = Poll::Pending;
        observation.enter(&mut || step = work.as_mut().poll(cx));
        if let Poll::Ready(output) = &step
            && let Some((observation, outcome)) = ending.take()
        {
            observation.finish(outcome(output));
        }
        step
    })
    .await
}

/// Make `observer` the process's observer. It can be done once; a second call returns the
/// observer it was given back.
pub fn install<O: Observer>(observer: O) -> Result<(), O> {
    let mut given = Some(observer);
    OBSERVER.get_or_init(|| Box::new(given.take().expect("taken once")));
    match given {
        None => Ok(()),
        Some(observer) => Err(observer),
    }
}

/// The process's observer, if one is installed.
#[inline]
pub fn current() -> Option<&'static dyn Observer> {
    OBSERVER.get().map(|o| &**o)
}

/// Receives the runtime's reports. Every method but the three that open an observation has a
/// default that ignores the report.
pub trait Observer: Send + Sync + 'static {
    /// A call starts: on the client before its request is encoded, on the server when its
    /// request is taken from the queue.
    fn call(&self, call: &Call<'_>) -> Box<dyn Observation<CallOutcome>>;

    /// An event is about to be encoded and published.
    fn publish(&self, event: &Publish<'_>) -> Box<dyn Observation<PublishOutcome>>;

    /// An event handler takes a delivery.
    fn handle(&self, event: &Handle<'_>) -> Box<dyn Observation<HandleOutcome>>;

    /// Write what a receiver needs to continue the current trace (the observation the caller
    /// runs inside) into the headers of an outgoing request or event.
    fn inject(&self, headers: &mut Headers) {
        let _ = headers;
    }

    /// An HTTP gateway takes a request. By default it is not observed.
    fn http(&self, request: &HttpRequest<'_>) -> Box<dyn Observation<HttpOutcome>> {
        let _ = request;
        Box::new(Unobserved)
    }

    /// A timer's run starts. By default it is not observed.
    fn tick(&self, tick: &Tick<'_>) -> Box<dyn Observation<TickOutcome>> {
        let _ = tick;
        Box::new(Unobserved)
    }

    /// A consumer starts on a queue. [`Consuming::is_up`] turns false when it ends.
    fn consuming(&self, queue: &Consuming) {
        let _ = queue;
    }

    /// A service's worker pool is created (one per service, shared by its RPC queue and its
    /// event handlers).
    fn workers(&self, pool: &WorkerPool) {
        let _ = pool;
    }

    /// A message broke its contract and went on, as [`ValidationMode::Report`] has it (with
    /// the other modes, a broken message is refused and ends its work's observation instead).
    /// The failures' reasons are redacted where the schema marks a field sensitive.
    fn violation(&self, violation: &ValidationError) {
        let _ = violation;
    }
}

/// A check's result as `mode` treats it: with [`ValidationMode::Report`] a failure is logged
/// and reported to the observer ([`Observer::violation`]) and the message goes on; with the
/// other modes it stands, and the caller refuses the message.
pub(crate) fn enforce(
    mode: ValidationMode,
    service: &str,
    name: &str,
    direction: Direction,
    checked: Result<(), Vec<Failure>>,
) -> Result<(), Vec<Failure>> {
    match checked {
        Err(failures) if mode == ValidationMode::Report => {
            let violation = ValidationError::new(service, name, direction, failures);
            tracing::warn!(
                service,
                method = name,
                direction = %direction,
                violation = %violation,
                "a message broke its contract (reported, not refused)"
            );
            if let Some(observer) = current() {
                observer.violation(&violation);
            }
            Ok(())
        }
        other => other,
    }
}

/// One observed piece of work, from its start to [`Observation::finish`]. Dropped without
/// finishing, the work was abandoned (the caller dropped the call's future).
pub trait Observation<O>: Send {
    /// Take one step of the work (`step` polls its future once) inside this observation's
    /// context — with tracing, its span made current — so the handler's logs and the calls it
    /// makes become its children. By default, the step is taken as it is.
    fn enter(&self, step: &mut dyn FnMut()) {
        step();
    }

    /// The work ended with `outcome`.
    fn finish(self: Box<Self>, outcome: O);
}

/// An observation that records nothing.
struct Unobserved;

impl<O> Observation<O> for Unobserved {
    fn finish(self: Box<Self>, _outcome: O) {}
}

/// An HTTP request as a gateway (`contracts-http`) takes it.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The route matched (`/{service}/{method}`), or the path when none did.
    pub route: &'a str,
    /// The W3C `traceparent` header the caller sent, if any.
    pub traceparent: Option<&'a str>,
    /// The W3C `tracestate` header the caller sent, if any.
    pub tracestate: Option<&'a str>,
}

/// How an HTTP request was answered: its status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HttpOutcome {
    /// The response's status code.
    pub status: u16,
}

/// A timer's run as it starts ([`crate::Timer`]).
#[derive(Clone, Copy, Debug)]
pub struct Tick<'a> {
    /// The service it belongs to.
    pub service: &'a str,
    /// The timer's name.
    pub timer: &'a str,
}

/// How a timer's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TickOutcome {
    /// It returned, without an error.
    Ok,
    /// It returned an error, or panicked (logged).
    Failed,
}

impl TickOutcome {
    /// The outcome as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
        }
    }
}

/// Which end of a call is reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller.
    Client,
    /// The service answering it.
    Server,
}

impl Side {
    /// `client` or `server`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Server => "server",
        }
    }
}

/// A call as it starts.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// Which end reports it.
    pub side: Side,
    /// The service called.
    pub service: &'a str,
    /// The method called.
    pub method: &'a str,
    /// The request's headers on the server (where the caller's trace context is); `None` on
    /// the client, whose headers are written after it starts ([`Observer::inject`]).
    pub headers: Option<&'a Headers>,
}

/// An event as it is published.
#[derive(Clone, Copy, Debug)]
pub struct Publish<'a> {
    /// The service publishing it.
    pub service: &'a str,
    /// The event's name.
    pub event: &'a str,
}

/// An event delivery as a handler takes it.
#[derive(Clone, Copy, Debug)]
pub struct Handle<'a> {
    /// The service that published the event.
    pub source: &'a str,
    /// The event's name.
    pub event: &'a str,
    /// The service whose handler takes it.
    pub service: &'a str,
    /// The handler's method.
    pub method: &'a str,
    /// The delivery's headers (where the publisher's trace context is).
    pub headers: &'a Headers,
    /// Whether the broker delivered it before (`redelivered`).
    pub redelivered: bool,
}

/// How a call ended, as either end saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// A result.
    Ok,
    /// The method's declared error.
    DeclaredError,
    /// Any other error raised by the handler (on the server: replied; on the client: received
    /// as a `RemoteError`).
    RemoteError,
    /// A message broke the contract: the request, the reply or the declared error.
    Invalid(Direction),
    /// The service has no such method.
    MethodNotFound,
    /// The request was not a Nameko request.
    BadRequest,
    /// No service is bound to take the request (client only).
    UnknownService,
    /// No reply within the deadline (client only).
    Timeout,
    /// The broker was unreachable or blocked publishing, or the connection failed.
    Unavailable,
    /// The reply was not a Nameko reply (client only).
    ProtocolError,
}

impl CallOutcome {
    /// The outcome as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::DeclaredError => "declared_error",
            Self::RemoteError => "remote_error",
            Self::Invalid(Direction::Request) => "invalid_request",
            Self::Invalid(Direction::Reply) => "invalid_reply",
            Self::Invalid(Direction::Error) => "invalid_error",
            Self::Invalid(Direction::Event) => "invalid_event",
            Self::MethodNotFound => "method_not_found",
            Self::BadRequest => "bad_request",
            Self::UnknownService => "unknown_service",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::ProtocolError => "protocol_error",
        }
    }

    /// Whether the call failed.
    pub fn is_error(self) -> bool {
        self != Self::Ok
    }

    /// How a call ended whose reply is an error dict with `exc_path` and `extra` keys, where
    /// the method declares an error of path `declared`: the one reading both ends share.
    pub fn of_error(
        exc_path: Option<&str>,
        extra: &serde_json::Map<String, serde_json::Value>,
        declared: Option<&str>,
    ) -> Self {
        match exc_path {
            Some(wire::METHOD_NOT_FOUND) => Self::MethodNotFound,
            Some(wire::MALFORMED_REQUEST | wire::INCORRECT_SIGNATURE) => Self::BadRequest,
            Some(wire::VALIDATION_ERROR) => Self::Invalid(Direction::of_error(extra)),
            Some(path) if declared == Some(path) => Self::DeclaredError,
            _ => Self::RemoteError,
        }
    }
}

/// How publishing an event ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PublishOutcome {
    /// Confirmed by the broker.
    Published,
    /// The payload broke the contract; nothing was sent.
    Invalid,
    /// Not confirmed: the broker refused it, was unreachable, or the deadline passed.
    Failed,
}

impl PublishOutcome {
    /// The outcome as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Invalid => "invalid",
            Self::Failed => "failed",
        }
    }
}

/// How handling an event delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandleOutcome {
    /// Handled and acknowledged.
    Handled,
    /// Seen before (dedupe store): acknowledged without running the handler.
    Deduplicated,
    /// Failed; moved to the retry queue to run again later.
    Retried,
    /// Failed for good (or unreadable); moved to the dead-letter queue.
    DeadLettered,
    /// Failed, and the handler does not ask for reliable delivery: dropped.
    Dropped,
    /// Failed, and could not be moved: returned to its queue.
    Requeued,
}

impl HandleOutcome {
    /// The outcome as a metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handled => "handled",
            Self::Deduplicated => "deduplicated",
            Self::Retried => "retried",
            Self::DeadLettered => "dead_lettered",
            Self::Dropped => "dropped",
            Self::Requeued => "requeued",
        }
    }

    /// Whether the handler failed.
    pub fn is_error(self) -> bool {
        !matches!(self, Self::Handled | Self::Deduplicated)
    }
}

/// A queue a consumer reads.
#[derive(Clone)]
pub struct Consuming {
    /// The queue.
    pub queue: String,
    /// The service consuming it (for a client's reply queue, the caller's name).
    pub service: String,
    /// The transport it is consumed on: its connection state and the queue's backlog can be
    /// read through it.
    pub transport: SharedTransport,
    up: Arc<AtomicBool>,
}

impl Consuming {
    /// A consumer that is up until the returned [`ConsumerUp`] is dropped.
    pub(crate) fn start(
        queue: &str,
        service: &str,
        transport: &SharedTransport,
    ) -> (Self, ConsumerUp) {
        let up = Arc::new(AtomicBool::new(true));
        let consuming = Self {
            queue: queue.to_owned(),
            service: service.to_owned(),
            transport: transport.clone(),
            up: up.clone(),
        };
        (consuming, ConsumerUp(up))
    }

    /// Whether the consumer still runs.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Consuming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consuming")
            .field("queue", &self.queue)
            .field("service", &self.service)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// Held by a running consumer; dropping it marks the consumer down.
#[derive(Debug)]
pub struct ConsumerUp(Arc<AtomicBool>);

impl Drop for ConsumerUp {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// A service's worker pool: at most `max` calls and event deliveries handled at once.
#[derive(Clone, Debug)]
pub struct WorkerPool {
    /// The service.
    pub service: String,
    /// `max_workers`.
    pub max: usize,
    permits: Arc<Semaphore>,
}

impl WorkerPool {
    pub(crate) fn new(service: &str, max: usize, permits: Arc<Semaphore>) -> Self {
        Self {
            service: service.to_owned(),
            max,
            permits,
        }
    }

    /// Workers busy now.
    pub fn busy(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// What an observation saw: its steps, how it ended.
    #[derive(Default)]
    struct Seen {
        steps: usize,
        inside: bool,
        finished: Option<&'static str>,
        dropped: bool,
    }

    struct Recording(Arc<Mutex<Seen>>);

    impl Observation<&'static str> for Recording {
        fn enter(&self, step: &mut dyn FnMut()) {
            self.0.lock().unwrap().steps += 1;
            self.0.lock().unwrap().inside = true;
            step();
            self.0.lock().unwrap().inside = false;
        }

        fn finish(self: Box<Self>, outcome: &'static str) {
            self.0.lock().unwrap().finished = Some(outcome);
        }
    }

    impl Drop for Recording {
        fn drop(&mut self) {
            self.0.lock().unwrap().dropped = true;
        }
    }

    /// Work that takes three polls, checking each runs inside the observation.
    async fn three_steps(seen: Arc<Mutex<Seen>>) -> u32 {
        for _ in 0..2 {
            assert!(seen.lock().unwrap().inside);
            tokio::task::yield_now().await;
        }
        assert!(seen.lock().unwrap().inside);
        7
    }

    #[tokio::test]
    async fn every_step_runs_inside_and_the_end_is_reported_once() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let observation = Box::new(Recording(seen.clone()));
        let output = observed(observation, three_steps(seen.clone()), |&n| {
            if n == 7 { "seven" } else { "other" }
        })
        .await;
        assert_eq!(output, 7);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.steps, 3);
        assert!(!seen.inside);
        assert_eq!(seen.finished, Some("seven"));
        assert!(seen.dropped);
    }

    #[tokio::test]
    async fn work_abandoned_midway_is_dropped_unfinished() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let observation = Box::new(Recording(seen.clone()));
        let mut work = Box::pin(observed(
            observation,
            std::future::pending::<()>(),
            |_| "never",
        ));
        let first = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await;
        assert!(first.is_pending());
        drop(work);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.steps, 1);
        assert_eq!(seen.finished, None);
        assert!(seen.dropped);
    }
}
