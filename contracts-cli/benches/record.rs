//! Does `contracts record` keep up? Two measurements on the real RabbitMQ, in one run:
//!
//! 1. **At the broker's limit.** 64 publishers send Nameko-shaped requests and their replies
//!    (a `create_order` body of about 400 bytes, persistent, each publish confirmed, as Nameko
//!    publishes) as fast as the broker takes them, while the recorder records them: the
//!    publish rate is the fastest fleet this broker can carry, the capture rate is how fast
//!    the recorder took the same messages, and the lag is how long after the last publish it
//!    took the last one. Twice: at the default `--cap` (1000 samples written per method, the
//!    rest counted) and with every message written.
//! 2. **Beside a real fleet.** The Nameko 2.14.1 fleet of the adoption test
//!    (`tests/fleet/fleet.py`) driven flat out by its traffic generator: the fleet's own
//!    rate, and how long after the generator's last reply the recorder had taken everything.
//!
//! ```sh
//! cargo bench -p contracts-cli --bench record    # BENCH_MESSAGES=40000 BENCH_ROUNDS=400
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts_amqp::AmqpTransport;
use contracts_cli::record::{Options, Recorder};
use contracts_core::transport::{Message, Properties, QueueSpec, SharedTransport};
use contracts_core::wire::topology;
use contracts_testkit::TestVhost;
use contracts_testkit::nameko::{NAMEKO2, NamekoProcess};

const PUBLISHERS: usize = 64;
const BODY: &str = r#"{"args": [], "kwargs": {"customer": {"id": "4f1c2a9e-8b7d-4c3e-9f2a-1b2c3d4e5f60", "email": "ada.12@example.org", "name": "Ada Lovelace"}, "items": [{"sku": "SKU-1a2b3c", "qty": 3, "unit_price": 12.5}, {"sku": "SKU-4d5e6f", "qty": 1, "unit_price": 99.99}], "shipping": {"method": "express", "address": {"street": "12 Main Street", "city": "Berlin", "postcode": "10115", "country": "DE"}}, "note": "leave at the door"}}"#;
const REPLY: &str = r#"{"result": {"order_id": "0b7e5d1c-2f3a-4b5c-8d9e-0f1a2b3c4d5e", "status": "pending", "created_at": "2026-12-05T12:00:00+00:00", "total": 137.49, "line_count": 2}, "error": null}"#;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn message(correlation: String, reply_to: Option<String>, body: &str) -> Message {
    Message {
        properties: Properties {
            correlation_id: Some(correlation),
            reply_to,
            ..topology::json_properties()
        },
        body: body.as_bytes().to_vec(),
    }
}

struct Figures {
    publish_rate: f64,
    capture_rate: f64,
    lag: Duration,
}

/// `calls` requests and replies published by [`PUBLISHERS`] tasks while a recorder with `cap`
/// records them into `dir`.
async fn at_the_limit(vhost: &TestVhost, calls: u64, cap: usize, dir: &Path) -> Figures {
    let transport: SharedTransport = Arc::new(AmqpTransport::connect(vhost.uri()).await.unwrap());
    // The service's queue, so the recorder binds its requests, as it would in a fleet.
    transport
        .declare_queue(&QueueSpec {
            name: topology::rpc_queue_name("orders"),
            durable: true,
            exclusive: false,
            auto_delete: false,
            arguments: Default::default(),
        })
        .await
        .unwrap();
    let options = Options {
        services: vec!["orders".into()],
        cap,
        count: Some(calls * 2),
    };
    let recorder = Recorder::start(&transport, &options).await.unwrap();
    let publisher: SharedTransport = Arc::new(AmqpTransport::connect(vhost.uri()).await.unwrap());
    let started = Instant::now();
    let recording = tokio::spawn({
        let dir = dir.to_owned();
        async move {
            let summary = recorder.run(&dir, std::future::pending()).await.unwrap();
            (summary, started.elapsed())
        }
    });
    let mut tasks = Vec::new();
    for task in 0..PUBLISHERS as u64 {
        let publisher = publisher.clone();
        tasks.push(tokio::spawn(async move {
            for call in (task..calls).step_by(PUBLISHERS) {
                let id = call.to_string();
                let request = message(id.clone(), Some("reply-queue".into()), BODY);
                publisher
                    .publish(
                        topology::RPC_EXCHANGE,
                        "orders.create_order",
                        request,
                        false,
                    )
                    .await
                    .unwrap();
                let reply = message(id, None, REPLY);
                publisher
                    .publish(topology::RPC_EXCHANGE, "reply-queue", reply, false)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let published = started.elapsed();
    let (summary, captured) = recording.await.unwrap();
    assert_eq!(summary.taken, calls * 2);
    let messages = (calls * 2) as f64;
    Figures {
        publish_rate: messages / published.as_secs_f64(),
        capture_rate: messages / captured.as_secs_f64(),
        lag: captured.saturating_sub(published),
    }
}

fn fleet(vhost: &TestVhost, rounds: u64, dir: &Path, runtime: &tokio::runtime::Runtime) {
    let fleet_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet");
    let traffic = fleet_dir.join("traffic.py");
    let python = NAMEKO2.python();
    let plan = ["--seed", "7", "--rounds", &rounds.to_string()].map(str::to_owned);
    let counted = std::process::Command::new(&python)
        .arg(&traffic)
        .args(&plan)
        .arg("--count-only")
        .output()
        .unwrap();
    let expected: u64 = String::from_utf8(counted.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    runtime.block_on(async {
        let _fleet = NamekoProcess::start(vhost, &fleet_dir.join("fleet.py"), &[]).await;
        let transport: SharedTransport =
            Arc::new(AmqpTransport::connect(vhost.uri()).await.unwrap());
        let options = Options {
            services: ["orders", "inventory", "payments"]
                .map(String::from)
                .to_vec(),
            cap: 1000,
            count: Some(expected),
        };
        let recorder = Recorder::start(&transport, &options).await.unwrap();
        let dir = dir.to_owned();
        let recording = tokio::spawn(async move {
            let summary = recorder.run(&dir, std::future::pending()).await.unwrap();
            (summary, Instant::now())
        });
        let started = Instant::now();
        let sent = tokio::process::Command::new(&python)
            .arg(&traffic)
            .args(&plan)
            .env("AMQP_URI", vhost.raw_uri())
            .env("PYTHONWARNINGS", "ignore")
            .output()
            .await
            .unwrap();
        assert!(sent.status.success(), "{sent:?}");
        let generated = started.elapsed();
        let done = Instant::now();
        let (summary, finished) = recording.await.unwrap();
        assert_eq!(summary.taken, expected);
        println!(
            "fleet: {expected} messages in {:.2} s = {:.0} msg/s from the Nameko fleet; the \
             recorder had them all {:.0} ms after the generator's last reply",
            generated.as_secs_f64(),
            expected as f64 / generated.as_secs_f64(),
            finished.saturating_duration_since(done).as_secs_f64() * 1000.0
        );
    });
}

fn main() {
    let calls = env_or("BENCH_MESSAGES", 40_000) / 2;
    let rounds = env_or("BENCH_ROUNDS", 400);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("contracts-bench-record-{}", std::process::id()));
    for (label, cap) in [("--cap 1000", 1000), ("every message written", usize::MAX)] {
        let vhost = TestVhost::create("bench-record");
        let _ = std::fs::remove_dir_all(&dir);
        let figures = runtime.block_on(at_the_limit(&vhost, calls, cap, &dir));
        println!(
            "at the broker's limit, {label}: published {:.0} msg/s, captured {:.0} msg/s \
             ({:.0}%), last message taken {:.0} ms after the last publish",
            figures.publish_rate,
            figures.capture_rate,
            figures.capture_rate * 100.0 / figures.publish_rate,
            figures.lag.as_secs_f64() * 1000.0
        );
    }
    let vhost = TestVhost::create("bench-record-fleet");
    let _ = std::fs::remove_dir_all(&dir);
    fleet(&vhost, rounds, &dir, &runtime);
    let _ = std::fs::remove_dir_all(&dir);
}
