//! A test-only service exercising what the seed services do not: optional and mixed
//! arguments, format/regex/enum constraints, panics, invalid replies, concurrency and context.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contracts_core::prelude::*;
use contracts_core::transport::{Message, Properties, QueueSpec};
use contracts_core::wire::ReplyEnvelope;
use contracts_core::{MemoryBroker, RpcClient, ServiceRunner, Transport, wire::context};
use tokio::sync::{Semaphore, watch};

/// Guard against a hang turning into a stuck CI job; never a synchronisation device.
pub(crate) const GUARD: Duration = Duration::from_secs(20);

pub(crate) async fn guarded<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {GUARD:?}"))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Tier {
    Free,
    Pro,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Contact {
    #[schemars(email)]
    pub email: String,
    #[schemars(regex(pattern = r"^[a-z]+$"))]
    pub handle: String,
    pub tier: Tier,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Small {
    #[schemars(range(max = 10))]
    pub value: u32,
}

/// What a Python caller sends as `datetime`, `date`, `Decimal` and `UUID` (kombu envelopes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Stamp {
    #[schemars(extend("format" = "date-time"))]
    pub at: String,
    #[schemars(extend("format" = "date"))]
    pub day: String,
    #[schemars(regex(pattern = r"^-?[0-9]+(\.[0-9]+)?$"))]
    pub price: String,
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
}

#[service(name = "lab")]
pub trait Lab {
    /// `a + b`, with `b` optional.
    async fn add(&self, a: i64, b: Option<i64>) -> i64;
    /// Echo a contact.
    async fn register(&self, contact: Contact) -> Contact;
    /// Panics.
    async fn boom(&self);
    /// Replies `{"value": value}`, which breaks the reply schema above 10.
    async fn small(&self, value: u32) -> Small;
    /// Blocks until the test opens the gate; returns how many calls were in flight at entry.
    async fn gate(&self) -> u32;
    /// The worker's call id stack.
    async fn stack(&self) -> Vec<String>;
    /// A context value.
    async fn context_value(&self, key: String) -> Option<serde_json::Value>;
    /// Echo a stamp.
    async fn stamp(&self, stamp: Stamp) -> Stamp;
    /// `n * by`, for integers wider than 64 bits (Python sends any size).
    async fn scale(&self, n: u128, by: u8) -> u128;
}

#[derive(Debug)]
pub(crate) struct Gate {
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub entered: watch::Sender<usize>,
    pub open: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            entered: watch::Sender::new(0),
            open: Semaphore::new(0),
        }
    }
}

impl Gate {
    pub(crate) async fn wait_entered(&self, n: usize) {
        let mut rx = self.entered.subscribe();
        guarded("gate entries", rx.wait_for(|e| *e >= n))
            .await
            .expect("gate sender alive");
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct LabImpl {
    pub gate: Arc<Gate>,
}

impl Lab for LabImpl {
    async fn add(&self, a: i64, b: Option<i64>) -> i64 {
        a + b.unwrap_or(0)
    }

    async fn register(&self, contact: Contact) -> Contact {
        contact
    }

    async fn boom(&self) {
        panic!("the lab exploded")
    }

    async fn small(&self, value: u32) -> Small {
        Small { value }
    }

    async fn gate(&self) -> u32 {
        let now = self.gate.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.gate.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.gate.entered.send_modify(|e| *e += 1);
        self.gate
            .open
            .acquire()
            .await
            .expect("gate semaphore open")
            .forget();
        self.gate.in_flight.fetch_sub(1, Ordering::SeqCst);
        now as u32
    }

    async fn stack(&self) -> Vec<String> {
        context::current()
            .map(|c| c.call_id_stack().into_iter().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    async fn context_value(&self, key: String) -> Option<serde_json::Value> {
        context::current().and_then(|c| c.get(&key).cloned())
    }

    async fn stamp(&self, stamp: Stamp) -> Stamp {
        stamp
    }

    async fn scale(&self, n: u128, by: u8) -> u128 {
        n * u128::from(by)
    }
}

#[service(name = "relay")]
pub trait Relay {
    /// Calls `lab.stack` and returns what it saw.
    async fn stack_via_lab(&self) -> Vec<String>;
}

pub(crate) struct RelayImpl {
    pub lab: LabClient,
}

impl Relay for RelayImpl {
    async fn stack_via_lab(&self) -> Vec<String> {
        self.lab.stack().await.expect("lab.stack")
    }
}

/// Publish `body` with `properties` to `nameko-rpc` / `routing_key` and wait for the reply.
pub(crate) async fn raw_request(
    broker: &dyn Transport,
    routing_key: &str,
    properties: Properties,
    body: &[u8],
) -> ReplyEnvelope {
    raw_request_via(broker, "nameko-rpc", routing_key, properties, body).await
}

/// [`raw_request`] on another RPC exchange.
pub(crate) async fn raw_request_via(
    broker: &dyn Transport,
    exchange: &str,
    routing_key: &str,
    mut properties: Properties,
    body: &[u8],
) -> ReplyEnvelope {
    static N: AtomicUsize = AtomicUsize::new(0);
    let queue = format!("raw-replies-{}", N.fetch_add(1, Ordering::SeqCst));
    let spec = QueueSpec {
        name: queue.clone(),
        durable: false,
        exclusive: true,
        auto_delete: true,
        arguments: Default::default(),
    };
    broker.declare_queue(&spec).await.unwrap();
    broker.bind(&queue, exchange, &queue).await.unwrap();
    let mut consumer = broker.consume(&queue, 0).await.unwrap();
    properties.reply_to = Some(queue.clone());
    properties
        .correlation_id
        .get_or_insert_with(|| "raw-1".to_owned());
    broker
        .publish(
            exchange,
            routing_key,
            Message {
                properties,
                body: body.to_vec(),
            },
            true,
        )
        .await
        .unwrap();
    let delivery = guarded("raw reply", consumer.next())
        .await
        .expect("a reply");
    assert_eq!(
        delivery.message.properties.correlation_id.as_deref(),
        Some("raw-1"),
        "the reply carries the request's correlation id"
    );
    assert_eq!(
        delivery.message.properties.content_type.as_deref(),
        Some("application/json")
    );
    delivery.acker.ack().await.unwrap();
    serde_json::from_slice(&delivery.message.body).expect("a Nameko reply body")
}

pub(crate) async fn client(broker: &MemoryBroker, name: &str) -> RpcClient {
    RpcClient::connect(Arc::new(broker.clone()), name)
        .await
        .expect("client connects")
}

/// Serve the lab on `broker`.
pub(crate) async fn serve(
    broker: &Arc<contracts_amqp::AmqpTransport>,
) -> contracts_core::RunningServices {
    ServiceRunner::new(broker.clone())
        .serve(LabServer::new(LabImpl::default()))
        .start()
        .await
        .expect("lab starts")
}

/// Wait until `broker` is back after a loss it counted `before` reconnections ahead of: the
/// count rises before the link says it is up, so a reconnection done before this wait began
/// is still seen (a watch of the state keeps only its latest value, and can skip a `false`).
pub(crate) async fn reconnected(broker: &contracts_amqp::AmqpTransport, before: u64) {
    let mut connected = broker.watch_connected();
    guarded(
        "the reconnection",
        connected.wait_for(|up| *up && broker.reconnections() > before),
    )
    .await
    .expect("the transport is alive");
}

/// Wait until `connected` says `up`.
pub(crate) async fn until(connected: &mut watch::Receiver<bool>, up: bool) {
    guarded("the connection state", connected.wait_for(|c| *c == up))
        .await
        .expect("the transport is alive");
}
