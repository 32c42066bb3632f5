//! The raw-lapin floor's plumbing, shared by the RabbitMQ benchmarks: plain lapin calls with
//! the flags Nameko uses (durable topic exchanges and queues, confirms, manual acks).

#![allow(dead_code)]

use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};

pub(crate) async fn connect(uri: &str) -> Connection {
    Connection::connect(uri, ConnectionProperties::default())
        .await
        .expect("the floor connects")
}

/// A durable topic exchange.
pub(crate) async fn topic(channel: &Channel, name: &str) {
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
}

/// A durable queue bound to `exchange` by `key`.
pub(crate) async fn bound_queue(channel: &Channel, queue: &str, exchange: &str, key: &str) {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
}

/// A consumer of `queue` on a channel of its own, with `prefetch` (0 = unlimited).
pub(crate) async fn consume(connection: &Connection, queue: &str, prefetch: u16) -> Consumer {
    let channel = connection.create_channel().await.unwrap();
    if prefetch > 0 {
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .unwrap();
    }
    channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap()
}

/// A channel in publisher-confirm mode.
pub(crate) async fn confirm_channel(connection: &Connection) -> Channel {
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
}

/// The one header Nameko's wire puts on every request and event: the call id stack, with a
/// fresh id (`<caller>.<uuid>`) in a field array, as a standalone Nameko proxy or dispatcher
/// sends it. The broker decodes all of a message's properties when it carries a header table,
/// so a floor without it would not carry Nameko's messages.
pub(crate) fn call_id_stack(caller: &str) -> FieldTable {
    let mut headers = FieldTable::default();
    let id = format!("{caller}.{}", uuid::Uuid::new_v4());
    headers.insert(
        "nameko.call_id_stack".into(),
        AMQPValue::FieldArray(vec![AMQPValue::LongString(id.into())].into()),
    );
    headers
}

/// The median of a round's figures.
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
