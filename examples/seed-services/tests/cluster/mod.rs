//! The ground of the cluster fault scenarios (`tests/cluster_faults.rs`): three RabbitMQ nodes
//! clustered on hosts of their own (`contracts_testkit::TestHosts`), quorum queues, and two
//! processes on hosts of their own: the service (RPC `ledgered.run` and an event handler with
//! a dedupe store) and a client that calls and publishes without pause. Every process writes
//! what it saw to a ledger (a file per process, outside the faulted network); [`Scenario::finish`]
//! reads them, and [`Outcome::check`] asserts the guarantees book/src/reliability.md states.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contracts_amqp::Config;
use contracts_core::RpcClient;
use contracts_core::events::dedupe::MemoryDedupe;
use contracts_core::prelude::*;
use contracts_testkit::latency::{self, Latency};
use contracts_testkit::nameko::{NAMEKO2, NamekoProcess};
use contracts_testkit::{FaultCluster, Host, TestHosts, TestProcess};
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use serde_json::{Value, json};

/// Set in a child process: the part it plays, and where its ledger goes.
pub(crate) const ROLE: &str = "CONTRACTS_CLUSTER_ROLE";
const LEDGER: &str = "CONTRACTS_CLUSTER_LEDGER";
/// Seconds between heartbeats: short, so that the tests are; detection bounds scale with it.
pub(crate) const HEARTBEAT: u64 = 2;
/// Each call's deadline.
const DEADLINE: Duration = Duration::from_secs(5);
/// How long the harness waits for calls to be served before it gives up on a scenario: twice
/// the longest bound a scenario asserts, so that the bound is what fails, measured.
const PATIENCE: Duration = Duration::from_secs(120);

pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Appends JSON lines to this process's ledger file; each line is written whole and flushed.
#[derive(Clone)]
struct Ledger(Arc<Mutex<std::fs::File>>);

impl Ledger {
    fn open(path: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self(Arc::new(Mutex::new(file)))
    }

    fn write(&self, entry: Value) {
        let mut file = self.0.lock().unwrap();
        writeln!(file, "{entry}").expect("the ledger is writable");
        file.flush().expect("the ledger flushes");
    }
}

/// The entries of a ledger so far: every whole line (the one its process may be writing now
/// is left for the next read).
pub(crate) fn read_ledger(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("ledger line {l:?}: {e}")))
        .collect()
}

/// The ledgered lab: `run(id)` is call `id`; each execution is written down.
#[service(name = "ledgered")]
trait Ledgered {
    async fn run(&self, id: i64) -> i64;
}

/// The anchor's contract: `ledgered`'s twin, served by Nameko (`tests/nameko/cluster_roles.py`).
#[service(name = "ledgered_nameko")]
trait LedgeredNameko {
    async fn run(&self, id: i64) -> i64;
}

struct Server(Ledger);

impl Ledgered for Server {
    async fn run(&self, id: i64) -> i64 {
        self.0.write(json!({"kind": "ran", "id": id, "at": now()}));
        id
    }
}

/// Write `lost` and `up` to the ledger, and print them, as the transport's connection goes and
/// comes back.
fn follow_connection(transport: &contracts_amqp::AmqpTransport, ledger: Ledger, who: &str) {
    let mut connected = transport.watch_connected();
    let who = who.to_owned();
    tokio::spawn(async move {
        while connected.changed().await.is_ok() {
            let what = if *connected.borrow_and_update() {
                "up"
            } else {
                "lost"
            };
            ledger.write(json!({"kind": what, "at": now()}));
            println!("{who} {what}");
        }
    });
}

pub(crate) async fn child(role: &str) {
    if role == "latency" {
        return forward_with_latency().await;
    }
    let ledger = Ledger::open(Path::new(
        &std::env::var(LEDGER).expect("the ledger's path"),
    ));
    let config = Config::from_env().expect("the child's config");
    let transport = config.connect().await.expect("the child connects");
    follow_connection(&transport, ledger.clone(), role);
    match role {
        "service" => {
            let handled = ledger.clone();
            let handler = UserServiceContract::user_created()
                .handler("audit", "on_user_created", move |e: UserCreated| {
                    let handled = handled.clone();
                    async move {
                        handled.write(json!({"kind": "handled", "id": e.user_id, "at": now()}));
                        Ok::<(), String>(())
                    }
                })
                .dedupe(MemoryDedupe::new());
            let _running = config
                .runner(transport.clone())
                .serve(LedgeredServer::new(Server(ledger)))
                .subscribe(handler)
                .start()
                .await
                .expect("the service starts");
            println!("SERVING");
            std::future::pending::<()>().await;
        }
        "client" => {
            let rpc = RpcClient::connect(transport.clone(), "blackhole_client")
                .await
                .unwrap()
                .with_timeout(DEADLINE);
            let client = LedgeredClient::new(rpc.clone());
            let publisher = UserServicePublisher::new(transport.clone()).with_timeout(DEADLINE);
            let stop = PathBuf::from(std::env::var(LEDGER).unwrap()).with_extension("stop");
            let anchor = LedgeredNamekoClient::new(rpc.clone());
            // The anchor's calls, beside ours and at their pace: a call that waits out its
            // deadline there must not slow the calls to the Rust service.
            tokio::spawn(call_in_turn(ledger.clone(), stop.clone(), move |id| {
                let anchor = anchor.clone();
                async move { anchor.run(id).await }
            }));
            println!("CALLING");
            // Bounded: until the test says stop, or 5 minutes at most.
            for id in 1..=30_000 {
                if stop.exists() {
                    break;
                }
                let began = now();
                let outcome = outcome(id, client.run(id).await);
                ledger.write(json!({
                    "kind": "call", "id": id, "began": began, "ended": now(), "outcome": outcome,
                }));
                let event = UserCreated {
                    user_id: u64::try_from(id).unwrap(),
                    name: "blackhole".into(),
                };
                let published = match publisher.user_created(&event).await {
                    Ok(()) => "confirmed".to_owned(),
                    Err(e) => contracts_core::error::Report(&e).to_string(),
                };
                ledger.write(json!({"kind": "published", "id": id, "outcome": published}));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            println!("DONE");
        }
        other => panic!("no role {other}"),
    }
}

/// The `latency` role: forward port `LATENCY_PORT + i` of this host to the i-th address of
/// `UPSTREAMS` with [`LATENCY`] added both ways, until killed.
async fn forward_with_latency() {
    let upstreams = std::env::var("UPSTREAMS").expect("the nodes' addresses");
    for (i, upstream) in upstreams.split(';').enumerate() {
        let listener =
            tokio::net::TcpListener::bind(("0.0.0.0", LATENCY_PORT + u16::try_from(i).unwrap()))
                .await
                .expect("a port to forward");
        let upstream = upstream.parse().expect("an address");
        tokio::spawn(latency::forward_with_latency(listener, upstream, LATENCY));
    }
    println!("FORWARDING");
    std::future::pending::<()>().await;
}

/// A call's outcome as the ledger says it.
fn outcome(id: i64, result: Result<i64, CallError>) -> String {
    match result {
        Ok(n) if n == id => "ok".to_owned(),
        Ok(n) => format!("wrong answer {n}"),
        Err(CallError::Unreachable { .. }) => "unreachable".to_owned(),
        Err(CallError::Timeout { .. }) => "timeout".to_owned(),
        Err(e) => format!("other: {}", contracts_core::error::Report(&e)),
    }
}

/// Call `call(id)` for ids 1, 2, … until `stop` exists, writing each outcome to `ledger` as an
/// `anchor_call`.
async fn call_in_turn<F, Fut>(ledger: Ledger, stop: PathBuf, call: F)
where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = Result<i64, CallError>>,
{
    for id in 1.. {
        if stop.exists() {
            break;
        }
        let began = now();
        let outcome = outcome(id, call(id).await);
        ledger.write(json!({
            "kind": "anchor_call", "id": id, "began": began, "ended": now(), "outcome": outcome,
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ledgers' folder, removed when dropped.
struct LedgerDir(PathBuf);

impl LedgerDir {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("contracts-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the ledgers' folder");
        Self(dir)
    }
}

impl Drop for LedgerDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One scenario at a time: each starts three RabbitMQ nodes and two processes, and detection
/// and recovery are timed, so they do not share the machine's two cores with each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running scenario: the hosts, the cluster, the two processes, and the faults made so far.
pub(crate) struct Scenario {
    pub(crate) hosts: TestHosts,
    pub(crate) cluster: FaultCluster,
    dir: LedgerDir,
    pub(crate) service: TestProcess,
    pub(crate) client: TestProcess,
    /// The anchor: `ledgered`'s twin in Nameko 2.14.1, on the classic queues Nameko declares,
    /// called by the Rust client beside `ledgered`.
    nameko_service: NamekoProcess,
    /// A Nameko 2.14.1 client calling the Rust `ledgered`.
    nameko_client: NamekoProcess,
    faults: Vec<(String, f64)>,
    /// Between the clients and the nodes, with [`Link::Delayed`].
    _forwarder: Option<TestProcess>,
    /// Last, so that it is released after everything above is torn down.
    _alone: tokio::sync::MutexGuard<'static, ()>,
}

/// How the clients (Rust and Nameko) reach the nodes.
pub(crate) enum Link {
    Direct,
    /// Through a forwarder on a host of its own that adds [`LATENCY`] both ways
    /// (`contracts_testkit::latency`; this kernel has no `tc netem`).
    Delayed,
}

/// The latency of [`Link::Delayed`].
pub(crate) const LATENCY: Latency = Latency {
    delay: Duration::from_millis(100),
    jitter: Duration::from_millis(50),
};

/// The first of the forwarder's ports, one per node.
const LATENCY_PORT: u16 = 5671;

/// The Nameko client's first call id: far from the Rust client's, so that the service's ledger
/// tells them apart.
const NAMEKO_CLIENT_FIRST_ID: &str = "1000000";

/// The hosts' names: three nodes, the service's host, the client's.
pub(crate) const NODES: [&str; 3] = ["n0", "n1", "n2"];

impl Scenario {
    /// Start everything for the test named `test` (its children run it again in their role):
    /// the service and the client connect to n0 first, each listing the other nodes to
    /// fail over to. Returns once calls flow.
    pub(crate) async fn start(test: &str, label: &str) -> Self {
        Self::start_with(test, label, Link::Direct).await
    }

    /// [`Self::start`], the clients reaching the nodes over `link`.
    pub(crate) async fn start_with(test: &str, label: &str, link: Link) -> Self {
        let alone = ONE_AT_A_TIME.lock().await;
        let hosts = TestHosts::create(&["n0", "n1", "n2", "svc", "cli", "nks", "nkc", "lat"]);
        let nodes: Vec<&Host> = NODES.iter().map(|n| hosts.host(n)).collect();
        let cluster = FaultCluster::start_on(label, &nodes);
        let dir = LedgerDir::new(label);
        let uri = cluster
            .nodes()
            .iter()
            .map(|node| node.raw_uri("/"))
            .collect::<Vec<_>>()
            .join(";");
        let (forwarder, client_uri) = match link {
            Link::Direct => (None, uri.clone()),
            Link::Delayed => {
                let upstreams = cluster
                    .nodes()
                    .iter()
                    .zip(&nodes)
                    .map(|(node, host)| format!("{}:{}", host.addr, node.port))
                    .collect::<Vec<_>>()
                    .join(";");
                let mut forwarder = TestProcess::start_on(
                    hosts.host("lat"),
                    test,
                    &[(ROLE, "latency"), ("UPSTREAMS", &upstreams)],
                );
                forwarder.expect_line("FORWARDING").await;
                let at = hosts.host("lat").addr;
                let uri = (0..NODES.len())
                    .map(|i| format!("amqp://guest:guest@{at}:{}/%2f", LATENCY_PORT + i as u16))
                    .collect::<Vec<_>>()
                    .join(";");
                (Some(forwarder), uri)
            }
        };
        let start = |role: &str, host: &str| {
            let uri = if role == "client" { &client_uri } else { &uri };
            let ledger = dir.0.join(format!("{role}.jsonl"));
            TestProcess::start_on(
                hosts.host(host),
                test,
                &[
                    (ROLE, role),
                    (LEDGER, ledger.to_str().unwrap()),
                    ("AMQP_URI", uri),
                    ("QUEUE_TYPE", "quorum"),
                    ("HEARTBEAT", &HEARTBEAT.to_string()),
                    ("RECONNECT_DELAY", "0.1"),
                    ("RECONNECT_MAX_DELAY", "1"),
                ],
            )
        };
        let nameko = |role: &str, host: &str, args: &[&str]| {
            let ledger = dir.0.join(format!("{role}.jsonl"));
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nameko/cluster_roles.py");
            let env = [
                ("LEDGER", ledger.to_str().unwrap().to_owned()),
                ("HEARTBEAT", HEARTBEAT.to_string()),
            ];
            let uri = if role == "nameko_client" {
                &client_uri
            } else {
                &uri
            };
            let (host, uri) = (hosts.host(host), uri.clone());
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
                NamekoProcess::start_on(host, &NAMEKO2, &uri, &script, &args, &env).await
            }
        };
        let mut service = start("service", "svc");
        service.expect_line("SERVING").await;
        let nameko_service = nameko("nameko_service", "nks", &["service"]).await;
        let mut client = start("client", "cli");
        client.expect_line("CALLING").await;
        let deadline = DEADLINE.as_secs().to_string();
        let nameko_client = nameko(
            "nameko_client",
            "nkc",
            &["client", "ledgered", NAMEKO_CLIENT_FIRST_ID, &deadline],
        )
        .await;
        let scenario = Self {
            hosts,
            cluster,
            dir,
            service,
            client,
            nameko_service,
            nameko_client,
            _forwarder: forwarder,
            faults: Vec::new(),
            _alone: alone,
        };
        scenario.calls_served_after(0.0, 20, "calls flowing").await;
        scenario
    }

    /// The node that leads the service's queue.
    pub(crate) fn leader(&self) -> usize {
        let leader = self.cluster.node(0).quorum_leader("rpc-ledgered");
        NODES
            .iter()
            .position(|n| leader == format!("rabbit@{n}"))
            .unwrap_or_else(|| panic!("the leader {leader} is one of ours"))
    }

    pub(crate) fn host(&self, name: &str) -> &Host {
        self.hosts.host(name)
    }

    pub(crate) fn ledger(&self, role: &str) -> PathBuf {
        self.dir.0.join(format!("{role}.jsonl"))
    }

    /// Record that the fault `what` was made now; returns when.
    pub(crate) fn fault(&mut self, what: &str) -> f64 {
        let at = now();
        self.faults.push((what.to_owned(), at));
        at
    }

    /// Give the Nameko side the same fault (20 s at most): wait until the anchor and the Nameko
    /// client have each had a call that began after `after` succeed, so that their figures
    /// say how long they took rather than that the scenario moved on first. Not an assertion:
    /// those figures are Nameko's.
    pub(crate) async fn nameko_side_served_after(&self, after: f64) {
        let served = |role: &str, kind: &str| {
            read_ledger(&self.ledger(role)).iter().any(|e| {
                e["kind"] == kind && e["outcome"] == "ok" && e["began"].as_f64() > Some(after)
            })
        };
        let _ = tokio::time::timeout(Duration::from_secs(20), async {
            while !(served("client", "anchor_call") && served("nameko_client", "call")) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
    }

    /// Wait until `n` calls that began after `after` succeeded; if they have not after
    /// [`PATIENCE`], fail with what the ledger says happened since `after`. How soon they
    /// must succeed is [`Outcome::check`]'s to assert (the scenario's bound, measured from the
    /// ledgers); this wait only has to outlast it, on a machine as slow as CI's.
    pub(crate) async fn calls_served_after(&self, after: f64, n: usize, what: &str) {
        let served = |e: &Value| {
            e["kind"] == "call" && e["outcome"] == "ok" && e["began"].as_f64() > Some(after)
        };
        let waited = tokio::time::timeout(PATIENCE, async {
            while read_ledger(&self.ledger("client"))
                .iter()
                .filter(|e| served(e))
                .count()
                < n
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if waited.is_err() {
            panic!(
                "{what}: fewer than {n} calls served in {} s. Since then (s after it):\n{}",
                PATIENCE.as_secs(),
                self.since(after)
            );
        }
    }

    /// What the client's and the service's ledgers say happened after `after`, a line per
    /// entry, times in seconds from `after`: the failure message of a scenario that stalled.
    fn since(&self, after: f64) -> String {
        let mut lines: Vec<(f64, String)> = Vec::new();
        for role in ["client", "service"] {
            for e in read_ledger(&self.ledger(role)) {
                let at = e["began"].as_f64().or(e["at"].as_f64());
                let kind = e["kind"].as_str().unwrap_or_default();
                let line = match kind {
                    "call" | "anchor_call" => format!(
                        "{kind} {} {} (took {:.2} s)",
                        e["id"],
                        e["outcome"].as_str().unwrap_or_default(),
                        e["ended"].as_f64().unwrap_or(0.0) - e["began"].as_f64().unwrap_or(0.0)
                    ),
                    "published" => format!(
                        "published {} {}",
                        e["id"],
                        e["outcome"].as_str().unwrap_or_default()
                    ),
                    // Whether a call that timed out ran tells a lost request from a lost reply.
                    "ran" => format!("service ran {}", e["id"]),
                    "handled" => continue,
                    other => format!("{role} {other}"),
                };
                // Published entries have no time of their own: they follow their call.
                let at = at.or(lines.last().map(|(t, _)| *t)).unwrap_or(after);
                if at > after {
                    lines.push((at, line));
                }
            }
        }
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        lines
            .iter()
            .map(|(at, line)| format!("  {:7.2} {line}", at - after))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wait until the cluster has all three nodes running again (healed by an operator's
    /// restart if it does not heal by itself within a minute: `FaultCluster::heal`), then until
    /// calls made after that succeed.
    pub(crate) async fn whole_again(&self) {
        let back = now();
        let restarted = self.cluster.heal(3);
        if !restarted.is_empty() {
            println!("the cluster did not heal by itself within 60 s; restarted {restarted:?}");
        }
        self.calls_served_after(back, 5, "calls served once the cluster is whole again")
            .await;
    }

    /// The times at which `role`'s connection was lost (`lost`) or came back (`up`).
    pub(crate) fn marks(&self, role: &str, kind: &str) -> Vec<f64> {
        read_ledger(&self.ledger(role))
            .iter()
            .filter(|e| e["kind"] == kind)
            .filter_map(|e| e["at"].as_f64())
            .collect()
    }

    /// Stop the client, wait ([`PATIENCE`] at most) for every confirmed event to be handled, and read
    /// the ledgers.
    pub(crate) async fn finish(mut self) -> Outcome {
        let nameko_service_alive = running(&mut self.nameko_service).await;
        let nameko_client_alive = running(&mut self.nameko_client).await;
        let end = now();
        for role in ["client", "nameko_client"] {
            std::fs::write(self.ledger(role).with_extension("stop"), "").unwrap();
        }
        self.client.expect_line("DONE").await;
        let service_alive = self.service.is_running();
        let entries = |role| read_ledger(&self.ledger(role));
        let client_ledger = entries("client");
        let confirmed: BTreeSet<u64> = client_ledger
            .iter()
            .filter(|e| e["kind"] == "published" && e["outcome"] == "confirmed")
            .filter_map(|e| e["id"].as_u64())
            .collect();
        let counted = |kind: &str, ledger: &[Value]| {
            let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
            for id in ledger
                .iter()
                .filter(|e| e["kind"] == kind)
                .filter_map(|e| e["id"].as_u64())
            {
                *counts.entry(id).or_default() += 1;
            }
            counts
        };
        let _ = tokio::time::timeout(PATIENCE, async {
            while !confirmed
                .iter()
                .all(|id| counted("handled", &entries("service")).contains_key(id))
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        let service_ledger = entries("service");
        let handled = counted("handled", &service_ledger);
        let calls: Vec<Value> = client_ledger
            .iter()
            .filter(|e| e["kind"] == "call")
            .cloned()
            .collect();
        let of_kind = |ledger: &[Value], kind: &str| -> Vec<Value> {
            ledger
                .iter()
                .filter(|e| e["kind"] == kind)
                .cloned()
                .collect()
        };
        let anchor_calls = of_kind(&client_ledger, "anchor_call");
        let nameko_client_calls = of_kind(&entries("nameko_client"), "call");
        Outcome {
            recoveries: served_again(&calls, &self.faults),
            anchor: Others::of(&anchor_calls, &self.faults, nameko_service_alive, end),
            nameko_client: Others::of(&nameko_client_calls, &self.faults, nameko_client_alive, end),
            service_alive,
            lost: confirmed
                .iter()
                .copied()
                .filter(|id| !handled.contains_key(id))
                .collect(),
            twice: handled.values().filter(|n| **n > 1).count(),
            confirmed: confirmed.len(),
            failed_publishes: client_ledger
                .iter()
                .filter(|e| e["kind"] == "published" && e["outcome"] != "confirmed")
                .count(),
            ran: counted("ran", &service_ledger),
            calls,
        }
    }
}

/// Whether `process` is still running.
async fn running(process: &mut NamekoProcess) -> bool {
    tokio::time::timeout(Duration::ZERO, process.exit())
        .await
        .is_err()
}

/// Per fault, how long its callers went unserved: the longest outage among the calls begun
/// from the fault until the next one. An outage runs from the end of the last successful call
/// before a run of failed ones (or from the fault) to the end of the first successful call
/// after them; with no failure, it is the time from the fault to the first success. Infinite
/// if no call succeeded afterwards. (A fault can bite late, as a partition does once the tick
/// time has passed, and a heal can cost another outage: the longest counts.)
fn served_again(calls: &[Value], faults: &[(String, f64)]) -> Vec<(String, f64)> {
    let time = |c: &Value, field: &str| c[field].as_f64().unwrap();
    let mut calls: Vec<&Value> = calls.iter().collect();
    calls.sort_by(|a, b| time(a, "began").total_cmp(&time(b, "began")));
    faults
        .iter()
        .enumerate()
        .map(|(i, (what, at))| {
            let until = faults.get(i + 1).map_or(f64::INFINITY, |(_, next)| *next);
            let mut longest = None::<f64>;
            let mut last_ok = *at;
            let mut failing = false;
            for call in calls.iter().filter(|c| time(c, "began") >= *at) {
                if call["outcome"] == "ok" {
                    if failing || longest.is_none() {
                        let outage = time(call, "ended") - last_ok;
                        longest = Some(longest.map_or(outage, |l| l.max(outage)));
                    }
                    failing = false;
                    last_ok = time(call, "ended");
                    if time(call, "began") >= until {
                        break;
                    }
                } else if time(call, "began") < until {
                    failing = true;
                }
            }
            let outage = match (failing, longest) {
                (false, Some(longest)) => longest,
                _ => f64::INFINITY,
            };
            (what.clone(), outage)
        })
        .collect()
}

/// How long before `end` the last of `calls` ended, if longer than any call may take: the
/// caller was stuck.
fn stalled(calls: &[Value], end: f64) -> Option<f64> {
    let last = calls
        .iter()
        .filter_map(|c| c["ended"].as_f64())
        .fold(0.0, f64::max);
    Some(end - last).filter(|quiet| *quiet > DEADLINE.as_secs_f64() + 2.0)
}

/// The longest any of `calls` took.
fn longest(calls: &[Value]) -> f64 {
    calls
        .iter()
        .map(|c| c["ended"].as_f64().unwrap() - c["began"].as_f64().unwrap())
        .fold(0.0, f64::max)
}

/// How many calls ended each way.
fn outcomes(calls: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts
            .entry(call["outcome"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// The Nameko side of a scenario, reported beside ours: the anchor (the Rust client calling
/// a Nameko service), or a Nameko client calling the Rust service.
pub(crate) struct Others {
    recoveries: Vec<(String, f64)>,
    outcomes: BTreeMap<String, usize>,
    /// Whether the Nameko process was still running at the end.
    alive: bool,
    /// How long before the end its calls stopped, if a call never ended.
    stalled: Option<f64>,
    /// The longest a call took.
    longest: f64,
}

impl Others {
    /// What `calls` say of the faults, the process `alive` or not at `end`.
    fn of(calls: &[Value], faults: &[(String, f64)], alive: bool, end: f64) -> Self {
        Self {
            recoveries: served_again(calls, faults),
            outcomes: outcomes(calls),
            alive,
            stalled: stalled(calls, end),
            longest: longest(calls),
        }
    }
}

impl std::fmt::Display for Others {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let recoveries: Vec<String> = self
            .recoveries
            .iter()
            .map(|(what, took)| match took.is_finite() {
                true => format!("{what}: {took:.2} s"),
                false => format!("{what}: not within the scenario"),
            })
            .collect();
        write!(
            f,
            "served again after [{}]; calls {:?}, the longest {:.1} s",
            recoveries.join("; "),
            self.outcomes,
            self.longest,
        )?;
        if let Some(quiet) = self.stalled {
            write!(f, "; a call hung: none ended in the last {quiet:.0} s")?;
        }
        if !self.alive {
            write!(f, "; its process exited")?;
        }
        Ok(())
    }
}

/// What the ledgers say once a scenario is over.
pub(crate) struct Outcome {
    service_alive: bool,
    confirmed: usize,
    /// Confirmed events never handled.
    lost: Vec<u64>,
    /// Events handled more than once.
    twice: usize,
    failed_publishes: usize,
    /// How often each call ran on the service.
    ran: BTreeMap<u64, usize>,
    calls: Vec<Value>,
    /// Per fault: how long until it was served again ([`served_again`]).
    recoveries: Vec<(String, f64)>,
    /// The Rust client calling the anchor, Nameko's `ledgered_nameko`.
    anchor: Others,
    /// A Nameko client calling the Rust service.
    nameko_client: Others,
}

impl Outcome {
    /// Every call succeeded, and each was answered once: one outcome per call id.
    pub(crate) fn all_calls_succeeded_once(&self) {
        let failed: Vec<&Value> = self.calls.iter().filter(|c| c["outcome"] != "ok").collect();
        assert!(failed.is_empty(), "calls failed: {failed:?}");
        let ids: BTreeSet<u64> = self.calls.iter().filter_map(|c| c["id"].as_u64()).collect();
        assert_eq!(ids.len(), self.calls.len(), "a call id answered twice");
    }

    /// Print what happened, then assert what book/src/reliability.md promises under these faults:
    /// the service process survives; no call outlives its deadline by more than a second;
    /// calls fail only as `unreachable` or `timeout`, and a call that failed as `unreachable`
    /// never ran; no confirmed event is lost, none is handled twice (the handler has a dedupe
    /// store); every fault is recovered from within `bound` seconds ([`served_again`]). A
    /// Nameko client of the service is never answered wrongly; the rest of the Nameko side
    /// (its client's and the anchor's figures) is reported. Calls may run twice (a redelivered request): counted, not refused.
    pub(crate) fn check(&self, scenario: &str, bound: f64) {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for call in &self.calls {
            *counts.entry(call["outcome"].as_str().unwrap()).or_default() += 1;
        }
        let mut recoveries: Vec<f64> = self.recoveries.iter().map(|(_, r)| *r).collect();
        recoveries.sort_by(f64::total_cmp);
        let ran_twice = self.ran.values().filter(|n| **n > 1).count();
        let mut took: Vec<f64> = self
            .calls
            .iter()
            .map(|c| c["ended"].as_f64().unwrap() - c["began"].as_f64().unwrap())
            .collect();
        took.sort_by(f64::total_cmp);
        println!(
            "{scenario}: recoveries {:?} (median {:.2} s, max {:.2} s); calls {} {counts:?} \
             (median {:.3} s), {ran_twice} ran twice; events confirmed {}, lost {}, handled twice {}, publishes \
             failed {}",
            self.recoveries,
            recoveries[recoveries.len() / 2],
            recoveries.last().unwrap(),
            self.calls.len(),
            took[took.len() / 2],
            self.confirmed,
            self.lost.len(),
            self.twice,
            self.failed_publishes,
        );
        println!("{scenario}, the anchor (a Nameko service): {}", self.anchor);
        println!(
            "{scenario}, a Nameko client of the Rust service: {}",
            self.nameko_client
        );
        assert!(self.service_alive, "the service process survived");
        // What the Rust service answered a Nameko client was right; how soon that client
        // came back is Nameko's, reported.
        let answered_wrong: Vec<&String> = self
            .nameko_client
            .outcomes
            .keys()
            .filter(|o| o.starts_with("wrong") || o.starts_with("remote"))
            .collect();
        assert!(
            answered_wrong.is_empty(),
            "a Nameko client was answered {answered_wrong:?}"
        );
        for (what, took) in &self.recoveries {
            assert!(*took <= bound, "{what}: served again after {took:.2} s");
        }
        for call in &self.calls {
            let took = call["ended"].as_f64().unwrap() - call["began"].as_f64().unwrap();
            assert!(
                took <= DEADLINE.as_secs_f64() + 1.0,
                "a call outlived its deadline: {call}"
            );
            let outcome = call["outcome"].as_str().unwrap();
            assert!(
                ["ok", "unreachable", "timeout"].contains(&outcome),
                "a call failed otherwise: {call}"
            );
            if outcome == "unreachable" {
                let id = call["id"].as_u64().unwrap();
                assert!(
                    !self.ran.contains_key(&id),
                    "an unreachable call ran: {call}"
                );
            }
        }
        assert_eq!(self.lost, Vec::<u64>::new(), "no confirmed event lost");
        assert_eq!(self.twice, 0, "no event handled twice");
    }
}
