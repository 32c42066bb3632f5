//! A [`DedupeStore`] in Redis, for handlers running as several instances: whichever instance
//! claims an event's key first handles it, the others ack their copy unhandled.
//!
//! ```no_run
//! # async fn run(handler: contracts_core::EventHandler) -> Result<(), Box<dyn std::error::Error>> {
//! let store = contracts_redis::RedisDedupe::connect("redis://127.0.0.1:6379/", "myapp").await?;
//! let handler = handler.dedupe(store);
//! # Ok(()) }
//! ```
//!
//! A claim is `SET <prefix>:<key> pending NX PX <claim ms>`, a completion
//! `SET <prefix>:<key> done PX <remember ms>`, a release `DEL`: one round trip each, atomic on
//! the Redis side.

use std::time::Duration;

use contracts_core::events::dedupe::{Claim, DedupeError, DedupeStore};
use contracts_core::transport::BoxFuture;
use redis::aio::ConnectionManager;

/// Dedupe keys in Redis, under a prefix of the application's choosing.
#[derive(Clone)]
pub struct RedisDedupe {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisDedupe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDedupe")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn failed(e: redis::RedisError) -> DedupeError {
    DedupeError::caused_by(e)
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisDedupe {
    /// Connect to Redis at `url` (`redis://host:port/db`); keys are stored as
    /// `<prefix>:<key>`. The connection reconnects by itself.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, DedupeError> {
        let client = redis::Client::open(url).map_err(failed)?;
        let connection = ConnectionManager::new(client).await.map_err(failed)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }
}

impl DedupeStore for RedisDedupe {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Claim, DedupeError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(self.key(key))
                .arg("pending")
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut connection)
                .await
                .map_err(failed)?;
            Ok(match set {
                Some(_) => Claim::Fresh,
                None => Claim::Duplicate,
            })
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), DedupeError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            redis::cmd("SET")
                .arg(self.key(key))
                .arg("done")
                .arg("PX")
                .arg(millis(ttl))
                .query_async::<()>(&mut connection)
                .await
                .map_err(failed)
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), DedupeError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            redis::cmd("DEL")
                .arg(self.key(key))
                .query_async::<()>(&mut connection)
                .await
                .map_err(failed)
        })
    }
}

// The crate's README (its registry page) is tested as documentation: its examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
