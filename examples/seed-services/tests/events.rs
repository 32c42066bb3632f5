//! Events end to end on the in-memory broker: typed publish and subscribe, validation on both
//! sides, Nameko's handler queues, context propagation, retries and dead letters.

mod duplicates;
mod failures;
mod faults;
mod lab;

use std::sync::Arc;

use contracts_core::{
    HandlerType, MemoryBroker, PublishError, RpcClient, ServiceRunner, SharedTransport,
    wire::context,
};
use lab::*;
use seed_contracts::*;
use tokio::sync::mpsc;

type Seen = mpsc::UnboundedReceiver<(UserCreated, Vec<String>)>;

/// A `user_created` handler that reports each payload with the call id stack it ran under.
fn recording(service: &str, method: &str) -> (contracts_core::EventHandler, Seen) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler =
        UserServiceContract::user_created().handler(service, method, move |event: UserCreated| {
            let tx = tx.clone();
            async move {
                let stack = context::current()
                    .map(|c| c.call_id_stack().into_iter().map(str::to_owned).collect())
                    .unwrap_or_default();
                tx.send((event, stack)).map_err(|_| "test gone")
            }
        });
    (handler, rx)
}

fn event(user_id: u64) -> UserCreated {
    UserCreated {
        user_id,
        name: format!("user {user_id}"),
    }
}

async fn next(seen: &mut Seen) -> (UserCreated, Vec<String>) {
    guarded("event", seen.recv()).await.expect("handler alive")
}

#[tokio::test]
async fn events_from_a_handler_carry_its_call_id_stack() {
    let broker = MemoryBroker::new();
    let transport: SharedTransport = Arc::new(broker.clone());
    let (handler, mut seen) = recording("audit", "on_user_created");
    let running = ServiceRunner::new(transport.clone())
        .serve(UserServiceServer::new(seed_services::Users::new(
            transport.clone(),
        )))
        .subscribe(handler)
        .start()
        .await
        .unwrap();
    let users = UserServiceClient::new(RpcClient::connect(transport, "tests").await.unwrap());
    users
        .create_user(UserData {
            user_id: 9,
            name: "Nine".into(),
        })
        .await
        .unwrap();
    let (payload, stack) = next(&mut seen).await;
    assert_eq!(
        payload,
        UserCreated {
            user_id: 9,
            name: "Nine".into()
        }
    );
    assert_eq!(stack.len(), 3, "{stack:?}");
    assert!(stack[0].starts_with("tests.call."));
    assert!(stack[1].starts_with("user_service.create_user."));
    assert!(stack[2].starts_with("audit.on_user_created."));
    running.stop().await;
}

#[tokio::test]
async fn publishers_refuse_payloads_that_break_the_contract() {
    let broker = MemoryBroker::new();
    let publisher = UserServicePublisher::new(Arc::new(broker.clone()));
    match publisher
        .user_created(&UserCreated {
            user_id: 0,
            name: String::new(),
        })
        .await
    {
        Err(PublishError::Validation(e)) => {
            assert_eq!(
                (e.service.as_str(), e.method.as_str()),
                ("user_service", "user_created")
            );
            let pointers: Vec<&str> = e.failures.iter().map(|f| f.pointer.as_str()).collect();
            assert_eq!(pointers, vec!["/name", "/user_id"]);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_payloads_are_dead_lettered_without_reaching_the_handler() {
    failures::bad_payloads_are_dead_lettered_at_once(MemoryBroker::shared()).await;
}

#[tokio::test]
async fn failed_events_are_retried_then_dead_lettered_and_can_be_replayed() {
    failures::retried_then_dead_lettered_then_replayed(MemoryBroker::shared()).await;
}

#[tokio::test]
async fn handler_types_share_queues_as_nameko_does() {
    let broker = MemoryBroker::new();
    let transport: SharedTransport = Arc::new(broker.clone());
    // Two instances of one service pool: each event handled once between them.
    let (pool_a, mut seen_a) = recording("mailer", "on_user_created");
    let (pool_b, mut seen_b) = recording("mailer", "on_user_created");
    assert_eq!(
        pool_a.queue_name(),
        "evt-user_service-user_created--mailer.on_user_created"
    );
    // Two broadcast instances: each gets every event.
    let (cast_a, mut cast_seen_a) = recording("cache", "on_user_created");
    let cast_a = cast_a.handler_type(HandlerType::Broadcast);
    let (cast_b, mut cast_seen_b) = recording("cache", "on_user_created");
    let cast_b = cast_b.handler_type(HandlerType::Broadcast);
    assert_ne!(cast_a.queue_name(), cast_b.queue_name());
    // A singleton: one queue for everyone.
    let (single, mut single_seen) = recording("anyone", "on_user_created");
    let single = single.handler_type(HandlerType::Singleton);
    assert_eq!(single.queue_name(), "evt-user_service-user_created");

    let mut running = Vec::new();
    for handler in [pool_a, pool_b, cast_a, cast_b, single] {
        running.push(
            ServiceRunner::new(transport.clone())
                .subscribe(handler)
                .start()
                .await
                .unwrap(),
        );
    }
    let publisher = UserServicePublisher::new(transport);
    for id in 1..=4 {
        publisher.user_created(&event(id)).await.unwrap();
    }
    for id in 1..=4 {
        assert_eq!(next(&mut cast_seen_a).await.0.user_id, id);
        assert_eq!(next(&mut cast_seen_b).await.0.user_id, id);
        assert_eq!(next(&mut single_seen).await.0.user_id, id);
    }
    let mut pooled = Vec::new();
    guarded("pooled events", async {
        while pooled.len() < 4 {
            tokio::select! {
                Some((e, _)) = seen_a.recv() => pooled.push(e.user_id),
                Some((e, _)) = seen_b.recv() => pooled.push(e.user_id),
            }
        }
    })
    .await;
    pooled.sort();
    assert_eq!(pooled, vec![1, 2, 3, 4], "each event once across the pool");
    for r in running {
        r.stop().await;
    }
    assert!(seen_a.try_recv().is_err() && seen_b.try_recv().is_err());
}

#[tokio::test]
async fn a_redelivered_event_is_handled_once() {
    duplicates::redelivered_event_is_handled_once(
        MemoryBroker::shared(),
        contracts_core::events::dedupe::MemoryDedupe::new(),
    )
    .await;
}

#[tokio::test]
async fn dead_letter_moves_are_confirmed_before_the_ack() {
    failures::moves_are_confirmed_before_the_ack(MemoryBroker::shared()).await;
}

#[tokio::test]
async fn unreliable_handlers_drop_failed_events() {
    failures::unreliable_handlers_drop_failed_events(MemoryBroker::shared()).await;
}
