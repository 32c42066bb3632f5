//! An AsyncAPI 3.0 document of a set of services (`contracts docs` writes it).
//!
//! - Each RPC method is a channel on `nameko-rpc` (address `<service>.<method>`) whose
//!   operation (the service receives) has a reply on the caller's reply queue, located by
//!   the request's `reply_to` property.
//! - Each event is a channel on `<service>.events` (address = the event type); the
//!   publisher's operation sends on it, every subscriber's operation receives from it.
//! - Message payloads are the contracts' JSON Schemas. Their `$defs` move to
//!   `components.schemas` (as `<service>_<Type>`), because AsyncAPI resolves `$ref`s
//!   against the whole document ([`Components`], which the OpenAPI document uses too).

use serde_json::{Map, Value, json};

use contracts_core::contract::{MethodContract, ServiceContract, Subscription};
use contracts_core::wire::topology;

use crate::components::{Components, component_key};

fn amqp_exchange(name: &str) -> Value {
    json!({
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": name, "type": "topic", "durable": true, "autoDelete": false, "vhost": "/"},
            "bindingVersion": "0.3.0"
        }
    })
}

/// Keys AsyncAPI accepts for components and channels.
fn key(parts: &[&str]) -> String {
    component_key(parts)
}

fn message(name: &str, title: String, payload: Value) -> Value {
    json!({
        "name": name,
        "title": title,
        "contentType": topology::CONTENT_TYPE_JSON,
        "payload": payload,
    })
}

/// What the document is assembled from, filled service by service.
struct Parts {
    schemas: Components,
    channels: Map<String, Value>,
    operations: Map<String, Value>,
    messages: Map<String, Value>,
}

/// The AsyncAPI 3.0 document of `services`.
pub fn document<'a>(services: impl IntoIterator<Item = &'a ServiceContract>, title: &str) -> Value {
    let mut parts = Parts {
        schemas: Components::default(),
        channels: Map::new(),
        operations: Map::new(),
        messages: Map::new(),
    };
    let services: Vec<&ServiceContract> = services.into_iter().collect();
    for service in &services {
        let name = &service.name;
        for method in &service.methods {
            parts.rpc_method(name, method);
        }
        let exchange = topology::events_exchange_name(name);
        for event in &service.events {
            parts.event(name, &exchange, &event.name, &event.payload.schema);
        }
    }
    // Subscribers last: their operations point at the publishers' channels.
    for service in &services {
        for sub in &service.subscriptions {
            parts.subscriber(&service.name, sub);
        }
    }
    parts.document(title)
}

impl Parts {
    /// A method: its request channel and the service's receive operation, with the reply on
    /// the caller's reply queue.
    fn rpc_method(&mut self, name: &str, m: &MethodContract) {
        let method = m.name.as_str();
        let (exchange, queue) = (topology::RPC_EXCHANGE, topology::rpc_queue_name(name));
        let Self {
            schemas,
            channels,
            operations,
            messages,
        } = self;
        let request_key = key(&[name, method, "request"]);
        let reply_key = key(&[name, method, "reply"]);
        messages.insert(
            request_key.clone(),
            message(
                &request_key,
                format!("{name}.{method} request (kwargs)"),
                schemas.adopt(name, &m.request.schema),
            ),
        );
        let mut reply_payload = json!({
            "type": "object",
            "description": "Nameko's reply envelope: the result, or an error dict.",
            "properties": {
                "result": schemas.adopt(name, &m.reply.schema),
                "error": {"type": ["object", "null"]},
            },
            "required": ["result", "error"],
        });
        if let Some(error) = &m.error {
            reply_payload["properties"]["error"] = json!({
                "description": "null, a Nameko error dict, or the declared error under `payload`",
                "oneOf": [
                    {"type": "null"},
                    {"type": "object", "properties": {"payload": schemas.adopt(name, &error.message.schema)}},
                ],
            });
        }
        messages.insert(
            reply_key.clone(),
            message(&reply_key, format!("{name}.{method} reply"), reply_payload),
        );
        let channel = key(&["rpc", name, method]);
        let reply_channel = key(&["rpc", name, method, "reply"]);
        channels.insert(
            channel.clone(),
            json!({
                "address": topology::rpc_routing_key(name, method),
                "title": topology::rpc_routing_key(name, method),
                "description": format!("Requests to {name}.{method} on the {exchange} exchange; queue {queue}."),
                "messages": {"request": {"$ref": format!("#/components/messages/{request_key}")}},
                "bindings": amqp_exchange(exchange),
            }),
        );
        channels.insert(
            reply_channel.clone(),
            json!({
                "address": null,
                "description": "The caller's reply queue rpc.reply-<caller>-<uuid>, bound by the uuid sent as reply_to.",
                "messages": {"reply": {"$ref": format!("#/components/messages/{reply_key}")}},
            }),
        );
        operations.insert(
            key(&[name, method]),
            json!({
                "action": "receive",
                "title": format!("{name} serves {method}"),
                "channel": {"$ref": format!("#/channels/{channel}")},
                "messages": [{"$ref": format!("#/channels/{channel}/messages/request")}],
                "reply": {
                    "address": {"location": "$message.header#/reply_to"},
                    "channel": {"$ref": format!("#/channels/{reply_channel}")},
                    "messages": [{"$ref": format!("#/channels/{reply_channel}/messages/reply")}],
                },
            }),
        );
    }

    /// An event: its channel on the publisher's exchange and the publisher's send operation.
    fn event(&mut self, name: &str, exchange: &str, event: &str, payload: &Value) {
        let Self {
            schemas,
            channels,
            operations,
            messages,
        } = self;
        let message_key = key(&[name, event, "event"]);
        messages.insert(
            message_key.clone(),
            message(
                &message_key,
                format!("{name}.{event}"),
                schemas.adopt(name, payload),
            ),
        );
        let channel = key(&["event", name, event]);
        channels.insert(
            channel.clone(),
            json!({
                "address": event,
                "title": format!("{name}.{event}"),
                "description": format!("The {event} event on the {exchange} exchange."),
                "messages": {"event": {"$ref": format!("#/components/messages/{message_key}")}},
                "bindings": amqp_exchange(exchange),
            }),
        );
        operations.insert(
            key(&[name, "publishes", event]),
            json!({
                "action": "send",
                "title": format!("{name} publishes {event}"),
                "channel": {"$ref": format!("#/channels/{channel}")},
                "messages": [{"$ref": format!("#/channels/{channel}/messages/event")}],
            }),
        );
    }

    /// A handler: a receive operation on the publisher's event channel, when the document has
    /// the publisher.
    fn subscriber(&mut self, name: &str, sub: &Subscription) {
        let Self {
            channels,
            operations,
            ..
        } = self;
        let channel = key(&["event", &sub.source, &sub.event]);
        if !channels.contains_key(&channel) {
            return;
        }
        operations.insert(
            key(&[name, &sub.method]),
            json!({
                "action": "receive",
                "title": format!("{name}.{} handles {}.{}", sub.method, sub.source, sub.event),
                "channel": {"$ref": format!("#/channels/{channel}")},
                "messages": [{"$ref": format!("#/channels/{channel}/messages/event")}],
            }),
        );
    }

    fn document(self, title: &str) -> Value {
        let Self {
            schemas,
            channels,
            operations,
            messages,
        } = self;
        json!({
            "asyncapi": "3.0.0",
            "info": {
                "title": title,
                "version": "1.0.0",
                "description": "Every service's RPC methods and events on Nameko's AMQP wire, generated by `contracts docs` from schemas/.",
            },
            "defaultContentType": topology::CONTENT_TYPE_JSON,
            "servers": {
                "rabbitmq": {
                    "host": "localhost:5672",
                    "protocol": "amqp",
                    "protocolVersion": "0.9.1",
                    "description": "Any RabbitMQ; the vhost and credentials come from AMQP_URI.",
                }
            },
            "channels": channels,
            "operations": operations,
            "components": {
                "messages": messages,
                "schemas": schemas.schemas,
            },
        })
    }
}
