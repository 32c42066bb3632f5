//! Silent network loss on hosts of the test's own (`contracts_testkit::TestHosts`): every
//! packet between a process and the RabbitMQ node it is connected to dropped, both ways,
//! nothing closed (no FIN, no RST), as a switch or a NAT table that forgets a connection does.
//! The connection looks open; only heartbeats can tell. Three nodes clustered, quorum queues,
//! the service, and a client that calls and publishes, each a process on a host of its own.
//!
//! Every process writes what it saw to a ledger (a file per process, outside the faulted
//! network) and the test checks the guarantees of docs/reliability.md against it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contracts_amqp::Config;
use contracts_core::RpcClient;
use contracts_core::events::dedupe::MemoryDedupe;
use contracts_core::prelude::*;
use contracts_testkit::{FaultCluster, TestHosts, TestProcess, guarded};
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use serde_json::{Value, json};

/// Set in a child process: the part it plays, and where its ledger goes.
const ROLE: &str = "CONTRACTS_BLACKHOLE_ROLE";
const LEDGER: &str = "CONTRACTS_BLACKHOLE_LEDGER";
const TEST: &str = "a_silent_blackhole_is_detected_by_heartbeats_and_recovered";
/// Seconds between heartbeats: short, so that the test is; the detection bound scales with it.
const HEARTBEAT: u64 = 2;
/// Each call's deadline.
const DEADLINE: Duration = Duration::from_secs(5);

fn now() -> f64 {
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

fn read_ledger(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("ledger line {l:?}: {e}")))
        .collect()
}

/// The ledgered lab: `add(id, 0)` is call `id`; each execution is written down.
#[service(name = "ledgered")]
trait Ledgered {
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

async fn child(role: &str) {
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
            let client = LedgeredClient::new(rpc);
            let publisher = UserServicePublisher::new(transport.clone()).with_timeout(DEADLINE);
            let stop = PathBuf::from(std::env::var(LEDGER).unwrap()).with_extension("stop");
            println!("CALLING");
            // Bounded: until the test says stop, or 5 minutes at most.
            for id in 1..=30_000 {
                if stop.exists() {
                    break;
                }
                let began = now();
                let outcome = match client.run(id).await {
                    Ok(n) if n == id => "ok".to_owned(),
                    Ok(n) => format!("wrong answer {n}"),
                    Err(CallError::Unreachable { .. }) => "unreachable".to_owned(),
                    Err(CallError::Timeout { .. }) => "timeout".to_owned(),
                    Err(e) => format!("other: {e}"),
                };
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

/// The ledgers' folder, removed when dropped.
struct LedgerDir(PathBuf);

impl LedgerDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("contracts-blackhole-{}", std::process::id()));
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

/// Wait until the ledger at `path` has `n` entries matching `test` that began after `after`.
async fn until_ledger(path: &Path, n: usize, test: impl Fn(&Value) -> bool, what: &str) {
    guarded(what, async {
        loop {
            if read_ledger(path).iter().filter(|e| test(e)).count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_blackhole_is_detected_by_heartbeats_and_recovered() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role).await;
    }
    let hosts = TestHosts::create(&["n0", "n1", "n2", "svc", "cli"]);
    let (n0, n1, n2) = (hosts.host("n0"), hosts.host("n1"), hosts.host("n2"));
    let cluster = FaultCluster::start_on("blackhole", &[n0, n1, n2]);
    let dir = LedgerDir::new();
    let ledger = |role: &str| dir.0.join(format!("{role}.jsonl"));
    // The service starts on n0, the client on n1; each lists the others to fail over to.
    let uri = |first: usize| {
        let nodes = cluster.nodes();
        (0..3)
            .map(|i| nodes[(first + i) % 3].raw_uri("/"))
            .collect::<Vec<_>>()
            .join(";")
    };
    let start = |role: &str, host: &str, first: usize| {
        let (uri, ledger) = (uri(first), ledger(role));
        TestProcess::start_on(
            hosts.host(host),
            TEST,
            &[
                (ROLE, role),
                (LEDGER, ledger.to_str().unwrap()),
                ("AMQP_URI", &uri),
                ("QUEUE_TYPE", "quorum"),
                ("HEARTBEAT", &HEARTBEAT.to_string()),
                ("RECONNECT_DELAY", "0.1"),
                ("RECONNECT_MAX_DELAY", "1"),
            ],
        )
    };
    let mut service = start("service", "svc", 0);
    service.expect_line("SERVING").await;
    let mut client = start("client", "cli", 1);
    client.expect_line("CALLING").await;
    let ok = |e: &Value| e["kind"] == "call" && e["outcome"] == "ok";
    until_ledger(&ledger("client"), 20, ok, "calls flowing").await;

    let mut faults = Vec::new();
    // 1. Between the service and its node: the service must notice by itself.
    hosts.host("svc").drop_traffic_with(&[n0]);
    let cut = now();
    service.expect_line("service lost").await;
    service.expect_line("service up").await;
    let after_cut = |e: &Value| ok(e) && e["began"].as_f64() > Some(cut);
    until_ledger(
        &ledger("client"),
        5,
        after_cut,
        "calls served after the cut",
    )
    .await;
    faults.push(("service ↔ its node", cut));
    hosts.host("svc").restore_traffic();

    // 2. Between the client (calls and publishes only) and its node.
    hosts.host("cli").drop_traffic_with(&[n1]);
    let cut = now();
    client.expect_line("client lost").await;
    client.expect_line("client up").await;
    let after_cut = |e: &Value| ok(e) && e["began"].as_f64() > Some(cut);
    until_ledger(
        &ledger("client"),
        5,
        after_cut,
        "calls after the client's cut",
    )
    .await;
    faults.push(("client ↔ its node", cut));
    hosts.host("cli").restore_traffic();

    std::fs::write(ledger("client").with_extension("stop"), "").unwrap();
    client.expect_line("DONE").await;
    let service_alive = service.is_running();

    let entries = |role| read_ledger(&ledger(role));
    let (service_ledger, client_ledger) = (entries("service"), entries("client"));
    // Every confirmed event handled, once (the handler's dedupe store), within 30 s.
    let confirmed: BTreeSet<u64> = client_ledger
        .iter()
        .filter(|e| e["kind"] == "published" && e["outcome"] == "confirmed")
        .filter_map(|e| e["id"].as_u64())
        .collect();
    let handled = |ledger: &[Value]| {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for id in ledger
            .iter()
            .filter(|e| e["kind"] == "handled")
            .filter_map(|e| e["id"].as_u64())
        {
            *counts.entry(id).or_default() += 1;
        }
        counts
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while !confirmed
            .iter()
            .all(|id| handled(&entries("service")).contains_key(id))
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let handled = handled(&entries("service"));
    let lost: Vec<_> = confirmed
        .iter()
        .filter(|id| !handled.contains_key(id))
        .collect();
    let twice = handled.values().filter(|n| **n > 1).count();
    let failed_publishes: Vec<&Value> = client_ledger
        .iter()
        .filter(|e| e["kind"] == "published" && e["outcome"] != "confirmed")
        .collect();

    let ran: BTreeMap<i64, usize> =
        service_ledger
            .iter()
            .filter(|e| e["kind"] == "ran")
            .fold(BTreeMap::new(), |mut ran, e| {
                *ran.entry(e["id"].as_i64().unwrap()).or_default() += 1;
                ran
            });
    let calls: Vec<&Value> = client_ledger
        .iter()
        .filter(|e| e["kind"] == "call")
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for call in &calls {
        *counts
            .entry(call["outcome"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let marks = |ledger: &[Value], kind: &str| -> Vec<f64> {
        ledger
            .iter()
            .filter(|e| e["kind"] == kind)
            .filter_map(|e| e["at"].as_f64())
            .collect()
    };
    let mut report = Vec::new();
    for ((what, cut), ledger) in faults.iter().zip([&service_ledger, &client_ledger]) {
        let lost_at = marks(ledger, "lost")
            .into_iter()
            .find(|t| t > cut)
            .expect("the loss was seen");
        let up_at = marks(ledger, "up")
            .into_iter()
            .find(|t| *t > lost_at)
            .expect("the reconnection");
        let served = calls
            .iter()
            .filter(|c| c["outcome"] == "ok" && c["began"].as_f64() > Some(*cut))
            .filter_map(|c| c["ended"].as_f64())
            .fold(f64::INFINITY, f64::min);
        report.push((what, lost_at - cut, up_at - cut, served - cut));
    }
    for (what, detected, reconnected, served) in &report {
        println!(
            "blackhole {what}: detected after {detected:.2} s (heartbeat {HEARTBEAT} s), \
             reconnected after {reconnected:.2} s, served again after {served:.2} s"
        );
    }
    println!(
        "blackhole: calls {} {counts:?}; events confirmed {}, lost {}, handled twice {twice}, \
         publishes failed {}",
        calls.len(),
        confirmed.len(),
        lost.len(),
        failed_publishes.len()
    );

    // The checker: what docs/reliability.md promises.
    assert!(service_alive, "the service process survived");
    for (what, detected, _, served) in &report {
        // Detection takes about two heartbeat intervals; a third is the margin a slower
        // machine needs.
        assert!(
            *detected <= 3.0 * HEARTBEAT as f64 + 1.0,
            "{what}: detected after {detected} s"
        );
        assert!(*served <= 30.0, "{what}: served again after {served} s");
    }
    for call in &calls {
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
            let id = call["id"].as_i64().unwrap();
            assert!(!ran.contains_key(&id), "an unreachable call ran: {call}");
        }
    }
    assert_eq!(lost, Vec::<&u64>::new(), "no confirmed event lost");
    assert_eq!(twice, 0, "no event handled twice");
    drop(service);
    drop(cluster);
}
