//! Prometheus metrics: what the observer counts as work happens, and what is read off the
//! process's consumers, pools and broker connections when a scrape asks.
//!
//! Every name starts with `contracts_`, durations are histograms in seconds, counters end in
//! `_total`; labels hold only names from contracts (services, methods, events, queues) and
//! outcomes, never ids or payloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use contracts_core::observe::{
    CallOutcome, Consuming, HandleOutcome, HttpOutcome, PublishOutcome, Side, TickOutcome,
    WorkerPool,
};
use contracts_core::validate::ValidationError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// Bucket bounds in seconds: sub-millisecond calls (in memory, or a fast service on a near
/// broker) up to the default RPC timeout, with OpenTelemetry's advisory bounds between.
const DURATION_BUCKETS: [f64; 18] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 30.0,
];

/// How long a scrape waits for one queue's backlog before leaving it out.
const BACKLOG_TIMEOUT: Duration = Duration::from_secs(2);

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MethodLabels {
    pub(crate) service: String,
    pub(crate) method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: String,
    method: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PublishLabels {
    service: String,
    event: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HandlerLabels {
    pub(crate) source: String,
    pub(crate) event: String,
    pub(crate) service: String,
    pub(crate) method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandledLabels {
    source: String,
    event: String,
    service: String,
    method: String,
    outcome: &'static str,
}

/// An HTTP route of a gateway.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: String,
}

/// A timer: its service and name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TimerLabels {
    pub(crate) service: String,
    pub(crate) timer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TickLabels {
    service: String,
    timer: String,
    outcome: &'static str,
}

/// A message that broke its contract: whose, and which of its interaction's messages.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ViolationLabels {
    service: String,
    method: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
    service: String,
}

/// One side's call metrics.
#[derive(Debug)]
struct CallMetrics {
    calls: Family<CallLabels, Counter>,
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    in_flight: Family<MethodLabels, Gauge>,
}

impl CallMetrics {
    fn new() -> Self {
        Self {
            calls: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            in_flight: Family::default(),
        }
    }

    fn register(&self, registry: &mut Registry, side: &str, whose: &str) {
        registry.register(
            format!("rpc_{side}_calls"),
            format!("RPC calls {whose}, by how they ended"),
            self.calls.clone(),
        );
        registry.register_with_unit(
            format!("rpc_{side}_duration"),
            format!("Time RPC calls {whose} took, from start to reply"),
            Unit::Seconds,
            self.duration.clone(),
        );
        registry.register(
            format!("rpc_{side}_in_flight"),
            format!("RPC calls {whose} now under way"),
            self.in_flight.clone(),
        );
    }
}

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    client: CallMetrics,
    server: CallMetrics,
    published: Family<PublishLabels, Counter>,
    handled: Family<HandledLabels, Counter>,
    handling: Family<HandlerLabels, Histogram, fn() -> Histogram>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    ticks: Family<TickLabels, Counter>,
    ticking: Family<TimerLabels, Histogram, fn() -> Histogram>,
    violations: Family<ViolationLabels, Counter>,
    workers_busy: Family<ServiceLabels, Gauge>,
    workers_max: Family<ServiceLabels, Gauge>,
    queue_messages: Family<QueueLabels, Gauge>,
    consumer_up: Family<QueueLabels, Gauge>,
    broker_connected: Gauge,
    broker_reconnections: Counter,
    watched: Mutex<Watched>,
    methods: RwLock<Methods>,
}

/// What a scrape reads off: consumers (and, through them, transports) and pools.
#[derive(Debug, Default)]
struct Watched {
    consumers: Vec<Consuming>,
    pools: Vec<WorkerPool>,
    /// Reconnections already added to the counter, per transport (by address).
    reconnections_seen: Vec<(usize, u64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered and at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("contracts");
        let client = CallMetrics::new();
        let server = CallMetrics::new();
        client.register(&mut registry, "client", "made");
        server.register(&mut registry, "server", "served");
        let published = Family::<PublishLabels, Counter>::default();
        registry.register(
            "events_published",
            "Events published, by how publishing ended",
            published.clone(),
        );
        let handled = Family::<HandledLabels, Counter>::default();
        registry.register(
            "events_handled",
            "Event deliveries taken by handlers, by how they were settled: handled, deduplicated, retried, dead_lettered, dropped or requeued",
            handled.clone(),
        );
        let handling = Family::<HandlerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register_with_unit(
            "event_handling_duration",
            "Time event handlers took, settling included",
            Unit::Seconds,
            handling.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests an HTTP gateway answered, by route and status code",
            http_requests.clone(),
        );
        let http_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram,
            );
        registry.register_with_unit(
            "http_request_duration",
            "Time an HTTP gateway took to answer, the call over the broker included",
            Unit::Seconds,
            http_duration.clone(),
        );
        let ticks = Family::<TickLabels, Counter>::default();
        registry.register(
            "timer_runs",
            "Timer runs, by how they ended: ok or failed",
            ticks.clone(),
        );
        let ticking = Family::<TimerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register_with_unit(
            "timer_run_duration",
            "Time timer runs took",
            Unit::Seconds,
            ticking.clone(),
        );
        let violations = Family::<ViolationLabels, Counter>::default();
        registry.register(
            "validation_violations",
            "Messages that broke their contract and went on (validation mode `report`), by service, method or event, and direction",
            violations.clone(),
        );
        let workers_busy = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            "workers_busy",
            "Workers of a service handling a call or event now",
            workers_busy.clone(),
        );
        let workers_max = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            "workers_max",
            "A service's max_workers: calls and events it handles at once",
            workers_max.clone(),
        );
        let queue_messages = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "queue_messages",
            "Messages waiting in a queue this process consumes (its backlog)",
            queue_messages.clone(),
        );
        let consumer_up = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "consumer_up",
            "Whether this process's consumer of a queue is running (1) or ended (0)",
            consumer_up.clone(),
        );
        let broker_connected = Gauge::default();
        registry.register(
            "broker_connected",
            "Whether every broker connection of the process is up (1) or not (0)",
            broker_connected.clone(),
        );
        let broker_reconnections = Counter::default();
        registry.register(
            "broker_reconnections",
            "Broker connections re-established after a loss",
            broker_reconnections.clone(),
        );
        registry.register(
            "build",
            "The contracts runtime's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Self {
            registry,
            client,
            server,
            published,
            handled,
            handling,
            http_requests,
            http_duration,
            ticks,
            ticking,
            violations,
            workers_busy,
            workers_max,
            queue_messages,
            consumer_up,
            broker_connected,
            broker_reconnections,
            watched: Mutex::default(),
            methods: RwLock::default(),
        }
    }

    fn side(&self, side: Side) -> &CallMetrics {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// The metrics of `service.method` on `side`, created on first use. Looked up once per
    /// call, by borrowed names: nothing is allocated on the way once a method has been seen.
    pub(crate) fn method(&self, side: Side, service: &str, method: &str) -> Arc<MethodMetrics> {
        let slot = |methods: &Methods| {
            methods
                .get(service)
                .and_then(|m| m.get(method))
                .map(|pair| pair[side as usize].clone())
        };
        if let Some(Some(found)) = slot(&self.methods.read().expect("methods lock")) {
            return found;
        }
        let mut methods = self.methods.write().expect("methods lock");
        let pair = methods
            .entry(service.to_owned())
            .or_default()
            .entry(method.to_owned())
            .or_default();
        pair[side as usize]
            .get_or_insert_with(|| {
                let labels = MethodLabels {
                    service: service.to_owned(),
                    method: method.to_owned(),
                };
                let side = self.side(side);
                Arc::new(MethodMetrics {
                    in_flight: side.in_flight.get_or_create_owned(&labels),
                    duration: side.duration.get_or_create_owned(&labels),
                    calls: side.calls.clone(),
                    by_outcome: RwLock::default(),
                    labels,
                })
            })
            .clone()
    }

    pub(crate) fn violated(&self, violation: &ValidationError) {
        self.violations
            .get_or_create(&ViolationLabels {
                service: violation.service.clone(),
                method: violation.method.clone(),
                direction: violation.direction.to_string(),
            })
            .inc();
    }

    pub(crate) fn published(&self, service: &str, event: &str, outcome: Option<PublishOutcome>) {
        // Publishing's duration is the broker's confirm: the span has it; no histogram.
        self.published
            .get_or_create(&PublishLabels {
                service: service.to_owned(),
                event: event.to_owned(),
                outcome: outcome.map_or("cancelled", PublishOutcome::as_str),
            })
            .inc();
    }

    pub(crate) fn answered(
        &self,
        labels: RouteLabels,
        outcome: Option<HttpOutcome>,
        took: Duration,
    ) {
        self.http_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.http_requests
            .get_or_create(&HttpLabels {
                route: labels.route,
                status: outcome.map_or_else(|| "cancelled".to_owned(), |o| o.status.to_string()),
            })
            .inc();
    }

    pub(crate) fn ticked(&self, labels: TimerLabels, outcome: Option<TickOutcome>, took: Duration) {
        self.ticking
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.ticks
            .get_or_create(&TickLabels {
                service: labels.service,
                timer: labels.timer,
                outcome: outcome.map_or("cancelled", TickOutcome::as_str),
            })
            .inc();
    }

    pub(crate) fn handled(
        &self,
        labels: HandlerLabels,
        outcome: Option<HandleOutcome>,
        took: Duration,
    ) {
        self.handling
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        let HandlerLabels {
            source,
            event,
            service,
            method,
        } = labels;
        self.handled
            .get_or_create(&HandledLabels {
                source,
                event,
                service,
                method,
                outcome: outcome.map_or("cancelled", HandleOutcome::as_str),
            })
            .inc();
    }

    pub(crate) fn watch_consumer(&self, consuming: &Consuming) {
        let mut watched = self.watched.lock().expect("watched lock");
        // A consumer started again on the same queue (a restarted runner) replaces the old.
        watched.consumers.retain(|c| c.queue != consuming.queue);
        watched.consumers.push(consuming.clone());
    }

    pub(crate) fn watch_pool(&self, pool: &WorkerPool) {
        let mut watched = self.watched.lock().expect("watched lock");
        watched.pools.retain(|p| p.service != pool.service);
        watched.pools.push(pool.clone());
    }

    /// Whether the process can take work: every consumer up, every broker connection up.
    pub fn ready(&self) -> Readiness {
        let watched = self.watched.lock().expect("watched lock");
        let down: Vec<String> = watched
            .consumers
            .iter()
            .filter(|c| !c.is_up())
            .map(|c| format!("consumer of {} ended", c.queue))
            .chain(
                watched
                    .consumers
                    .iter()
                    .filter(|c| !c.transport.is_connected())
                    .map(|c| format!("broker connection of {} is down", c.queue)),
            )
            .collect();
        if down.is_empty() {
            Readiness::Ready
        } else {
            Readiness::NotReady(down)
        }
    }

    /// Read what is read at scrape time (backlogs, pools, connections), then write every
    /// metric in Prometheus' text format.
    pub async fn render(&self) -> String {
        self.refresh().await;
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }

    async fn refresh(&self) {
        let (consumers, pools) = {
            let mut watched = self.watched.lock().expect("watched lock");
            // Transports, once each, by address.
            let mut transports: Vec<_> = watched
                .consumers
                .iter()
                .map(|c| c.transport.clone())
                .collect();
            transports.sort_by_key(|t| Arc::as_ptr(t).cast::<()>() as usize);
            transports.dedup_by_key(|t| Arc::as_ptr(t).cast::<()>() as usize);
            let connected = transports.iter().all(|t| t.is_connected());
            self.broker_connected.set(i64::from(connected));
            for transport in &transports {
                let key = Arc::as_ptr(transport).cast::<()>() as usize;
                let now = transport.reconnections();
                let seen = match watched
                    .reconnections_seen
                    .iter_mut()
                    .find(|(k, _)| *k == key)
                {
                    Some((_, seen)) => seen,
                    None => {
                        watched.reconnections_seen.push((key, 0));
                        &mut watched.reconnections_seen.last_mut().expect("pushed").1
                    }
                };
                self.broker_reconnections.inc_by(now.saturating_sub(*seen));
                *seen = now.max(*seen);
            }
            (watched.consumers.clone(), watched.pools.clone())
        };
        for pool in &pools {
            let labels = ServiceLabels {
                service: pool.service.clone(),
            };
            self.workers_busy
                .get_or_create(&labels)
                .set(i64::try_from(pool.busy()).unwrap_or(i64::MAX));
            self.workers_max
                .get_or_create(&labels)
                .set(i64::try_from(pool.max).unwrap_or(i64::MAX));
        }
        for consumer in &consumers {
            let labels = QueueLabels {
                queue: consumer.queue.clone(),
                service: consumer.service.clone(),
            };
            self.consumer_up
                .get_or_create(&labels)
                .set(i64::from(consumer.is_up()));
            let backlog = tokio::time::timeout(
                BACKLOG_TIMEOUT,
                consumer.transport.message_count(&consumer.queue),
            )
            .await;
            match backlog {
                Ok(Ok(Some(n))) => {
                    self.queue_messages
                        .get_or_create(&labels)
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                // Unknown now (the broker is away, the queue is gone): no stale figure.
                _ => {
                    self.queue_messages.remove(&labels);
                }
            }
        }
    }
}

type Methods = HashMap<String, HashMap<String, [Option<Arc<MethodMetrics>>; 2]>>;

/// One method's call metrics on one side.
#[derive(Debug)]
pub(crate) struct MethodMetrics {
    in_flight: Gauge,
    duration: Histogram,
    calls: Family<CallLabels, Counter>,
    /// The counter of each outcome seen so far.
    by_outcome: RwLock<Vec<(&'static str, Counter)>>,
    labels: MethodLabels,
}

impl MethodMetrics {
    pub(crate) fn started(&self) {
        self.in_flight.inc();
    }

    /// `outcome` is `None` for a call abandoned by its caller.
    pub(crate) fn ended(&self, outcome: Option<CallOutcome>, took: Duration) {
        self.in_flight.dec();
        self.duration.observe(took.as_secs_f64());
        let outcome = outcome.map_or("cancelled", CallOutcome::as_str);
        let known = self
            .by_outcome
            .read()
            .expect("outcome lock")
            .iter()
            .find(|(o, _)| *o == outcome)
            .map(|(_, c)| c.clone());
        let counter = known.unwrap_or_else(|| {
            let counter = self.calls.get_or_create_owned(&CallLabels {
                service: self.labels.service.clone(),
                method: self.labels.method.clone(),
                outcome,
            });
            self.by_outcome
                .write()
                .expect("outcome lock")
                .push((outcome, counter.clone()));
            counter
        });
        counter.inc();
    }
}

/// Whether the process can take work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Every consumer is up on a connected broker.
    Ready,
    /// What is not.
    NotReady(Vec<String>),
}
