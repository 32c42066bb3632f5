//! Duplicate suppression for event handlers.
//!
//! At-least-once delivery means duplicates: a redelivery after a lost ack, a retry after a
//! crash between "moved" and "acked", a publisher that resent after a lost confirm. A handler
//! with a [`DedupeStore`] runs once per event: before it runs, the event's key is claimed;
//! a key already claimed or done means a duplicate, which is acked without running the
//! handler. A failed handler releases its claim so that the retry can run.
//!
//! The key is the publisher's `message_id` (our publishers set a fresh UUID on every event).
//! Nameko's publishers send none, so for them the key is a SHA-256 of the body and the
//! headers (whose `call_id_stack` tells two dispatches apart). Nameko's standalone
//! `event_dispatcher` sends no headers either: two of its events with the same payload are
//! then one event to a deduplicating handler. Keys are per handler queue, so every
//! subscriber still gets every event once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::transport::{BoxFuture, Message};
use crate::wire::context::is_bookkeeping;

/// What a claim found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had the key: handle the event.
    Fresh,
    /// The key is done or being handled elsewhere: this delivery is a duplicate.
    Duplicate,
}

/// Why a store could not answer. The event is then treated as failed (retried), never
/// dropped and never handled twice knowingly.
#[derive(Debug, thiserror::Error)]
#[error("dedupe store failed: {detail}")]
pub struct DedupeError {
    detail: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DedupeError {
    /// A failure described by `detail` alone.
    pub fn new(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            source: None,
        }
    }

    /// A failure caused by the store's own `error` (a Redis error, say), kept as the source.
    pub fn caused_by(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            detail: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

/// Where handled keys are remembered.
pub trait DedupeStore: Send + Sync + 'static {
    /// Claim `key` for `ttl` (after which a crashed holder's claim lapses).
    fn claim<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, DedupeError>>;
    /// The handler succeeded: remember `key` as done for `ttl`.
    fn complete<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), DedupeError>>;
    /// The handler failed: drop the claim so that a retry can run.
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), DedupeError>>;
}

/// How long claims and completions last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DedupeWindow {
    /// A claim lapses after this, so a crashed handler's event can be handled again.
    pub claim: Duration,
    /// A handled key is remembered this long: longer than any redelivery or retry takes.
    pub remember: Duration,
}

impl Default for DedupeWindow {
    /// Claims for 5 minutes, completions for 24 hours.
    fn default() -> Self {
        Self {
            claim: Duration::from_secs(300),
            remember: Duration::from_secs(24 * 3600),
        }
    }
}

/// A store in this process's memory: enough for one instance per handler queue.
#[derive(Clone, Default)]
pub struct MemoryDedupe {
    keys: Arc<Mutex<HashMap<String, Instant>>>,
}

impl std::fmt::Debug for MemoryDedupe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDedupe").finish_non_exhaustive()
    }
}

impl MemoryDedupe {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn set(&self, key: &str, ttl: Duration, only_if_absent: bool) -> bool {
        let now = Instant::now();
        let mut keys = self.keys.lock().expect("dedupe lock");
        // Sweep expired keys now and then, so the map stays as large as the window.
        if keys.len() % 1024 == 1023 {
            keys.retain(|_, until| *until > now);
        }
        if only_if_absent && keys.get(key).is_some_and(|until| *until > now) {
            return false;
        }
        keys.insert(key.to_owned(), now + ttl);
        true
    }
}

impl DedupeStore for MemoryDedupe {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, DedupeError>> {
        let claim = if self.set(key, ttl, true) {
            Claim::Fresh
        } else {
            Claim::Duplicate
        };
        Box::pin(std::future::ready(Ok(claim)))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), DedupeError>> {
        self.set(key, ttl, false);
        Box::pin(std::future::ready(Ok(())))
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), DedupeError>> {
        self.keys.lock().expect("dedupe lock").remove(key);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The dedupe key of `message` for the handler consuming `queue`.
pub fn key_of(queue: &str, message: &Message) -> String {
    match &message.properties.message_id {
        Some(id) => format!("{queue}:{id}"),
        None => {
            let mut hash = Sha256::new();
            hash.update(&message.body);
            // serde_json maps are ordered, so equal headers hash equally.
            for (name, value) in &message.properties.headers {
                if !is_bookkeeping(name) {
                    hash.update(name.as_bytes());
                    hash.update(value.to_string().as_bytes());
                }
            }
            let digest = hash.finalize();
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("{queue}:sha256:{hex}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Properties;
    use serde_json::json;

    fn message(id: Option<&str>, body: &str, stack: &str) -> Message {
        let mut properties = Properties {
            message_id: id.map(str::to_owned),
            ..Properties::default()
        };
        properties
            .headers
            .insert("nameko.call_id_stack".into(), json!([stack]));
        Message {
            properties,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn keys_prefer_the_message_id_and_ignore_bookkeeping() {
        assert_eq!(key_of("q", &message(Some("m1"), "{}", "a")), "q:m1");
        let a = key_of("q", &message(None, r#"{"x":1}"#, "a"));
        let mut retried = message(None, r#"{"x":1}"#, "a");
        retried
            .properties
            .headers
            .insert("x-contracts-attempts".into(), json!(2));
        assert_eq!(a, key_of("q", &retried), "a retry is the same event");
        assert_ne!(a, key_of("q", &message(None, r#"{"x":1}"#, "b")));
        assert_ne!(a, key_of("other", &message(None, r#"{"x":1}"#, "a")));
    }

    #[tokio::test]
    async fn memory_store_claims_once_until_released() {
        let store = MemoryDedupe::new();
        let minute = Duration::from_secs(60);
        assert_eq!(store.claim("k", minute).await.unwrap(), Claim::Fresh);
        assert_eq!(store.claim("k", minute).await.unwrap(), Claim::Duplicate);
        store.release("k").await.unwrap();
        assert_eq!(store.claim("k", minute).await.unwrap(), Claim::Fresh);
        store.complete("k", minute).await.unwrap();
        assert_eq!(store.claim("k", minute).await.unwrap(), Claim::Duplicate);
        // A lapsed claim can be taken again.
        assert_eq!(
            store.claim("short", Duration::ZERO).await.unwrap(),
            Claim::Fresh
        );
        assert_eq!(store.claim("short", minute).await.unwrap(), Claim::Fresh);
    }
}
