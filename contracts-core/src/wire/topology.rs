//! Nameko's names and declaration flags for exchanges and queues, and the properties its
//! messages carry (docs/nameko-wire.md, "Topology").
//! Every flag here must match Nameko's bit for bit, or RabbitMQ refuses one of the two
//! declarations when Rust and Python instances share a broker.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

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

/// The queue named by [`rpc_queue_name`]: durable, shared, no arguments; bound with
/// [`rpc_binding`].
pub fn rpc_queue(service: &str) -> QueueSpec {
    QueueSpec {
        name: rpc_queue_name(service),
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: Headers::new(),
    }
}

/// `<service>.*`: every method of the service.
pub fn rpc_binding(service: &str) -> String {
    format!("{service}.*")
}

/// `<service>.<method>`: the routing key of a call on the RPC exchange.
pub fn rpc_routing_key(service: &str, method: &str) -> String {
    format!("{service}.{method}")
}

/// `rpc.reply-<caller>-<uuid>` with `x-expires`, bound by the uuid.
pub fn reply_queue(caller: &str, id: &str) -> QueueSpec {
    let mut arguments = Headers::new();
    arguments.insert("x-expires".to_owned(), json!(REPLY_QUEUE_EXPIRES_MS));
    QueueSpec {
        name: format!("rpc.reply-{caller}-{id}"),
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments,
    }
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

/// The queue an event handler consumes. Its name follows Nameko's `handler_type`;
/// `broadcast_identifier` tells broadcast instances apart (others ignore it). With Nameko's
/// `reliable_delivery` (the default) the queue is durable and never auto-deleted; without it
/// the queue goes with its last consumer (events published meanwhile are lost), and a
/// broadcast queue is also exclusive to its connection (docs/nameko-wire.md, "Events").
pub fn event_queue(
    names: HandlerNames<'_>,
    handler_type: HandlerType,
    broadcast_identifier: &str,
    reliable_delivery: bool,
) -> QueueSpec {
    let HandlerNames {
        source,
        event,
        service,
        method,
    } = names;
    let name = match handler_type {
        HandlerType::ServicePool => format!("evt-{source}-{event}--{service}.{method}"),
        HandlerType::Singleton => format!("evt-{source}-{event}"),
        HandlerType::Broadcast => {
            format!("evt-{source}-{event}--{service}.{method}-{broadcast_identifier}")
        }
    };
    QueueSpec {
        name,
        durable: true,
        exclusive: !reliable_delivery && handler_type == HandlerType::Broadcast,
        auto_delete: !reliable_delivery,
        arguments: Headers::new(),
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
        assert_eq!(rpc_queue("user_service").name, "rpc-user_service");
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
            event_queue(NAMES, HandlerType::ServicePool, "x", true).name,
            "evt-src-evt--svc.on_evt"
        );
        assert_eq!(
            event_queue(NAMES, HandlerType::Singleton, "x", true).name,
            "evt-src-evt"
        );
        assert_eq!(
            event_queue(NAMES, HandlerType::Broadcast, "abc", true).name,
            "evt-src-evt--svc.on_evt-abc"
        );
    }

    #[test]
    fn reliable_delivery_flags() {
        let reliable = event_queue(NAMES, HandlerType::Broadcast, "a", true);
        assert!(reliable.durable && !reliable.auto_delete && !reliable.exclusive);
        let unreliable = event_queue(NAMES, HandlerType::Broadcast, "a", false);
        assert!(unreliable.auto_delete && unreliable.exclusive && unreliable.durable);
        let pool = event_queue(NAMES, HandlerType::ServicePool, "a", false);
        assert!(pool.auto_delete && !pool.exclusive);
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
