//! `RedisDedupe` against the real Redis: the claim, complete and release protocol, two
//! instances sharing one store, expiry, and errors that keep Redis's own as their source.
//! Each test uses its own key prefix.

use std::error::Error;
use std::time::Duration;

use contracts_core::events::dedupe::{Claim, DedupeStore};
use contracts_redis::RedisDedupe;
use contracts_testkit::redis_dedupe;

fn prefix(test: &str) -> String {
    format!("contracts-test-{test}-{}", uuid::Uuid::new_v4().simple())
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_claim_is_taken_once_until_released() {
    let store = redis_dedupe(&prefix("claim")).await;
    assert_eq!(store.claim("k", LONG).await.unwrap(), Claim::Fresh);
    assert_eq!(store.claim("k", LONG).await.unwrap(), Claim::Duplicate);
    // A failed handler releases its claim so that the retry can run.
    store.release("k").await.unwrap();
    assert_eq!(store.claim("k", LONG).await.unwrap(), Claim::Fresh);
    // Once done, the key stays a duplicate for the remember window.
    store.complete("k", LONG).await.unwrap();
    assert_eq!(store.claim("k", LONG).await.unwrap(), Claim::Duplicate);
    assert_eq!(store.claim("other", LONG).await.unwrap(), Claim::Fresh);
}

#[tokio::test]
async fn two_instances_share_one_store() {
    let prefix = prefix("shared");
    let (a, b) = (redis_dedupe(&prefix).await, redis_dedupe(&prefix).await);
    assert_eq!(a.claim("event-1", LONG).await.unwrap(), Claim::Fresh);
    assert_eq!(b.claim("event-1", LONG).await.unwrap(), Claim::Duplicate);
    a.release("event-1").await.unwrap();
    assert_eq!(b.claim("event-1", LONG).await.unwrap(), Claim::Fresh);
    b.complete("event-1", LONG).await.unwrap();
    assert_eq!(a.claim("event-1", LONG).await.unwrap(), Claim::Duplicate);
    // Another prefix is another application: it does not see these keys.
    let other = redis_dedupe(&self::prefix("other")).await;
    assert_eq!(other.claim("event-1", LONG).await.unwrap(), Claim::Fresh);
}

#[tokio::test]
async fn a_crashed_holder_s_claim_lapses() {
    let store = redis_dedupe(&prefix("lapse")).await;
    assert_eq!(
        store.claim("k", Duration::from_millis(50)).await.unwrap(),
        Claim::Fresh
    );
    // Redis expires the key by its own clock; poll for it rather than sleep a guess.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.claim("k", LONG).await.unwrap() {
            Claim::Fresh => break,
            Claim::Duplicate if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Claim::Duplicate => panic!("the 50 ms claim never lapsed"),
        }
    }
}

#[tokio::test]
async fn errors_keep_the_redis_error_as_their_source() {
    // A URL Redis's client refuses before connecting.
    let error = RedisDedupe::connect("nosuchscheme://127.0.0.1/", "p")
        .await
        .unwrap_err();
    let source = error.source().expect("the Redis error is kept");
    assert!(
        source.downcast_ref::<redis::RedisError>().is_some(),
        "{source:?}"
    );
    assert!(error.to_string().contains("dedupe store failed"), "{error}");
}
