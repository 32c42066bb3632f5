//! Duplicate suppression, written once and run on every broker and store: a delivery whose ack
//! was lost comes back (a real redelivery by the broker) and is not handled again. Needs the
//! `faults` module beside it.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contracts_core::events::dedupe::{Claim, DedupeError, DedupeStore};
use contracts_core::transport::{BoxFuture, Message, Properties};
use contracts_core::{ServiceRunner, SharedTransport};
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use tokio::sync::{mpsc, watch};

use crate::faults::Faulty;

const GUARD: Duration = Duration::from_secs(30);

async fn guarded<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {GUARD:?}"))
}

/// A store that reports every duplicate it turns away.
pub(crate) struct Watched<S> {
    inner: S,
    duplicates: watch::Sender<usize>,
}

impl<S: DedupeStore> Watched<S> {
    pub(crate) fn new(inner: S) -> (Self, watch::Receiver<usize>) {
        let (duplicates, seen) = watch::channel(0);
        (Self { inner, duplicates }, seen)
    }
}

impl<S: DedupeStore> DedupeStore for Watched<S> {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, DedupeError>> {
        Box::pin(async move {
            let claim = self.inner.claim(key, ttl).await?;
            if claim == Claim::Duplicate {
                self.duplicates.send_modify(|n| *n += 1);
            }
            Ok(claim)
        })
    }
    fn complete<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), DedupeError>> {
        self.inner.complete(key, ttl)
    }
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), DedupeError>> {
        self.inner.release(key)
    }
}

/// One event, its first ack lost: the broker redelivers it, the store recognises it, and the
/// handler has run exactly once. Then an event without a `message_id` (as Nameko publishes)
/// sent twice with the same headers is handled once too.
pub(crate) async fn redelivered_event_is_handled_once(
    broker: SharedTransport,
    store: impl DedupeStore,
) {
    let (store, mut duplicates) = Watched::new(store);
    let handled = Arc::new(AtomicUsize::new(0));
    let (tx, mut done) = mpsc::unbounded_channel();
    let handler = {
        let handled = handled.clone();
        UserServiceContract::user_created().handler(
            "mailer",
            "on_user_created",
            move |e: UserCreated| {
                let (handled, tx) = (handled.clone(), tx.clone());
                async move {
                    handled.fetch_add(1, Ordering::SeqCst);
                    tx.send(e.user_id).map_err(|_| "test gone")
                }
            },
        )
    };
    let queue = handler.queue_name();
    let (flaky, _journal) = Faulty::new(broker.clone());
    flaky.lose_next_ack();
    let running = ServiceRunner::new(flaky)
        .subscribe(handler.dedupe(store))
        .start()
        .await
        .unwrap();
    UserServicePublisher::new(broker.clone())
        .user_created(&UserCreated {
            user_id: 1,
            name: "Ann".into(),
        })
        .await
        .unwrap();
    assert_eq!(guarded("first delivery", done.recv()).await, Some(1));
    guarded("the redelivery", duplicates.wait_for(|n| *n >= 1))
        .await
        .unwrap();

    // Nameko-style: no message_id, the same headers twice.
    let nameko_style = || Message {
        properties: Properties {
            content_type: Some("application/json".into()),
            delivery_mode: 2,
            headers: serde_json::from_str(
                r#"{"nameko.call_id_stack": ["upstream.dispatch.6f1b"]}"#,
            )
            .unwrap(),
            ..Properties::default()
        },
        body: br#"{"user_id": 2, "name": "Bob"}"#.to_vec(),
    };
    for _ in 0..2 {
        broker
            .publish("user_service.events", "user_created", nameko_style(), false)
            .await
            .unwrap();
    }
    assert_eq!(guarded("nameko-style event", done.recv()).await, Some(2));
    guarded("its duplicate", duplicates.wait_for(|n| *n >= 2))
        .await
        .unwrap();
    running.stop().await;
    assert_eq!(handled.load(Ordering::SeqCst), 2, "each event handled once");
    assert!(
        contracts_core::events::retry::dead_letters(broker.as_ref(), &queue)
            .await
            .unwrap()
            .is_empty()
    );
}
