//! What happens to an event whose handler failed: bounded retries with backoff through
//! TTL'd retry queues, then a dead-letter queue per handler that can be listed and replayed.
//!
//! Nameko acks and drops a failed event, or with `requeue_on_error` redelivers it at once, in
//! a loop (book/src/wire.md, "What Nameko gets wrong"; book/src/reliability.md). Here a failed event is republished to
//! `<handler queue>.retry.<ms>`, a queue nobody consumes whose `x-message-ttl` is the delay
//! and whose dead-letter target is the handler queue: the broker hands it back after the
//! delay, no consumer blocks meanwhile and other events keep flowing. After the last attempt
//! it goes to `<handler queue>.dead`. The handler queue itself keeps Nameko's exact
//! declaration, so Nameko handlers can still share it.
//!
//! Moves are published with confirms before the original is acked: a crash in between means
//! a duplicate, never a loss, so handlers must tolerate duplicates.

use std::time::Duration;

use serde_json::{Value, json};

use crate::transport::{Delivery, Message, QueueSpec, SharedTransport, Transport, TransportError};
use crate::wire::topology::{self, QueueType, dead_letter_queue_name};

/// Header: how many times handlers have failed on this message.
pub const ATTEMPTS_HEADER: &str = "x-contracts-attempts";
/// Header: the last failure, in words.
pub const ERROR_HEADER: &str = "x-contracts-error";
/// Header: the exchange the event was first published to.
pub const ORIGINAL_EXCHANGE_HEADER: &str = "x-contracts-original-exchange";
/// Header: the routing key (event type) it was first published with.
pub const ORIGINAL_ROUTING_KEY_HEADER: &str = "x-contracts-original-routing-key";

/// When a failed event is tried again: after each delay in turn, then it is dead-lettered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    delays: Vec<Duration>,
}

impl Default for RetryPolicy {
    /// Three retries, after 1 s, 10 s and 60 s: long enough to ride out a restart of a
    /// dependency, short enough that a real bug reaches the dead-letter queue within minutes.
    fn default() -> Self {
        Self::new([1, 10, 60].map(Duration::from_secs))
    }
}

impl RetryPolicy {
    /// Retry after each of `delays` in turn (whole milliseconds, at least 1).
    pub fn new(delays: impl IntoIterator<Item = Duration>) -> Self {
        Self {
            delays: delays
                .into_iter()
                .map(|d| Duration::from_millis(d.as_millis().clamp(1, u128::from(u32::MAX)) as u64))
                .collect(),
        }
    }

    /// No retries: a failed event goes straight to the dead-letter queue.
    pub fn none() -> Self {
        Self { delays: Vec::new() }
    }

    /// The delays, in order.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// Attempts in all: the first one plus one per delay.
    pub fn max_attempts(&self) -> usize {
        self.delays.len() + 1
    }
}

/// The name of the retry queue for `delay` of the handler consuming `queue`.
pub fn retry_queue_name(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}", delay.as_millis())
}

/// The retry queue for `delay` of the handler consuming `queue`: a
/// [`delay_queue`](topology::delay_queue) back to `queue`.
pub fn retry_queue(queue: &str, delay: Duration, queue_type: QueueType) -> QueueSpec {
    topology::delay_queue(
        retry_queue_name(queue, delay),
        delay.as_millis() as u64,
        queue,
        queue_type,
    )
}

/// Declare the retry and dead-letter queues of the handler consuming `queue`, of its type (a
/// broadcast handler's, one instance's own, stay classic like its queue).
pub(crate) async fn declare(
    transport: &dyn Transport,
    queue: &QueueSpec,
    policy: &RetryPolicy,
) -> Result<(), TransportError> {
    let queue_type = topology::queue_type_of(queue);
    let queue = queue.name.as_str();
    for delay in policy.delays() {
        transport
            .declare_queue(&retry_queue(queue, *delay, queue_type))
            .await?;
    }
    transport
        .declare_queue(&topology::dead_letter_queue(queue, queue_type))
        .await
}

/// Where a failed delivery went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Moved {
    /// To a retry queue, to come back after the delay.
    Retry(Duration),
    /// To the dead-letter queue.
    Dead,
}

/// Move a delivery whose handling failed with `error` to its next retry queue, or to the
/// dead-letter queue once the policy is spent (at once when `retryable` is false, as for a
/// payload that breaks the contract), then ack it. If the move fails, the delivery is
/// requeued rather than lost.
pub(crate) async fn fail(
    transport: &SharedTransport,
    queue: &str,
    policy: &RetryPolicy,
    delivery: Delivery,
    error: &str,
    retryable: bool,
) -> Result<Moved, TransportError> {
    let Delivery {
        exchange,
        routing_key,
        message,
        acker,
        ..
    } = delivery;
    let mut message = Message::clone(&message);
    let headers = &mut message.properties.headers;
    let attempts = headers
        .get(ATTEMPTS_HEADER)
        .and_then(Value::as_u64)
        .unwrap_or(0)
        + 1;
    headers.insert(ATTEMPTS_HEADER.into(), json!(attempts));
    headers.insert(ERROR_HEADER.into(), json!(error));
    // The first failure records where the event came from; later ones arrive from the
    // default exchange, by the handler queue's name.
    headers
        .entry(ORIGINAL_EXCHANGE_HEADER)
        .or_insert_with(|| json!(&*exchange));
    headers
        .entry(ORIGINAL_ROUTING_KEY_HEADER)
        .or_insert_with(|| json!(&*routing_key));
    let next = usize::try_from(attempts - 1)
        .ok()
        .filter(|_| retryable)
        .and_then(|i| policy.delays().get(i).copied());
    let (target, moved) = match next {
        Some(delay) => (retry_queue_name(queue, delay), Moved::Retry(delay)),
        None => (dead_letter_queue_name(queue), Moved::Dead),
    };
    if let Err(e) = transport.publish("", &target, message, true).await {
        let _ = acker.reject(true).await;
        return Err(e);
    }
    acker.ack().await?;
    Ok(moved)
}

/// The headers RabbitMQ writes when it dead-letters a message (a quorum queue's delivery
/// limit, for our queues). A replay removes them, so that what they say is about this trip.
const DEATH_HEADERS: [&str; 7] = [
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
];

/// A message in a dead-letter queue: an event its handler gave up on, or, from a quorum work
/// queue, any message (an event or an RPC request) handed out more times than the queue's
/// delivery limit.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// The event type it was published as (for an RPC request, its `<service>.<method>`
    /// routing key).
    pub event: String,
    /// The exchange it was published to.
    pub exchange: String,
    /// How many times handling failed, deliveries to consumers lost before settling included.
    pub attempts: u64,
    /// The last failure.
    pub error: String,
    /// The message, bookkeeping headers included.
    pub message: Message,
}

impl DeadLetter {
    fn from_message(message: Message) -> Self {
        let headers = &message.properties.headers;
        let text = |key: &str| headers.get(key).and_then(Value::as_str).map(str::to_owned);
        let handled = headers
            .get(ATTEMPTS_HEADER)
            .and_then(Value::as_u64)
            .unwrap_or(0);
        // RabbitMQ's own record, where the broker moved it: the queue it was lost from, and
        // where it had been published.
        let limit = headers
            .get("x-death")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|death| death["reason"] == "delivery_limit");
        let Some(death) = limit else {
            return Self {
                event: text(ORIGINAL_ROUTING_KEY_HEADER).unwrap_or_default(),
                exchange: text(ORIGINAL_EXCHANGE_HEADER).unwrap_or_default(),
                attempts: handled,
                error: text(ERROR_HEADER).unwrap_or_default(),
                message,
            };
        };
        let lost = u64::from(topology::WORK_DELIVERY_LIMIT) + 1;
        let queue = death["queue"].as_str().unwrap_or_default();
        Self {
            event: text(ORIGINAL_ROUTING_KEY_HEADER)
                .or_else(|| death["routing-keys"][0].as_str().map(str::to_owned))
                .unwrap_or_default(),
            exchange: text(ORIGINAL_EXCHANGE_HEADER)
                .or_else(|| death["exchange"].as_str().map(str::to_owned))
                .unwrap_or_default(),
            attempts: handled + lost,
            error: format!(
                "handed out {lost} times by `{queue}` and never settled: every consumer that \
                 took it was lost first (the quorum queue's delivery limit is {})",
                topology::WORK_DELIVERY_LIMIT
            ),
            message,
        }
    }

    /// The payload as JSON (`Null` if the body is not JSON, as for a rejected body).
    pub fn payload(&self) -> Value {
        serde_json::from_slice(&self.message.body).unwrap_or(Value::Null)
    }
}

/// Every message in the dead-letter queue of the handler consuming `queue`, oldest first. The
/// queue is left as it was.
pub async fn dead_letters(
    transport: &dyn Transport,
    queue: &str,
) -> Result<Vec<DeadLetter>, TransportError> {
    let dead = dead_letter_queue_name(queue);
    // Hold every delivery unsettled until the end: settling one would put it back at the
    // head of the queue, where the next `get` would find it again.
    let mut held = Vec::new();
    while let Some((delivery, remaining)) = transport.get(&dead).await? {
        held.push(delivery);
        if remaining == 0 {
            break;
        }
    }
    let letters = held
        .iter()
        .map(|d| DeadLetter::from_message(Message::clone(&d.message)))
        .collect();
    for delivery in held {
        delivery.acker.reject(true).await?;
    }
    Ok(letters)
}

/// Send every dead letter of the handler consuming `queue` back to that handler queue (and
/// only there, not to the other subscribers of the event), with its attempts and the broker's
/// dead-lettering record reset. Returns
/// how many were replayed.
pub async fn replay_dead_letters(
    transport: &dyn Transport,
    queue: &str,
) -> Result<usize, TransportError> {
    let dead = dead_letter_queue_name(queue);
    let mut replayed = 0;
    while let Some((delivery, remaining)) = transport.get(&dead).await? {
        let mut message = Message::clone(&delivery.message);
        let headers = &mut message.properties.headers;
        for key in [ATTEMPTS_HEADER, ERROR_HEADER].iter().chain(&DEATH_HEADERS) {
            headers.remove(*key);
        }
        match transport.publish("", queue, message, true).await {
            Ok(()) => delivery.acker.ack().await?,
            Err(e) => {
                delivery.acker.reject(true).await?;
                return Err(e);
            }
        }
        replayed += 1;
        if remaining == 0 {
            break;
        }
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_named_after_the_handler_queue() {
        let retry = retry_queue("evt-a-b--c.d", Duration::from_secs(10), QueueType::Classic);
        assert_eq!(retry.name, "evt-a-b--c.d.retry.10000");
        assert_eq!(retry.arguments["x-message-ttl"], json!(10000));
        assert_eq!(retry.arguments["x-dead-letter-exchange"], json!(""));
        assert_eq!(
            retry.arguments["x-dead-letter-routing-key"],
            json!("evt-a-b--c.d")
        );
        assert_eq!(dead_letter_queue_name("evt-a-b--c.d"), "evt-a-b--c.d.dead");
    }

    #[test]
    fn policy_counts_attempts() {
        assert_eq!(RetryPolicy::default().max_attempts(), 4);
        assert_eq!(RetryPolicy::none().max_attempts(), 1);
        assert_eq!(
            RetryPolicy::new([Duration::ZERO]).delays(),
            [Duration::from_millis(1)]
        );
    }
}
