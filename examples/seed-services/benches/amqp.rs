//! Request/reply over the real RabbitMQ, three contenders in one run on one broker (a vhost of
//! its own), each sequential and with 64 calls in flight:
//!
//! - (a) **raw lapin**, the floor: the same messages, exchange, confirms, persistence and acks
//!   as Nameko's wire, but fixed bytes and no framework (no JSON, no validation, no routing);
//! - (b) **contracts**: the typed client calling a `#[service]` with validation on both sides;
//! - (c) **Nameko 2.14.1**: `ClusterRpcProxy` calling a Nameko service, in Python processes.
//!
//! ```sh
//! cargo bench -p seed-services --bench amqp     # BENCH_SECONDS=3 BENCH_ROUNDS=3 by default
//! ```
//!
//! Rounds interleave the contenders so that drift on a noisy machine hits all of them; the
//! table reports the median round.

mod floor;
mod stateless;

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts_core::{RpcClient, ServiceRunner};
use contracts_testkit::TestVhost;
use contracts_testkit::nameko::{NamekoProcess, run_client};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::{BasicProperties, Channel, Connection};
use stateless::{BenchClient, BenchServer, Stateless, user};
use tokio::sync::oneshot;

const IN_FLIGHT: usize = 64;

type Call = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// CPU time this process has used (user + system), from /proc.
fn cpu_time() -> Duration {
    cpu_time_of("self")
}

/// CPU time of the local RabbitMQ node (`beam.smp`), if it runs here.
fn broker_cpu_time() -> Duration {
    let pid = std::process::Command::new("pgrep")
        .args(["-o", "beam.smp"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if pid.is_empty() {
        Duration::ZERO
    } else {
        cpu_time_of(&pid)
    }
}

fn cpu_time_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    // Clock ticks: 100 per second on Linux.
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

/// Calls per second of `call` with `in_flight` outstanding, over `seconds`, and the CPU time
/// this process spent per call.
async fn measure(call: &Call, in_flight: usize, seconds: f64) -> (f64, Duration, Duration) {
    for _ in 0..100 {
        call().await;
    }
    let done = Arc::new(AtomicU64::new(0));
    let cpu = cpu_time();
    let broker_cpu = broker_cpu_time();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let (call, done) = (call.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    call().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("bench task");
    }
    let calls = done.load(Ordering::Relaxed);
    let n = u32::try_from(calls.max(1)).unwrap_or(u32::MAX);
    let per_call = (cpu_time() - cpu) / n;
    let broker_per_call = (broker_cpu_time() - broker_cpu) / n;
    (
        calls as f64 / start.elapsed().as_secs_f64(),
        per_call,
        broker_per_call,
    )
}

const REQUEST: &[u8] =
    br#"{"args": [], "kwargs": {"user_data": {"user_id": 42, "name": "Ada Lovelace"}}}"#;
const REPLY: &[u8] = br#"{"result": {"status": "success", "user_id": 42}, "error": null}"#;

/// (a): Nameko's message flow in raw lapin. Requests: topic exchange, mandatory, persistent,
/// confirmed; the server replies (confirmed) then acks; the client matches replies by
/// correlation id on its own reply queue.
struct Floor {
    publish: Channel,
    reply_to: String,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>,
    _connections: (Connection, Connection),
}

impl Floor {
    async fn start(vhost: &TestVhost) -> Arc<Self> {
        let uri = vhost.raw_uri();
        let server = floor::connect(uri).await;
        let client = floor::connect(uri).await;
        let setup = server.create_channel().await.unwrap();
        floor::topic(&setup, "floor-rpc").await;
        floor::bound_queue(&setup, "floor-requests", "floor-rpc", "floor.*").await;
        let reply_to = uuid::Uuid::new_v4().to_string();
        let reply_queue = format!("floor-replies-{reply_to}");
        floor::bound_queue(&setup, &reply_queue, "floor-rpc", &reply_to).await;

        // Server: consume with prefetch 64, reply (confirmed), then ack.
        let replies = floor::confirm_channel(&server).await;
        let mut requests = floor::consume(&server, "floor-requests", IN_FLIGHT as u16).await;
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = requests.next().await {
                let replies = replies.clone();
                tokio::spawn(async move {
                    let props = &delivery.properties;
                    let reply_to = props.reply_to().clone().expect("reply_to");
                    let reply = BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_correlation_id(props.correlation_id().clone().expect("id"))
                        .with_delivery_mode(2);
                    replies
                        .basic_publish(
                            "floor-rpc".into(),
                            reply_to,
                            BasicPublishOptions::default(),
                            REPLY,
                            reply,
                        )
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                });
            }
        });

        // Client: one reply listener, a pending map, one confirm channel for requests.
        let pending: Arc<Mutex<HashMap<String, oneshot::Sender<()>>>> = Arc::default();
        let mut incoming = floor::consume(&client, &reply_queue, 0).await;
        {
            let pending = pending.clone();
            tokio::spawn(async move {
                while let Some(Ok(delivery)) = incoming.next().await {
                    let id = delivery.properties.correlation_id().clone().expect("id");
                    if let Some(waiter) = pending.lock().unwrap().remove(id.as_str()) {
                        let _ = waiter.send(());
                    }
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                }
            });
        }
        let publish = floor::confirm_channel(&client).await;
        Arc::new(Self {
            publish,
            reply_to,
            pending,
            _connections: (server, client),
        })
    }

    async fn call(&self) {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id.clone(), tx);
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_correlation_id(id.into())
            .with_reply_to(self.reply_to.as_str().into())
            .with_delivery_mode(2)
            .with_priority(0);
        self.publish
            .basic_publish(
                "floor-rpc".into(),
                "floor.create_user".into(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                REQUEST,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        rx.await.expect("reply");
    }
}

async fn nameko_rate(
    vhost: &TestVhost,
    script: &std::path::Path,
    seconds: f64,
    in_flight: usize,
) -> f64 {
    let out = run_client(
        vhost,
        script,
        &["call", &seconds.to_string(), &in_flight.to_string()],
    )
    .await;
    out["calls"].as_f64().expect("calls") / out["seconds"].as_f64().expect("seconds")
}

async fn run() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let vhost = TestVhost::create("bench");

    let floor = Floor::start(&vhost).await;
    let raw: Call = Arc::new(move || {
        let floor = floor.clone();
        Box::pin(async move { floor.call().await })
    });

    let running = ServiceRunner::new(vhost.connect().await)
        .max_workers(IN_FLIGHT)
        .serve(BenchServer::new(Stateless))
        .start()
        .await
        .expect("bench service starts");
    let client = BenchClient::new(
        RpcClient::connect(vhost.connect().await, "bench_client")
            .await
            .expect("client connects"),
    );
    let ours: Call = Arc::new(move || {
        let client = client.clone();
        Box::pin(async move {
            client.create_user(user()).await.expect("create_user");
        })
    });

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/nameko/bench.py");
    // Nameko's service is also called `bench`: a vhost of its own keeps it from competing for
    // rpc-bench with the Rust one.
    let nameko_vhost = TestVhost::create("bench-nameko");
    let nameko = NamekoProcess::start(&nameko_vhost, &script, &["serve"]).await;

    let mut rows: [(Vec<f64>, Vec<f64>); 3] = Default::default();
    for round in 1..=rounds {
        for (i, in_flight) in [1, IN_FLIGHT].into_iter().enumerate() {
            let (a, a_cpu, a_broker) = measure(&raw, in_flight, seconds).await;
            let (b, b_cpu, b_broker) = measure(&ours, in_flight, seconds).await;
            let c = nameko_rate(&nameko_vhost, &script, seconds, in_flight).await;
            eprintln!(
                "round {round}, {in_flight:>2} in flight: raw lapin {a:>8.0}/s (CPU/call {a_cpu:?}, broker {a_broker:?}), \
                 contracts {b:>8.0}/s (CPU/call {b_cpu:?}, broker {b_broker:?}), nameko {c:>7.0}/s"
            );
            let pick = |row: &mut (Vec<f64>, Vec<f64>), v| {
                if i == 0 { row.0.push(v) } else { row.1.push(v) }
            };
            pick(&mut rows[0], a);
            pick(&mut rows[1], b);
            pick(&mut rows[2], c);
        }
    }
    nameko.terminate().await;
    running.stop().await;

    let [a, b, c] = rows.map(|(seq, par)| (floor::median(seq), floor::median(par)));
    println!("\nrequest/reply over RabbitMQ, median of {rounds} rounds of {seconds} s each\n");
    println!("| contender | sequential calls/s | {IN_FLIGHT} in flight calls/s |");
    println!("|---|---:|---:|");
    println!("| (a) raw lapin (floor) | {:.0} | {:.0} |", a.0, a.1);
    println!("| (b) contracts, validation on | {:.0} | {:.0} |", b.0, b.1);
    println!("| (c) Nameko 2.14.1 | {:.0} | {:.0} |", c.0, c.1);
    println!();
    println!(
        "| ratio | sequential | {IN_FLIGHT} in flight |\n|---|---:|---:|\n| (b) / (a) | {:.0}% | {:.0}% |\n| (b) / (c) | {:.1}x | {:.1}x |",
        100.0 * b.0 / a.0,
        100.0 * b.1 / a.1,
        b.0 / c.0,
        b.1 / c.1
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
