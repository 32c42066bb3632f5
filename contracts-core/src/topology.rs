//! Nameko's names and declaration flags for exchanges and queues (nameko-wire.md §1.1, §2).
//! Every flag here must match Nameko's bit for bit, or RabbitMQ refuses one of the two
//! declarations when Rust and Python instances share a broker.

use serde_json::json;
use uuid::Uuid;

use crate::transport::{ExchangeKind, ExchangeSpec, Headers, QueueSpec};
use crate::wire::RPC_EXCHANGE;

/// How long an idle reply queue lives after its consumer goes (Nameko: 5 minutes).
pub const REPLY_QUEUE_EXPIRES_MS: u64 = 300_000;

fn topic(name: String) -> ExchangeSpec {
    ExchangeSpec {
        name,
        kind: ExchangeKind::Topic,
        durable: true,
        auto_delete: false,
    }
}

/// `nameko-rpc`: topic, durable.
pub fn rpc_exchange() -> ExchangeSpec {
    rpc_exchange_named(RPC_EXCHANGE)
}

/// The RPC exchange under another name (Nameko's `rpc_exchange` setting): topic, durable.
pub fn rpc_exchange_named(name: &str) -> ExchangeSpec {
    topic(name.to_owned())
}

/// `<service>.events`: topic, durable.
pub fn events_exchange(service: &str) -> ExchangeSpec {
    topic(format!("{service}.events"))
}

/// `rpc-<service>`: durable, shared, no arguments; bound with [`rpc_binding`].
pub fn rpc_queue(service: &str) -> QueueSpec {
    QueueSpec {
        name: format!("rpc-{service}"),
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

/// How an event handler shares its queue (Nameko's `handler_type`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HandlerType {
    /// One queue per handling service and method: each service gets every event once, its
    /// instances compete (the default).
    #[default]
    ServicePool,
    /// One queue for everybody: each event is handled once in the whole cluster.
    Singleton,
    /// One queue per instance: every instance gets every event. The identifier tells
    /// instances apart; see [`HandlerType::broadcast`].
    Broadcast {
        /// Distinguishes this instance's queue.
        identifier: String,
    },
}

impl HandlerType {
    /// Broadcast with a fresh identifier (32 hex digits, as Nameko's `uuid4().hex`).
    pub fn broadcast() -> Self {
        Self::Broadcast {
            identifier: Uuid::new_v4().simple().to_string(),
        }
    }
}

/// The queue an event handler consumes, with `reliable_delivery` on (Nameko's default):
/// durable, never auto-deleted, and for broadcast, not exclusive either.
pub fn event_queue(
    source: &str,
    event: &str,
    service: &str,
    method: &str,
    handler_type: &HandlerType,
) -> QueueSpec {
    event_queue_with(source, event, service, method, handler_type, true)
}

/// [`event_queue`] with Nameko's `reliable_delivery` set as given. Without it the queue is
/// deleted when its last consumer goes (events published meanwhile are lost), and a
/// broadcast queue is also exclusive to its connection (nameko-wire.md §2).
pub fn event_queue_with(
    source: &str,
    event: &str,
    service: &str,
    method: &str,
    handler_type: &HandlerType,
    reliable_delivery: bool,
) -> QueueSpec {
    let name = match handler_type {
        HandlerType::ServicePool => format!("evt-{source}-{event}--{service}.{method}"),
        HandlerType::Singleton => format!("evt-{source}-{event}"),
        HandlerType::Broadcast { identifier } => {
            format!("evt-{source}-{event}--{service}.{method}-{identifier}")
        }
    };
    QueueSpec {
        name,
        durable: true,
        exclusive: !reliable_delivery && matches!(handler_type, HandlerType::Broadcast { .. }),
        auto_delete: !reliable_delivery,
        arguments: Headers::new(),
    }
}

/// Whether `name` can be one word of a topic routing key: a service, method or event name.
pub fn is_routing_word(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c == '.' || c == '*' || c == '#' || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn names_match_nameko() {
        assert_eq!(rpc_queue("user_service").name, "rpc-user_service");
        assert_eq!(rpc_binding("user_service"), "user_service.*");
        let reply = reply_queue("caller", "abc");
        assert_eq!(reply.name, "rpc.reply-caller-abc");
        assert_eq!(reply.arguments["x-expires"], Value::from(300_000));
        assert_eq!(
            event_queue("src", "evt", "svc", "on_evt", &HandlerType::ServicePool).name,
            "evt-src-evt--svc.on_evt"
        );
        assert_eq!(
            event_queue("src", "evt", "svc", "m", &HandlerType::Singleton).name,
            "evt-src-evt"
        );
        let unreliable = event_queue_with("s", "e", "v", "m", &HandlerType::broadcast(), false);
        assert!(unreliable.auto_delete && unreliable.exclusive && unreliable.durable);
        let pool = event_queue_with("s", "e", "v", "m", &HandlerType::ServicePool, false);
        assert!(pool.auto_delete && !pool.exclusive);
        let HandlerType::Broadcast { identifier } = HandlerType::broadcast() else {
            unreachable!()
        };
        assert_eq!(identifier.len(), 32);
        assert!(identifier.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn routing_words() {
        assert!(is_routing_word("user_service"));
        for bad in ["", "a.b", "a*", "#", "a b"] {
            assert!(!is_routing_word(bad), "{bad:?}");
        }
    }
}
