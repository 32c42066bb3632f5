//! The failure path of event handling, written once and run on every broker: retries with
//! backoff through retry queues, the dead-letter queue, listing and replaying it, moves
//! confirmed before acks, and Nameko's unreliable handlers. Needs the `faults` module beside
//! it.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use contracts_core::events::retry::{self, RetryPolicy};
use contracts_core::transport::{Message, Properties, TransportError};
use contracts_core::{EventHandler, ServiceRunner, SharedTransport};
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use serde_json::json;
use tokio::sync::mpsc;

use crate::faults::{Entry, Faulty};

const GUARD: Duration = Duration::from_secs(30);

async fn guarded<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {GUARD:?}"))
}

fn event(user_id: u64) -> UserCreated {
    UserCreated {
        user_id,
        name: format!("user {user_id}"),
    }
}

/// A handler that fails user 1, panics on user 2 and takes user 3, until `healed` is set;
/// it reports every attempt as `(user_id, attempt)`.
fn flaky(healed: Arc<AtomicBool>) -> (EventHandler, mpsc::UnboundedReceiver<u64>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = UserServiceContract::user_created().handler(
        "flaky",
        "on_user_created",
        move |e: UserCreated| {
            let (tx, healed) = (tx.clone(), healed.clone());
            async move {
                tx.send(e.user_id).unwrap();
                if healed.load(Ordering::SeqCst) {
                    return Ok(());
                }
                match e.user_id {
                    1 => Err(format!("user {} refused", e.user_id)),
                    2 => panic!("handler bug"),
                    _ => Ok(()),
                }
            }
        },
    );
    (handler, rx)
}

/// Users 1 and 2 fail three times each (first try, then retries after 50 and 100 ms), then
/// land in the dead-letter queue with their error and attempt count; user 3 is handled once.
/// Listing leaves the dead letters in place; replaying sends them back to this handler only.
pub(crate) async fn retried_then_dead_lettered_then_replayed(transport: SharedTransport) {
    let policy = RetryPolicy::new([50, 100].map(Duration::from_millis));
    let healed = Arc::new(AtomicBool::new(false));
    let (handler, mut attempts) = flaky(healed.clone());
    let handler = handler.retry(policy.clone());
    let queue = handler.queue_name();
    let running = ServiceRunner::new(transport.clone())
        .subscribe(handler)
        .start()
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(transport.clone());
    for id in 1..=3 {
        publisher.user_created(&event(id)).await.unwrap();
    }
    let mut seen = Vec::new();
    // 3 attempts each for users 1 and 2, one for user 3.
    while seen.len() < 7 {
        seen.push(guarded("attempts", attempts.recv()).await.unwrap());
    }
    // Stopping waits for the handlers in flight, and so for their last move.
    running.stop().await;
    seen.sort_unstable();
    assert_eq!(seen, [1, 1, 1, 2, 2, 2, 3]);
    assert!(attempts.try_recv().is_err(), "no fourth attempt");

    let letters = retry::dead_letters(transport.as_ref(), &queue)
        .await
        .unwrap();
    let mut users: Vec<_> = letters
        .iter()
        .map(|l| (l.payload()["user_id"].as_u64().unwrap(), l.attempts))
        .collect();
    users.sort_unstable();
    assert_eq!(users, [(1, 3), (2, 3)]);
    for letter in &letters {
        assert_eq!(letter.event, "user_created");
        assert_eq!(letter.exchange, "user_service.events");
        match letter.payload()["user_id"].as_u64() {
            Some(1) => assert_eq!(letter.error, "user 1 refused"),
            _ => assert!(
                letter.error.contains("panicked: handler bug"),
                "{}",
                letter.error
            ),
        }
    }
    assert_eq!(
        retry::dead_letters(transport.as_ref(), &queue)
            .await
            .unwrap()
            .len(),
        2,
        "listing leaves the dead letters where they are"
    );

    // Fixed: replay, and both are handled once more, successfully.
    healed.store(true, Ordering::SeqCst);
    let (handler, mut attempts) = flaky(healed);
    let running = ServiceRunner::new(transport.clone())
        .subscribe(handler.retry(policy))
        .start()
        .await
        .unwrap();
    assert_eq!(
        retry::replay_dead_letters(transport.as_ref(), &queue)
            .await
            .unwrap(),
        2
    );
    let mut replayed = vec![
        guarded("replay", attempts.recv()).await.unwrap(),
        guarded("replay", attempts.recv()).await.unwrap(),
    ];
    replayed.sort_unstable();
    assert_eq!(replayed, [1, 2]);
    running.stop().await;
    assert!(
        retry::dead_letters(transport.as_ref(), &queue)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Payloads that are not JSON, break the event's schema, or pass it but do not decode into
/// the handler's type skip the retries: straight to the dead-letter queue, with the reason,
/// never reaching the handler.
pub(crate) async fn bad_payloads_are_dead_lettered_at_once(transport: SharedTransport) {
    let (handler, mut attempts) = flaky(Arc::new(AtomicBool::new(true)));
    let queue = handler.queue_name();
    let running = ServiceRunner::new(transport.clone())
        .subscribe(handler.retry(RetryPolicy::new([Duration::from_secs(60)])))
        .start()
        .await
        .unwrap();
    let props = Properties {
        content_type: Some("application/json".into()),
        delivery_mode: 2,
        ..Properties::default()
    };
    for body in [
        &b"{not json"[..],
        br#"{"user_id": "one", "name": "x"}"#,
        br#"{"user_id": 1}"#,
        // Beyond `u64`: the schema carries the type's range, so it refuses this too (it once
        // took it, and only decoding could tell).
        br#"{"user_id": 100000000000000000000000000000, "name": "x"}"#,
    ] {
        let message = Message {
            properties: props.clone(),
            body: body.to_vec(),
        };
        transport
            .publish("user_service.events", "user_created", message, false)
            .await
            .unwrap();
    }
    UserServicePublisher::new(transport.clone())
        .user_created(&event(9))
        .await
        .unwrap();
    // Queues are FIFO: once the valid event published last is handled, the bad ones went by.
    assert_eq!(guarded("valid event", attempts.recv()).await, Some(9));
    running.stop().await;
    assert!(
        attempts.try_recv().is_err(),
        "no bad payload reached the handler"
    );
    let letters = retry::dead_letters(transport.as_ref(), &queue)
        .await
        .unwrap();
    assert_eq!(letters.len(), 4);
    // Handlers run concurrently: the letters need not be in publishing order.
    let errors: Vec<&str> = letters.iter().map(|l| l.error.as_str()).collect();
    let has = |test: &dyn Fn(&str) -> bool| errors.iter().any(|e| test(e));
    assert!(has(&|e| e.contains("not JSON")), "{errors:?}");
    assert!(
        has(&|e| e.contains("/user_id") && !e.contains("does not decode")),
        "{errors:?}"
    );
    assert!(has(&|e| e.contains("name")), "{errors:?}");
    assert!(
        has(&|e| e.contains("/user_id") && e.contains("greater than the maximum")),
        "{errors:?}"
    );
    assert!(!has(&|e| e.contains("does not decode")), "{errors:?}");
    assert!(letters.iter().all(|l| l.attempts == 1));
    assert!(
        letters.iter().any(|l| l.payload() == json!({"user_id": 1})),
        "the payload is kept as sent"
    );
}

async fn next_entry(journal: &mut mpsc::UnboundedReceiver<Entry>) -> Entry {
    guarded("the next move or settlement", journal.recv())
        .await
        .expect("the transport is alive")
}

fn refusing(user_id: u64) -> (EventHandler, mpsc::UnboundedReceiver<u64>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = UserServiceContract::user_created().handler(
        "mover",
        "on_user_created",
        move |e: UserCreated| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e.user_id);
                if e.user_id == user_id {
                    Err(format!("user {} refused", e.user_id))
                } else {
                    Ok(())
                }
            }
        },
    );
    (handler, rx)
}

/// A failed event's move to its dead-letter queue is confirmed before the original is acked;
/// a move the broker does not take sends the original back to its queue (never lost), and it
/// is moved once moves work again.
pub(crate) async fn moves_are_confirmed_before_the_ack(transport: SharedTransport) {
    let (faulty, mut journal) = Faulty::new(transport.clone());
    let (tx, _attempts) = mpsc::unbounded_channel();
    let handler = UserServiceContract::user_created()
        .handler("mover", "on_user_created", move |e: UserCreated| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(e.user_id);
                Err::<(), _>(format!("user {} refused", e.user_id))
            }
        })
        .retry(RetryPolicy::none());
    let queue = handler.queue_name();
    let dead = contracts_core::wire::topology::dead_letter_queue_name(&queue);
    let running = ServiceRunner::new(faulty.clone())
        .subscribe(handler)
        .start()
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(transport.clone());
    publisher.user_created(&event(1)).await.unwrap();
    // The journal records a move when its publish returned, that is once it was confirmed.
    assert_eq!(next_entry(&mut journal).await, Entry::Moved(dead.clone()));
    assert_eq!(next_entry(&mut journal).await, Entry::Acked);

    faulty.refuse_moves(true);
    publisher.user_created(&event(2)).await.unwrap();
    assert_eq!(
        next_entry(&mut journal).await,
        Entry::MoveRefused(dead.clone())
    );
    // The refused delivery is rejected with requeue, never acked. Its redelivery can be
    // refused again on another worker before this reject is journaled.
    loop {
        match next_entry(&mut journal).await {
            Entry::Rejected { requeue: true } => break,
            Entry::MoveRefused(to) => assert_eq!(to, dead),
            other => panic!("a refused move must requeue, got {other:?}"),
        }
    }
    faulty.refuse_moves(false);
    // The broker hands it back; it may be refused again before the switch is seen.
    loop {
        match next_entry(&mut journal).await {
            Entry::MoveRefused(_) | Entry::Rejected { requeue: true } => continue,
            Entry::Moved(to) => {
                assert_eq!(to, dead);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(next_entry(&mut journal).await, Entry::Acked);
    running.stop().await;
    let letters = retry::dead_letters(transport.as_ref(), &queue)
        .await
        .unwrap();
    let users: Vec<u64> = letters
        .iter()
        .map(|l| l.payload()["user_id"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [1, 2], "both dead-lettered, neither lost");
    assert!(letters.iter().all(|l| l.attempts == 1));
}

/// `reliable_delivery(false)`, Nameko's option: a failed event is logged and dropped (acked,
/// never retried or dead-lettered), and no retry or dead-letter queue exists.
pub(crate) async fn unreliable_handlers_drop_failed_events(transport: SharedTransport) {
    let (faulty, mut journal) = Faulty::new(transport.clone());
    let (handler, mut attempts) = refusing(1);
    let handler = handler.reliable_delivery(false);
    let queue = handler.queue_name();
    let running = ServiceRunner::new(faulty)
        .subscribe(handler)
        .start()
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(transport.clone());
    publisher.user_created(&event(1)).await.unwrap();
    publisher.user_created(&event(2)).await.unwrap();
    // Handled by concurrent workers: in either order.
    let mut handled = [
        guarded("a first event", attempts.recv()).await,
        guarded("a second event", attempts.recv()).await,
    ];
    handled.sort();
    assert_eq!(handled, [Some(1), Some(2)]);
    // Both settled by an ack, user 1's failure included; nothing moved anywhere.
    assert_eq!(next_entry(&mut journal).await, Entry::Acked);
    assert_eq!(next_entry(&mut journal).await, Entry::Acked);
    running.stop().await;
    assert!(attempts.try_recv().is_err(), "user 1 was not retried");
    assert!(journal.try_recv().is_err(), "no move, no redelivery");
    match retry::dead_letters(transport.as_ref(), &queue).await {
        Err(TransportError::NoSuchQueue(name)) => assert_eq!(name, format!("{queue}.dead")),
        other => panic!("expected no dead-letter queue, got {other:?}"),
    }
}
