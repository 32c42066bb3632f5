//! Messages between lapin and the transport seam: AMQP basic properties, and deliveries.

use std::borrow::Cow;
use std::sync::Arc;

use contracts_core::transport::{Acker, Delivery, Message, Properties};
use contracts_core::wire::topology::{CONTENT_ENCODING_UTF8, CONTENT_TYPE_JSON};
use lapin::BasicProperties;
use lapin::types::ShortString;

use crate::channel::{AmqpAcker, ChannelGuard};
use crate::fields::{from_table, to_table};

pub(crate) fn to_properties(properties: &Properties) -> BasicProperties {
    let mut out = BasicProperties::default().with_priority(properties.priority);
    // RabbitMQ refuses a delivery mode of 0 (`Properties::default()`'s) as a frame error: 0
    // means "not said", which AMQP writes as no property (transient).
    if properties.delivery_mode != 0 {
        out = out.with_delivery_mode(properties.delivery_mode);
    }
    if let Some(v) = &properties.content_type {
        out = out.with_content_type(v.as_ref().into());
    }
    if let Some(v) = &properties.content_encoding {
        out = out.with_content_encoding(v.as_ref().into());
    }
    if let Some(v) = &properties.correlation_id {
        out = out.with_correlation_id(v.as_str().into());
    }
    if let Some(v) = &properties.reply_to {
        out = out.with_reply_to(v.as_str().into());
    }
    if let Some(v) = &properties.message_id {
        out = out.with_message_id(v.as_str().into());
    }
    if let Some(v) = &properties.expiration {
        out = out.with_expiration(v.as_str().into());
    }
    // Nameko sends `headers: {}` on replies; an empty table is what py-amqp writes too.
    out.with_headers(to_table(&properties.headers))
}

/// `value`, borrowing the constant when it is the value nearly every message carries.
fn common(value: &Option<ShortString>, usual: &'static str) -> Option<Cow<'static, str>> {
    value.as_ref().map(|v| match v.as_str() {
        v if v == usual => Cow::Borrowed(usual),
        other => Cow::Owned(other.to_owned()),
    })
}

fn from_properties(properties: &BasicProperties) -> Properties {
    let text = |v: &Option<ShortString>| v.as_ref().map(|s| s.as_str().to_owned());
    Properties {
        content_type: common(properties.content_type(), CONTENT_TYPE_JSON),
        content_encoding: common(properties.content_encoding(), CONTENT_ENCODING_UTF8),
        correlation_id: text(properties.correlation_id()),
        reply_to: text(properties.reply_to()),
        message_id: text(properties.message_id()),
        expiration: text(properties.expiration()),
        delivery_mode: properties.delivery_mode().unwrap_or(1),
        priority: properties.priority().unwrap_or(0),
        headers: properties
            .headers()
            .as_ref()
            .map(from_table)
            .unwrap_or_default(),
    }
}

/// A lapin delivery as a transport [`Delivery`]; `channel` keeps a consumer's channel open
/// until the delivery is settled.
pub(crate) fn from_lapin(
    delivery: lapin::message::Delivery,
    channel: Option<Arc<ChannelGuard>>,
) -> Delivery {
    Delivery {
        exchange: delivery.exchange.as_str().into(),
        routing_key: delivery.routing_key.as_str().into(),
        redelivered: delivery.redelivered,
        message: Arc::new(Message {
            properties: from_properties(&delivery.properties),
            body: delivery.data,
        }),
        acker: Acker::new(AmqpAcker::new(delivery.acker, channel)),
    }
}
