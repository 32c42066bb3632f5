//! Event failure handling on the real RabbitMQ, each test in its own vhost: retry queues with
//! `x-message-ttl` that dead-letter back to the handler queue, the dead-letter queue, listing
//! and replay. The same scenarios run on the in-memory broker in `events.rs`.

mod duplicates;
mod failures;
mod faults;

use contracts_testkit::TestVhost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_events_are_retried_then_dead_lettered_and_can_be_replayed() {
    let vhost = TestVhost::create("retry");
    failures::retried_then_dead_lettered_then_replayed(vhost.connect().await).await;
    // The handler queue keeps Nameko's exact declaration; the retry queues carry the TTL.
    let handler = vhost
        .queue("evt-user_service-user_created--flaky.on_user_created")
        .expect("handler queue");
    assert!(handler.arguments.is_empty(), "{handler:?}");
    let retry = vhost
        .queue("evt-user_service-user_created--flaky.on_user_created.retry.50")
        .expect("retry queue");
    assert_eq!(
        serde_json::Value::Object(retry.arguments),
        serde_json::json!({
            "x-dead-letter-exchange": ["longstr", ""],
            "x-dead-letter-routing-key": ["longstr", "evt-user_service-user_created--flaky.on_user_created"],
            "x-message-ttl": ["signedint", 50],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_are_dead_lettered_without_reaching_the_handler() {
    let vhost = TestVhost::create("bad-events");
    failures::bad_payloads_are_dead_lettered_at_once(vhost.connect().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_is_handled_once_with_the_memory_store() {
    let vhost = TestVhost::create("dedupe-mem");
    duplicates::redelivered_event_is_handled_once(
        vhost.connect().await,
        contracts_core::events::dedupe::MemoryDedupe::new(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_is_handled_once_with_the_redis_store() {
    let vhost = TestVhost::create("dedupe-redis");
    let store = contracts_testkit::redis_dedupe(vhost.name()).await;
    duplicates::redelivered_event_is_handled_once(vhost.connect().await, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_moves_are_confirmed_before_the_ack() {
    let vhost = TestVhost::create("moves");
    failures::moves_are_confirmed_before_the_ack(vhost.connect().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreliable_handlers_drop_failed_events() {
    let vhost = TestVhost::create("unreliable");
    failures::unreliable_handlers_drop_failed_events(vhost.connect().await).await;
}
