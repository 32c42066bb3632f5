//! Events over the real RabbitMQ, publish-with-confirms → handled, three contenders in one run
//! on one broker (a vhost each):
//!
//! - (a) **raw lapin**, the floor: Nameko's event messages (its properties and
//!   `nameko.call_id_stack` header, fixed body bytes) published to a topic exchange,
//!   persistent, each confirmed; one consumer with prefetch 64 handles each delivery in a
//!   task of its own, counts it and acks it. No JSON, no validation.
//! - (b) **contracts**: `UserServicePublisher::user_created` (validated, context headers, a
//!   message id) to a `user_created` handler (validated, retry and dead-letter queues
//!   declared), `max_workers` 64.
//! - (c) **Nameko 2.14.1**: the standalone `event_dispatcher` to an `@event_handler`, in one
//!   Python process.
//!
//! Both Rust contenders publish from 64 tasks, each awaiting its confirms, handle up to 64
//! events at once, and count an event when its handler has run, before its ack; the clock stops
//! when every event is counted.
//!
//! ```sh
//! cargo bench -p seed-services --bench amqp_events   # BENCH_EVENTS=20000 BENCH_ROUNDS=3
//! ```

mod floor;

// Every contender runs in this process under the allocator a service under load should use
// (see BENCHMARKS.md); glibc's penalises whoever allocates more, across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use contracts_core::ServiceRunner;
use contracts_testkit::TestVhost;
use contracts_testkit::nameko::run_client;
use futures_util::StreamExt;
use lapin::BasicProperties;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use tokio::sync::Notify;

const PUBLISHERS: usize = 64;
const PAYLOAD: &[u8] = br#"{"user_id": 42, "name": "Ada Lovelace"}"#;

/// Counts handled events and wakes the bench at the target.
#[derive(Default)]
struct Finish {
    handled: AtomicUsize,
    target: AtomicUsize,
    done: Notify,
}

impl Finish {
    fn handled(&self) {
        if self.handled.fetch_add(1, Ordering::SeqCst) + 1 == self.target.load(Ordering::SeqCst) {
            self.done.notify_one();
        }
    }

    fn arm(&self, target: usize) {
        self.handled.store(0, Ordering::SeqCst);
        self.target.store(target, Ordering::SeqCst);
    }
}

async fn raw_lapin(vhost: &TestVhost, events: usize) -> f64 {
    let uri = vhost.raw_uri();
    let consumer_conn = floor::connect(uri).await;
    let publisher_conn = floor::connect(uri).await;
    let setup = consumer_conn.create_channel().await.unwrap();
    floor::topic(&setup, "floor.events").await;
    floor::bound_queue(&setup, "floor-handler", "floor.events", "user_created").await;
    let mut deliveries = floor::consume(&consumer_conn, "floor-handler", PUBLISHERS as u16).await;
    let finish = Arc::new(Finish::default());
    finish.arm(events);
    {
        let finish = finish.clone();
        tokio::spawn(async move {
            // As our runner does: each delivery handled in a task of its own (prefetch bounds
            // them to 64), counted when handled, then acked.
            while let Some(Ok(delivery)) = deliveries.next().await {
                let finish = finish.clone();
                tokio::spawn(async move {
                    finish.handled();
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                });
            }
        });
    }
    let publish = floor::confirm_channel(&publisher_conn).await;
    let start = Instant::now();
    let tasks: Vec<_> = (0..PUBLISHERS)
        .map(|i| {
            let publish = publish.clone();
            let share = events / PUBLISHERS + usize::from(i < events % PUBLISHERS);
            tokio::spawn(async move {
                for _ in 0..share {
                    let props = BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_content_encoding("utf-8".into())
                        .with_delivery_mode(2)
                        .with_priority(0)
                        .with_headers(floor::call_id_stack("bench.dispatch"));
                    publish
                        .basic_publish(
                            "floor.events".into(),
                            "user_created".into(),
                            BasicPublishOptions::default(),
                            PAYLOAD,
                            props,
                        )
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    finish.done.notified().await;
    let rate = events as f64 / start.elapsed().as_secs_f64();
    let _ = consumer_conn.close(200, "bye".into()).await;
    let _ = publisher_conn.close(200, "bye".into()).await;
    rate
}

async fn contracts(vhost: &TestVhost, events: usize) -> f64 {
    let finish = Arc::new(Finish::default());
    finish.arm(events);
    let handler = {
        let finish = finish.clone();
        UserServiceContract::user_created().handler(
            "bench",
            "on_user_created",
            move |_: UserCreated| {
                finish.handled();
                async { Ok::<(), std::convert::Infallible>(()) }
            },
        )
    };
    let consumer = vhost.connect().await;
    let running = ServiceRunner::new(consumer.clone())
        .max_workers(PUBLISHERS)
        .subscribe(handler)
        .start()
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(vhost.connect().await);
    let event = UserCreated {
        user_id: 42,
        name: "Ada Lovelace".into(),
    };
    let start = Instant::now();
    let tasks: Vec<_> = (0..PUBLISHERS)
        .map(|i| {
            let (publisher, event) = (publisher.clone(), event.clone());
            let share = events / PUBLISHERS + usize::from(i < events % PUBLISHERS);
            tokio::spawn(async move {
                for _ in 0..share {
                    publisher.user_created(&event).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    finish.done.notified().await;
    let rate = events as f64 / start.elapsed().as_secs_f64();
    running.stop().await;
    rate
}

async fn nameko(vhost: &TestVhost, events: usize) -> f64 {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/nameko/events.py");
    let out = run_client(vhost, &script, &[&events.to_string()]).await;
    out["events"].as_f64().unwrap() / out["seconds"].as_f64().unwrap()
}

async fn run() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    // Nameko is ~15× slower; fewer events keep its rounds as long as the others'.
    let nameko_events = (events / 10).max(100);
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let va = TestVhost::create("bench-evt-raw");
        let vb = TestVhost::create("bench-evt-ours");
        let vc = TestVhost::create("bench-evt-nameko");
        let ra = raw_lapin(&va, events).await;
        let rb = contracts(&vb, events).await;
        let rc = nameko(&vc, nameko_events).await;
        eprintln!(
            "round {round}: raw lapin {ra:>7.0}/s, contracts {rb:>7.0}/s, nameko {rc:>6.0}/s"
        );
        a.push(ra);
        b.push(rb);
        c.push(rc);
    }
    let (a, b, c) = (floor::median(a), floor::median(b), floor::median(c));
    println!("\nevents published with confirms → handled, median of {rounds} rounds\n");
    println!("| contender | events/s |\n|---|---:|");
    println!("| (a) raw lapin (floor) | {a:.0} |");
    println!("| (b) contracts, validation on | {b:.0} |");
    println!("| (c) Nameko 2.14.1 | {c:.0} |");
    println!(
        "\n| ratio | value |\n|---|---:|\n| (b) / (a) | {:.0}% |\n| (b) / (c) | {:.1}x |",
        100.0 * b / a,
        b / c
    );
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
