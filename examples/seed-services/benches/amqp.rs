//! Request/reply over the real RabbitMQ, five contenders in one run on one broker (a vhost of
//! its own), each sequential and with 64 calls in flight:
//!
//! - (a) **raw lapin**, three floors, each sending Nameko's messages (its properties and
//!   `nameko.call_id_stack` header, fixed body bytes) with no framework (no JSON, no
//!   validation, no routing), differing only in what a call waits for:
//!   - (a1) Nameko's wire, confirm then reply: the request (mandatory, persistent) is confirmed
//!     before the client waits for its reply; the server's reply is confirmed, then acked;
//!   - (a2) the same wire, the call completing on its reply while the request's confirm is
//!     watched beside it (the floor for our client's design);
//!   - (a3) no confirms and no persistence anywhere: the broker's own limit;
//! - (b) **contracts**: the typed client calling a `#[service]` with validation on both sides;
//! - (c) **Nameko 2.14.1**: `ClusterRpcProxy` calling a Nameko service, in Python processes.
//!
//! ```sh
//! cargo bench -p seed-services --bench amqp     # BENCH_SECONDS=3 BENCH_ROUNDS=5 by default
//! ```
//!
//! Rounds interleave the contenders so that drift on a noisy machine hits all of them; the
//! table reports the median round.

mod floor;
mod stateless;

// Every contender runs in this process under the allocator a service under load should use
// (see BENCHMARKS.md); glibc's penalises whoever allocates more, across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
use lapin::types::FieldTable;
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

/// What a raw-lapin call waits for: the three floors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waits {
    /// (a1) The request's confirm, then the reply.
    ConfirmThenReply,
    /// (a2) The reply, with the request's confirm watched beside it.
    ReplyConfirmWatched,
    /// (a3) The reply; nothing is confirmed or persistent.
    ReplyUnconfirmed,
}

impl Waits {
    fn label(self) -> &'static str {
        match self {
            Self::ConfirmThenReply => "a1",
            Self::ReplyConfirmWatched => "a2",
            Self::ReplyUnconfirmed => "a3",
        }
    }

    fn confirms(self) -> bool {
        self != Self::ReplyUnconfirmed
    }

    /// AMQP delivery mode: 2 persistent, 1 transient.
    fn delivery_mode(self) -> u8 {
        if self.confirms() { 2 } else { 1 }
    }
}

/// (a): Nameko's message flow in raw lapin, with Nameko's properties and headers on each
/// message (a request: content type and encoding, correlation id, reply-to, priority and the
/// call id stack; a reply: the same with an empty header table) and fixed body bytes.
/// Requests: topic exchange, mandatory; the server replies, then acks; the client matches
/// replies by correlation id on its own reply queue. Confirms and persistence as `waits` says.
struct Floor {
    waits: Waits,
    exchange: String,
    routing_key: String,
    publish: Channel,
    reply_to: String,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>,
    _connections: (Connection, Connection),
}

async fn channel_for(connection: &Connection, waits: Waits) -> Channel {
    if waits.confirms() {
        floor::confirm_channel(connection).await
    } else {
        connection.create_channel().await.unwrap()
    }
}

impl Floor {
    async fn start(vhost: &TestVhost, waits: Waits) -> Arc<Self> {
        let uri = vhost.raw_uri();
        let server = floor::connect(uri).await;
        let client = floor::connect(uri).await;
        let setup = server.create_channel().await.unwrap();
        let label = waits.label();
        let exchange = format!("floor-{label}-rpc");
        let requests_queue = format!("floor-{label}-requests");
        floor::topic(&setup, &exchange).await;
        floor::bound_queue(&setup, &requests_queue, &exchange, "floor.*").await;
        let reply_to = uuid::Uuid::new_v4().to_string();
        let reply_queue = format!("floor-{label}-replies-{reply_to}");
        floor::bound_queue(&setup, &reply_queue, &exchange, &reply_to).await;

        // Server: consume with prefetch 64, reply (confirmed, with confirms), then ack.
        let replies = channel_for(&server, waits).await;
        let mut requests = floor::consume(&server, &requests_queue, IN_FLIGHT as u16).await;
        let reply_exchange = exchange.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = requests.next().await {
                let (replies, exchange) = (replies.clone(), reply_exchange.clone());
                tokio::spawn(async move {
                    let props = &delivery.properties;
                    let reply_to = props.reply_to().clone().expect("reply_to");
                    let reply = BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_content_encoding("utf-8".into())
                        .with_priority(0)
                        .with_headers(FieldTable::default())
                        .with_correlation_id(props.correlation_id().clone().expect("id"))
                        .with_delivery_mode(waits.delivery_mode());
                    let confirm = replies
                        .basic_publish(
                            exchange.as_str().into(),
                            reply_to,
                            BasicPublishOptions::default(),
                            REPLY,
                            reply,
                        )
                        .await
                        .unwrap();
                    if waits.confirms() {
                        confirm.await.unwrap();
                    }
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                });
            }
        });

        // Client: one reply listener, a pending map, one channel for requests.
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
        let publish = channel_for(&client, waits).await;
        Arc::new(Self {
            waits,
            exchange,
            routing_key: "floor.create_user".into(),
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
            .with_delivery_mode(self.waits.delivery_mode())
            .with_priority(0)
            .with_headers(floor::call_id_stack("bench_client.call"));
        let confirm = self
            .publish
            .basic_publish(
                self.exchange.as_str().into(),
                self.routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                },
                REQUEST,
                props,
            )
            .await
            .unwrap();
        match self.waits {
            Waits::ConfirmThenReply => {
                assert!(confirm.await.unwrap().is_ack());
                rx.await.expect("reply");
            }
            Waits::ReplyConfirmWatched => {
                let watched = async {
                    assert!(confirm.await.unwrap().is_ack());
                    std::future::pending::<()>().await;
                };
                tokio::select! {
                    biased;
                    () = watched => unreachable!(),
                    reply = rx => reply.expect("reply"),
                }
            }
            Waits::ReplyUnconfirmed => rx.await.expect("reply"),
        }
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
        .unwrap_or(5);
    let vhost = TestVhost::create("bench");

    let mut contenders: Vec<(&str, Call)> = Vec::new();
    for waits in [
        Waits::ConfirmThenReply,
        Waits::ReplyConfirmWatched,
        Waits::ReplyUnconfirmed,
    ] {
        let floor = Floor::start(&vhost, waits).await;
        let call: Call = Arc::new(move || {
            let floor = floor.clone();
            Box::pin(async move { floor.call().await })
        });
        contenders.push((waits.label(), call));
    }

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

    contenders.push(("b", ours));
    // Per contender: calls/s sequential and in flight, and CPU per call in flight (this
    // process, then the broker).
    let mut rows: Vec<Row> = contenders.iter().map(|_| Row::default()).collect();
    let mut nameko_row = Row::default();
    for round in 1..=rounds {
        for (i, in_flight) in [1, IN_FLIGHT].into_iter().enumerate() {
            let mut line = format!("round {round}, {in_flight:>2} in flight:");
            for ((label, call), row) in contenders.iter().zip(&mut rows) {
                let (rate, cpu, broker) = measure(call, in_flight, seconds).await;
                line.push_str(&format!(
                    " {label} {rate:.0}/s ({cpu:?}, broker {broker:?});"
                ));
                row.rates[i].push(rate);
                if i == 1 {
                    row.cpu.push(cpu.as_secs_f64() * 1e6);
                    row.broker_cpu.push(broker.as_secs_f64() * 1e6);
                }
            }
            let c = nameko_rate(&nameko_vhost, &script, seconds, in_flight).await;
            line.push_str(&format!(" c {c:.0}/s"));
            nameko_row.rates[i].push(c);
            eprintln!("{line}");
        }
    }
    nameko.terminate().await;
    running.stop().await;
    report(&contenders, rows, nameko_row, rounds, seconds);
}

/// One contender's figures over the rounds.
#[derive(Default)]
struct Row {
    /// Calls/s: sequential, then in flight.
    rates: [Vec<f64>; 2],
    /// Microseconds of CPU per call in flight: the bench process, the broker.
    cpu: Vec<f64>,
    broker_cpu: Vec<f64>,
}

fn report(contenders: &[(&str, Call)], rows: Vec<Row>, nameko: Row, rounds: usize, seconds: f64) {
    let names = [
        ("a1", "(a1) raw lapin, confirm then reply"),
        ("a2", "(a2) raw lapin, reply with the confirm watched"),
        ("a3", "(a3) raw lapin, no confirms, transient"),
        ("b", "(b) contracts, validation on"),
    ];
    let median = |v: &Vec<f64>| floor::median(v.clone());
    let mut figures: HashMap<&str, (f64, f64)> = HashMap::new();
    println!(
        "\nrequest/reply over RabbitMQ, median of {rounds} interleaved rounds of {seconds} s each\n"
    );
    println!(
        "| contender | sequential calls/s | {IN_FLIGHT} in flight calls/s | CPU/call in flight, bench process | broker |"
    );
    println!("|---|---:|---:|---:|---:|");
    for ((label, _), row) in contenders.iter().zip(&rows) {
        let name = names
            .iter()
            .find(|(l, _)| l == label)
            .map_or(*label, |(_, n)| *n);
        let (seq, par) = (median(&row.rates[0]), median(&row.rates[1]));
        figures.insert(label, (seq, par));
        println!(
            "| {name} | {seq:.0} | {par:.0} | {:.0} µs | {:.0} µs |",
            median(&row.cpu),
            median(&row.broker_cpu)
        );
    }
    let c = (median(&nameko.rates[0]), median(&nameko.rates[1]));
    println!("| (c) Nameko 2.14.1 | {:.0} | {:.0} | | |", c.0, c.1);
    figures.insert("c", c);
    let b = figures["b"];
    println!("\n| ratio | sequential | {IN_FLIGHT} in flight |\n|---|---:|---:|");
    for other in ["a1", "a2", "a3"] {
        let o = figures[other];
        println!(
            "| (b) / ({other}) | {:.0}% | {:.0}% |",
            100.0 * b.0 / o.0,
            100.0 * b.1 / o.1
        );
    }
    for floor in ["a1", "a2", "a3"] {
        let o = figures[floor];
        println!(
            "| ({floor}) / (c) | {:.1}x | {:.1}x |",
            o.0 / c.0,
            o.1 / c.1
        );
    }
    println!("| (b) / (c) | {:.1}x | {:.1}x |", b.0 / c.0, b.1 / c.1);
    let cpu = |label: &str| {
        contenders
            .iter()
            .zip(&rows)
            .find(|((l, _), _)| *l == label)
            .map(|(_, row)| median(&row.cpu))
            .unwrap()
    };
    println!(
        "\nCPU per call in flight, bench process: (b) / (a2) = {:.2}x, (b) / (a1) = {:.2}x",
        cpu("b") / cpu("a2"),
        cpu("b") / cpu("a1")
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
