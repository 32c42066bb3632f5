//! The test harness for claims about RabbitMQ and Nameko: each test gets its own RabbitMQ
//! vhost ([`TestVhost`]), and real Nameko 2.14.1 processes run beside it ([`nameko`]).
//!
//! A missing broker or Python fails the test with what to start; nothing is skipped.

mod certs;
mod cluster;
mod hosts;
pub mod http;
pub mod latency;
mod logs;
pub mod nameko;
mod otlp;
mod process;
mod proxy;
mod vhost;

pub use certs::TestCerts;
pub use cluster::{FaultCluster, FaultNode};
pub use hosts::{Host, TestHosts};
pub use logs::CapturedLogs;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use process::TestProcess;
pub use proxy::BrokerProxy;
pub use vhost::{ExchangeInfo, QueueInfo, TestVhost};

/// A Redis dedupe store at `REDIS_URL` (default `redis://127.0.0.1:6379/`) whose keys sit
/// under `prefix`, so tests never see each other's keys. Fails the test, saying what to
/// start, when Redis is not there.
pub async fn redis_dedupe(prefix: &str) -> contracts_redis::RedisDedupe {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    contracts_redis::RedisDedupe::connect(&url, prefix)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is not reachable at {url} ({e}): the dedupe tests need it. Start it with \
                 `redis-server --daemonize yes` (or point REDIS_URL at one); .ci/run starts it."
            )
        })
}

/// How long a test waits for something that should take milliseconds before it fails
/// instead of hanging CI. Never used as a synchronisation device.
pub const GUARD: std::time::Duration = std::time::Duration::from_secs(30);

/// Await `fut`, failing the test with `what` if it takes longer than [`GUARD`].
pub async fn guarded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {GUARD:?}"))
}
