//! Nameko's names and declaration flags for exchanges and queues, and the properties its
//! messages carry (book/src/wire.md, "Topology").
//! Every flag here must match Nameko's bit for bit, or RabbitMQ refuses one of the two
//! declarations when Rust and Python instances share a broker.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

pub use crate::transport::QueueType;
use crate::transport::{ExchangeKind, ExchangeSpec, Headers, Properties, QueueSpec};

/// The name of Nameko's RPC exchange (its `rpc_exchange` setting's default).
pub const RPC_EXCHANGE: &str = "nameko-rpc";
/// The content type Nameko publishes and accepts by default.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// The content encoding Nameko publishes.
pub const CONTENT_ENCODING_UTF8: &str = "utf-8";
/// AMQP's `delivery_mode` for a message the broker writes to disk.
pub const PERSISTENT: u8 = 2;
/// How long an idle reply queue lives after its consumer goes (Nameko: 5 minutes).
pub const REPLY_QUEUE_EXPIRES_MS: u64 = 300_000;
/// What a broadcast handler queue's name ends in where no instance is meant (in contracts
/// and `service.json`): each running instance puts its own identifier there.
pub const BROADCAST_IDENTIFIER_PLACEHOLDER: &str = "{broadcast_identifier}";

/// The properties of every message Nameko publishes (requests, replies, events): JSON in
/// UTF-8, persistent. Callers add correlation ids, headers and the rest.
pub fn json_properties() -> Properties {
    Properties {
        content_type: Some(CONTENT_TYPE_JSON.into()),
        content_encoding: Some(CONTENT_ENCODING_UTF8.into()),
        delivery_mode: PERSISTENT,
        ..Properties::default()
    }
}

fn topic(name: String) -> ExchangeSpec {
    ExchangeSpec {
        name,
        kind: ExchangeKind::Topic,
        durable: true,
        auto_delete: false,
    }
}

/// The RPC exchange under `name` (Nameko's `rpc_exchange` setting, [`RPC_EXCHANGE`] unless
/// configured): topic, durable.
pub fn rpc_exchange_named(name: &str) -> ExchangeSpec {
    topic(name.to_owned())
}

/// `<service>.events`: where a service publishes its events.
pub fn events_exchange_name(service: &str) -> String {
    format!("{service}.events")
}

/// The exchange named by [`events_exchange_name`]: topic, durable.
pub fn events_exchange(service: &str) -> ExchangeSpec {
    topic(events_exchange_name(service))
}

/// `rpc-<service>`: the queue every instance of a service consumes its calls from.
pub fn rpc_queue_name(service: &str) -> String {
    format!("rpc-{service}")
}

/// The queue named by [`rpc_queue_name`], bound with [`rpc_binding`]: a [`work_queue`].
pub fn rpc_queue(service: &str, queue_type: QueueType) -> QueueSpec {
    work_queue(rpc_queue_name(service), queue_type)
}

/// `<service>.*`: every method of the service.
pub fn rpc_binding(service: &str) -> String {
    format!("{service}.*")
}

/// `<service>.<method>`: the routing key of a call on the RPC exchange.
pub fn rpc_routing_key(service: &str, method: &str) -> String {
    format!("{service}.{method}")
}

/// `rpc.reply-<caller>-<uuid>` with `x-expires`, bound by the uuid. Always a classic queue,
/// and it says so: one consumer, short-lived, nothing to replicate.
pub fn reply_queue(caller: &str, id: &str) -> QueueSpec {
    let mut arguments = classic_arguments();
    arguments.insert("x-expires".to_owned(), json!(REPLY_QUEUE_EXPIRES_MS));
    QueueSpec {
        name: format!("rpc.reply-{caller}-{id}"),
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments,
    }
}

/// Whether `spec` may be declared again under another name when its home node is gone: a
/// queue only this process uses that holds nothing meant to outlive its consumer, which
/// RabbitMQ deletes by itself once unused (a [`reply_queue`], with `x-expires`, or an
/// exclusive queue). A queue that others share or that keeps messages for later (a work
/// queue, a reliable broadcast queue) must wait for its node instead.
pub fn replaceable(spec: &QueueSpec) -> bool {
    spec.exclusive || spec.arguments.contains_key("x-expires")
}

/// How an event handler shares its queue: Nameko's `handler_type`, spelled as Nameko spells
/// it in contracts and `service.json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandlerType {
    /// One queue per handling service and method: each service gets every event once, its
    /// instances compete (the default).
    #[default]
    ServicePool,
    /// One queue for everybody: each event is handled once in the whole cluster.
    Singleton,
    /// One queue per instance: every instance gets every event. The instance's identifier
    /// ends the queue name (see [`broadcast_identifier`]).
    Broadcast,
}

impl HandlerType {
    /// Nameko's name for it: `service_pool`, `singleton` or `broadcast`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServicePool => "service_pool",
            Self::Singleton => "singleton",
            Self::Broadcast => "broadcast",
        }
    }
}

impl std::fmt::Display for HandlerType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fresh broadcast identifier: 32 hex digits, as Nameko's `uuid4().hex`.
pub fn broadcast_identifier() -> String {
    Uuid::new_v4().simple().to_string()
}

/// The four names an event handler's queue is made of: who publishes which event, and which
/// service's method handles it.
#[derive(Clone, Copy, Debug)]
pub struct HandlerNames<'a> {
    /// The publishing service.
    pub source: &'a str,
    /// The event type.
    pub event: &'a str,
    /// The handling service.
    pub service: &'a str,
    /// The handling method.
    pub method: &'a str,
}

/// The name of the queue an event handler consumes: `evt-<source>-<event>--<service>.<method>`
/// for a service pool, `evt-<source>-<event>` for a singleton, and the service pool's name
/// followed by `-<broadcast_identifier>` for a broadcast handler.
pub fn event_queue_name(
    names: HandlerNames<'_>,
    handler_type: HandlerType,
    broadcast_identifier: &str,
) -> String {
    let HandlerNames {
        source,
        event,
        service,
        method,
    } = names;
    match handler_type {
        HandlerType::ServicePool => format!("evt-{source}-{event}--{service}.{method}"),
        HandlerType::Singleton => format!("evt-{source}-{event}"),
        HandlerType::Broadcast => {
            format!("evt-{source}-{event}--{service}.{method}-{broadcast_identifier}")
        }
    }
}

/// The queue an event handler consumes, named by [`event_queue_name`]. With Nameko's
/// `reliable_delivery` (the default) a service pool's or singleton's queue is a
/// [`work_queue`]; without it the queue goes with its last consumer (events published
/// meanwhile are lost), and a broadcast queue is also exclusive to its connection
/// (book/src/wire.md, "Events"). Broadcast queues, one per instance, and queues that go
/// with their consumer are classic whatever `queue_type` says, and say so.
pub fn event_queue(
    names: HandlerNames<'_>,
    handler_type: HandlerType,
    broadcast_identifier: &str,
    reliable_delivery: bool,
    queue_type: QueueType,
) -> QueueSpec {
    let name = event_queue_name(names, handler_type, broadcast_identifier);
    if reliable_delivery && handler_type != HandlerType::Broadcast {
        return work_queue(name, queue_type);
    }
    QueueSpec {
        name,
        durable: true,
        exclusive: !reliable_delivery && handler_type == HandlerType::Broadcast,
        auto_delete: !reliable_delivery,
        arguments: classic_arguments(),
    }
}

/// The argument that names a queue's type.
pub const QUEUE_TYPE_ARGUMENT: &str = "x-queue-type";

/// How often a quorum work queue hands out a message that comes back unsettled (its consumer
/// died or lost its connection holding it, or requeued it) before dead-lettering it. Handlers
/// that fail never requeue (their events move to retry queues, their calls are answered), so
/// only a lost consumer counts: twenty is far above what restarts and failovers cost an
/// innocent message, and stops a message that kills every process it reaches. Set explicitly
/// because RabbitMQ 3.x has no limit unless told and 4.x defaults to 20.
pub const WORK_DELIVERY_LIMIT: u32 = 20;

/// The delivery limit of a quorum dead-letter queue: listing one returns every message to it
/// (a requeue, which counts as a delivery), and no number of listings may drop a message.
/// Not `-1`: RabbitMQ 4 reads that as no limit, but 3.x as a limit of zero (it dead-letters
/// at the first return, tried on 3.10).
pub const DEAD_LETTER_DELIVERY_LIMIT: u32 = i32::MAX as u32;

/// A durable queue that every instance of a service consumes, where work waits: an RPC queue,
/// a pooled or singleton event handler's queue. As [`QueueType::Classic`] it is exactly
/// Nameko's declaration (no arguments). As [`QueueType::Quorum`] a message handed out more than
/// [`WORK_DELIVERY_LIMIT`] times moves to [`dead_letter_queue_name`] of it, at least once (so
/// that queue must be declared too).
pub fn work_queue(name: String, queue_type: QueueType) -> QueueSpec {
    let mut arguments = Headers::new();
    if queue_type == QueueType::Quorum {
        arguments.insert("x-dead-letter-exchange".into(), json!(""));
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            json!(dead_letter_queue_name(&name)),
        );
        quorum(&mut arguments, WORK_DELIVERY_LIMIT);
    }
    durable_shared(name, arguments)
}

/// The type `spec` declares: quorum where its `x-queue-type` says so, else classic.
pub fn queue_type_of(spec: &QueueSpec) -> QueueType {
    match spec.arguments.get(QUEUE_TYPE_ARGUMENT) {
        Some(kind) if kind == QueueType::Quorum.as_str() => QueueType::Quorum,
        _ => QueueType::Classic,
    }
}

/// `<queue>.dead`: where the messages of `queue` go that cannot be handled.
pub fn dead_letter_queue_name(queue: &str) -> String {
    format!("{queue}.dead")
}

/// The dead-letter queue of `queue`, named by [`dead_letter_queue_name`]: nobody consumes it;
/// it is listed and replayed.
pub fn dead_letter_queue(queue: &str, queue_type: QueueType) -> QueueSpec {
    let mut arguments = Headers::new();
    if queue_type == QueueType::Quorum {
        quorum(&mut arguments, DEAD_LETTER_DELIVERY_LIMIT);
    }
    durable_shared(dead_letter_queue_name(queue), arguments)
}

/// A queue nobody consumes where a message waits `delay` before the broker dead-letters it to
/// `target` (through the default exchange): the delay of a retry.
pub fn delay_queue(name: String, delay_ms: u64, target: &str, queue_type: QueueType) -> QueueSpec {
    let mut arguments = Headers::new();
    arguments.insert("x-message-ttl".into(), json!(delay_ms));
    arguments.insert("x-dead-letter-exchange".into(), json!(""));
    arguments.insert("x-dead-letter-routing-key".into(), json!(target));
    if queue_type == QueueType::Quorum {
        quorum(&mut arguments, WORK_DELIVERY_LIMIT);
    }
    durable_shared(name, arguments)
}

fn durable_shared(name: String, arguments: Headers) -> QueueSpec {
    QueueSpec {
        name,
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments,
    }
}

fn classic_arguments() -> Headers {
    Headers::from_iter([(
        QUEUE_TYPE_ARGUMENT.to_owned(),
        json!(QueueType::Classic.as_str()),
    )])
}

/// Make `arguments` a quorum queue's with `delivery_limit`. A quorum queue that
/// dead-letters does so at least once: RabbitMQ's default for dead-lettering is at most once
/// (republished without confirms, lost if the target's leader is away), and its at-least-once
/// strategy needs `x-overflow: reject-publish`, a no-op without a length limit.
fn quorum(arguments: &mut Headers, delivery_limit: u32) {
    arguments.insert(
        QUEUE_TYPE_ARGUMENT.into(),
        json!(QueueType::Quorum.as_str()),
    );
    arguments.insert("x-delivery-limit".into(), json!(delivery_limit));
    if arguments.contains_key("x-dead-letter-exchange") {
        arguments.insert("x-dead-letter-strategy".into(), json!("at-least-once"));
        arguments.insert("x-overflow".into(), json!("reject-publish"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const NAMES: HandlerNames<'static> = HandlerNames {
        source: "src",
        event: "evt",
        service: "svc",
        method: "on_evt",
    };

    #[test]
    fn names_match_nameko() {
        assert_eq!(
            rpc_queue("user_service", QueueType::Classic).name,
            "rpc-user_service"
        );
        assert_eq!(rpc_binding("user_service"), "user_service.*");
        assert_eq!(
            rpc_routing_key("user_service", "create_user"),
            "user_service.create_user"
        );
        assert_eq!(events_exchange("user_service").name, "user_service.events");
        let reply = reply_queue("caller", "abc");
        assert_eq!(reply.name, "rpc.reply-caller-abc");
        assert_eq!(reply.arguments["x-expires"], Value::from(300_000));
        assert_eq!(
            event_queue(
                NAMES,
                HandlerType::ServicePool,
                "x",
                true,
                QueueType::Classic
            )
            .name,
            "evt-src-evt--svc.on_evt"
        );
        assert_eq!(
            event_queue(NAMES, HandlerType::Singleton, "x", true, QueueType::Classic).name,
            "evt-src-evt"
        );
        assert_eq!(
            event_queue(
                NAMES,
                HandlerType::Broadcast,
                "abc",
                true,
                QueueType::Classic
            )
            .name,
            "evt-src-evt--svc.on_evt-abc"
        );
    }

    #[test]
    fn reliable_delivery_flags() {
        let reliable = event_queue(NAMES, HandlerType::Broadcast, "a", true, QueueType::Classic);
        assert!(reliable.durable && !reliable.auto_delete && !reliable.exclusive);
        let unreliable = event_queue(
            NAMES,
            HandlerType::Broadcast,
            "a",
            false,
            QueueType::Classic,
        );
        assert!(unreliable.auto_delete && unreliable.exclusive && unreliable.durable);
        let pool = event_queue(
            NAMES,
            HandlerType::ServicePool,
            "a",
            false,
            QueueType::Classic,
        );
        assert!(pool.auto_delete && !pool.exclusive);
    }

    /// The arguments of every queue we declare, by type: what RabbitMQ is sent.
    #[test]
    fn queue_types_shape_the_shared_queues_and_only_those() {
        let classic_rpc = rpc_queue("svc", QueueType::Classic);
        assert!(
            classic_rpc.arguments.is_empty(),
            "Nameko's exact declaration"
        );
        let rpc = rpc_queue("svc", QueueType::Quorum);
        assert_eq!(
            Value::Object(rpc.arguments.clone()),
            json!({
                "x-queue-type": "quorum",
                "x-delivery-limit": 20,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": "rpc-svc.dead",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            })
        );
        assert!(rpc.durable && !rpc.exclusive && !rpc.auto_delete);
        for kind in [HandlerType::ServicePool, HandlerType::Singleton] {
            let queue = event_queue(NAMES, kind, "a", true, QueueType::Quorum);
            assert_eq!(queue.arguments["x-queue-type"], "quorum");
            assert_eq!(
                queue.arguments["x-dead-letter-routing-key"],
                Value::from(format!("{}.dead", queue.name))
            );
        }
        let dead = dead_letter_queue("rpc-svc", QueueType::Quorum);
        assert_eq!(dead.name, "rpc-svc.dead");
        assert_eq!(
            Value::Object(dead.arguments),
            json!({"x-queue-type": "quorum", "x-delivery-limit": i32::MAX})
        );
        let delay = delay_queue("q.retry.5".into(), 5, "q", QueueType::Quorum);
        assert_eq!(delay.arguments["x-message-ttl"], 5);
        assert_eq!(delay.arguments["x-dead-letter-strategy"], "at-least-once");
        assert_eq!(delay.arguments["x-overflow"], "reject-publish");
        // Private queues stay classic under either setting, and say so.
        for queue_type in [QueueType::Classic, QueueType::Quorum] {
            for queue in [
                event_queue(NAMES, HandlerType::Broadcast, "a", true, queue_type),
                event_queue(NAMES, HandlerType::Broadcast, "a", false, queue_type),
                event_queue(NAMES, HandlerType::ServicePool, "a", false, queue_type),
            ] {
                assert_eq!(queue.arguments["x-queue-type"], "classic", "{}", queue.name);
            }
        }
        assert_eq!(reply_queue("c", "i").arguments["x-queue-type"], "classic");
        assert_eq!(queue_type_of(&rpc), QueueType::Quorum);
        assert_eq!(queue_type_of(&classic_rpc), QueueType::Classic);
        assert_eq!(queue_type_of(&reply_queue("c", "i")), QueueType::Classic);
    }

    #[test]
    fn queue_types_are_spelled_as_rabbitmq_spells_them() {
        for (kind, name) in [
            (QueueType::Classic, "classic"),
            (QueueType::Quorum, "quorum"),
        ] {
            assert_eq!(kind.to_string(), name);
            assert_eq!(serde_json::to_value(kind).unwrap(), Value::from(name));
        }
    }

    #[test]
    fn broadcast_identifiers_are_uuid4_hex() {
        let identifier = broadcast_identifier();
        assert_eq!(identifier.len(), 32);
        assert!(identifier.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(identifier, broadcast_identifier());
    }

    #[test]
    fn handler_types_are_spelled_as_nameko_spells_them() {
        for (kind, name) in [
            (HandlerType::ServicePool, "service_pool"),
            (HandlerType::Singleton, "singleton"),
            (HandlerType::Broadcast, "broadcast"),
        ] {
            assert_eq!(kind.as_str(), name);
            assert_eq!(serde_json::to_value(kind).unwrap(), Value::from(name));
            assert_eq!(
                serde_json::from_value::<HandlerType>(Value::from(name)).unwrap(),
                kind
            );
        }
    }

    #[test]
    fn json_properties_are_persistent_json() {
        let p = json_properties();
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        assert_eq!(p.content_encoding.as_deref(), Some("utf-8"));
        assert_eq!(p.delivery_mode, 2);
    }
}
