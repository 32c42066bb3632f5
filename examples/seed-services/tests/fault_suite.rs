//! The fault suite: broker restarts and a node failing over, on RabbitMQ nodes this suite
//! starts itself (own names and ports, see `contracts_testkit::FaultCluster`), so the restarts
//! never disturb the other tests. It prints its figures; book/src/fault-suite.md records a run.
//!
//! ```sh
//! scripts/test -p seed-services --test fault_suite -- --nocapture --test-threads 1
//! ```

mod duplicates;
mod faults;
mod lab;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use contracts_amqp::{AmqpTransport, BrokerUri, Config};
use contracts_core::events::dedupe::MemoryDedupe;
use contracts_core::prelude::*;
use contracts_core::{RpcClient, ServiceRunner, Transport};
use contracts_testkit::nameko::NamekoProcess;
use contracts_testkit::{FaultCluster, FaultNode, guarded};
use futures_util::FutureExt;
use lab::LabClient;
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use tokio::sync::{mpsc, watch};

const RESTARTS: usize = 10;

/// Connect to `uri` as every Rust process of the suite does: reconnecting at most a second
/// apart (`RECONNECT_MAX_DELAY: 1`). With the default (5 s), a node killed and started again
/// on a slow machine is down long enough for the wait between rounds to reach 5 s, and a
/// recovery would measure how far into that wait the node came back (seen in CI: 5.0 s and
/// 5.7 s) rather than the reconnection's own work, which the bounds hold.
async fn connect(uri: &BrokerUri) -> Arc<AmqpTransport> {
    let policy = contracts_amqp::ReconnectPolicy::new(
        Duration::from_millis(100),
        Duration::from_secs(1),
        None,
    );
    Arc::new(
        AmqpTransport::connect_to(vec![uri.clone()], policy)
            .await
            .unwrap_or_else(|e| panic!("connect to {uri}: {e}")),
    )
}

/// One scenario at a time: each starts RabbitMQ nodes of its own, and restarts are timed, so
/// they do not share the machine's two cores with each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Begin the scenario `name`: wait for the one before it, then start its `nodes` RabbitMQ
/// nodes, named after `label`. Bind both (`let (_alone, cluster) = …`): the cluster stops
/// before the next scenario may begin.
async fn scenario(
    name: &str,
    label: &str,
    nodes: usize,
) -> (tokio::sync::MutexGuard<'static, ()>, FaultCluster) {
    let alone = ONE_AT_A_TIME.lock().await;
    eprintln!("fault suite: {name}");
    (alone, FaultCluster::start(label, nodes))
}
const CALL_DEADLINE: Duration = Duration::from_secs(2);

fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

/// A node the service is connected to stops: the service reconnects to the other node of the
/// cluster (`AMQP_URI` lists both), where the mirrored queue lives on, and serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_fails_over_to_the_other_node() {
    let (_alone, cluster) = scenario("a_service_fails_over_to_the_other_node", "failover", 2).await;
    let config = Config::parse(
        &format!(
            "AMQP_URI: '{}'\nRECONNECT_DELAY: 0.05",
            cluster.raw_failover_uri("/")
        ),
        |_| None,
    )
    .unwrap();
    let service = config.connect().await.unwrap();
    let mut running = lab::serve(&service).await;
    // The caller is on the node that stays.
    let caller = connect(&cluster.node(1).uri("/")).await;
    let client = LabClient::new(RpcClient::connect(caller, "tests").await.unwrap());
    assert_eq!(client.add(1, Some(1)).await.unwrap(), 2);

    let before = service.reconnections();
    let stopped = Instant::now();
    cluster.node(0).stop_app();
    lab::reconnected(&service, before).await;
    assert_eq!(
        guarded("a call served after the failover", client.add(2, Some(3)))
            .await
            .unwrap(),
        5
    );
    let served_again = stopped.elapsed();
    println!("failover: served again {served_again:?} after its node stopped");
    assert!(
        served_again <= RECOVERY_MAX,
        "failover took {served_again:?}"
    );
    assert!(
        running.ended().now_or_never().is_none(),
        "the service stayed up"
    );
    guarded("the graceful stop", running.stop()).await;
    cluster.node(0).start_app();
}

/// `rabbitmqctl close_connection` on the service's connection, then on the client's (each
/// connects as its own user, so that each can be closed alone): each recovers by itself, the
/// other never notices, and calls go through after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_recovers_on_either_side() {
    let (_alone, cluster) =
        scenario("a_closed_connection_recovers_on_either_side", "close", 1).await;
    let node = cluster.node(0);
    let service = connect(&node.add_user("service")).await;
    let mut running = lab::serve(&service).await;
    let caller = connect(&node.add_user("client")).await;
    let client = LabClient::new(RpcClient::connect(caller.clone(), "tests").await.unwrap());
    assert_eq!(client.add(1, Some(1)).await.unwrap(), 2);

    for (side, closed, other) in [
        ("service", &service, &caller),
        ("client", &caller, &service),
    ] {
        let mut closed = closed.watch_connected();
        let other = other.watch_connected();
        let at = Instant::now();
        assert!(
            node.close_connections_of(side) >= 1,
            "{side} has a connection"
        );
        // Any change is the loss (a recovery that quick still passes through `false`).
        guarded("the loss to be seen", closed.changed())
            .await
            .unwrap();
        lab::until(&mut closed, true).await;
        let reconnected = at.elapsed();
        assert!(
            reconnected <= RECOVERY_MAX,
            "reconnecting took {reconnected:?}"
        );
        let n = i64::try_from(reconnected.as_micros()).unwrap();
        assert_eq!(
            guarded("a call after the reconnection", client.add(n, Some(1)))
                .await
                .unwrap(),
            n + 1
        );
        println!(
            "close_connection on the {side}'s connection: reconnected after {reconnected:?}, \
             calls again after {:?}",
            at.elapsed()
        );
        assert!(
            !other.has_changed().unwrap(),
            "closing the {side}'s connection left the other side's alone"
        );
    }
    assert!(
        running.ended().now_or_never().is_none(),
        "the service stayed up"
    );
    guarded("the graceful stop", running.stop()).await;
}

/// What a call ended with, and how long it took.
#[derive(Debug)]
struct Outcome {
    client: Client,
    ended: SystemTime,
    took: Duration,
    kind: String,
}

/// Who made a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Client {
    Rust,
    Nameko,
}

/// Who serves `lab`.
#[derive(Clone, Copy, Debug)]
enum Server {
    Rust,
    Nameko,
}

fn kind(result: &Result<i64, CallError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(CallError::Unreachable { .. }) => "unreachable".into(),
        Err(CallError::Timeout { .. }) => "timeout".into(),
        Err(CallError::UnknownService(_)) => "unknown service".into(),
        // Rare, and worth reading: keep what it said.
        Err(CallError::Transport(e)) => format!("transport: {e}"),
        Err(e) => format!("other: {e}"),
    }
}

fn nameko_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/nameko")
        .join(name)
}

/// The service under test: a Rust `lab`, or Nameko's.
enum Serving {
    Rust(contracts_core::RunningServices),
    Nameko(NamekoProcess),
}

impl Serving {
    async fn start(server: Server, node: &FaultNode) -> Self {
        match server {
            Server::Rust => {
                let service = connect(&node.uri("/")).await;
                Self::Rust(lab::serve(&service).await)
            }
            Server::Nameko => Self::Nameko(
                NamekoProcess::start_at(
                    &node.raw_uri("/"),
                    &nameko_script("services.py"),
                    &["lab"],
                )
                .await,
            ),
        }
    }

    /// Resolves when the service ends (a consumer of the Rust runner ended, the Nameko
    /// process exited). Cancel-safe.
    async fn ended(&mut self) {
        match self {
            Self::Rust(running) => drop(running.ended().await),
            Self::Nameko(process) => drop(process.exit().await),
        }
    }

    /// Whether the service is still up.
    fn up(&mut self) -> bool {
        self.ended().now_or_never().is_none()
    }

    async fn stop(self) {
        match self {
            Self::Rust(running) => guarded("the graceful stop", running.stop()).await,
            Self::Nameko(process) => process.terminate().await,
        }
    }
}

/// A Rust client calling `lab.add` without pause, each call bounded by `CALL_DEADLINE`, until
/// `stop` says so.
async fn rust_load(
    broker: BrokerUri,
    tx: mpsc::UnboundedSender<Outcome>,
    stop: watch::Receiver<bool>,
) {
    let caller = connect(&broker).await;
    let client = LabClient::new(
        RpcClient::connect(caller, "load")
            .await
            .unwrap()
            .with_timeout(CALL_DEADLINE),
    );
    let mut n = 0i64;
    while !*stop.borrow() {
        n += 1;
        let started = Instant::now();
        let result = client.add(n, Some(1)).await;
        if let Ok(sum) = &result {
            assert_eq!(*sum, n + 1);
        }
        let _ = tx.send(Outcome {
            client: Client::Rust,
            ended: SystemTime::now(),
            took: started.elapsed(),
            kind: kind(&result),
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A Nameko 2.14.1 client doing the same (`tests/nameko/restart_load.py`), its outcomes read
/// from the lines it prints.
async fn nameko_load(node: &FaultNode, tx: mpsc::UnboundedSender<Outcome>) -> NamekoProcess {
    let mut process = NamekoProcess::start_at(
        &node.raw_uri("/"),
        &nameko_script("restart_load.py"),
        &[&CALL_DEADLINE.as_secs_f64().to_string()],
    )
    .await;
    let mut lines = process.take_output().expect("the load's output");
    tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            #[derive(serde::Deserialize)]
            struct Line {
                kind: String,
                took: f64,
                ended: f64,
            }
            let line: Line = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("restart_load.py printed {line:?}: {e}"));
            let _ = tx.send(Outcome {
                client: Client::Nameko,
                ended: UNIX_EPOCH + Duration::from_secs_f64(line.ended),
                took: Duration::from_secs_f64(line.took),
                kind: line.kind,
            });
        }
    });
    process
}

/// Ten broker restarts (`stop_app`, `start_app`) under a continuous stream of calls from a
/// Rust client and a Nameko client at once, against `server`: the service never ends, every
/// call resolves (a reply or a clear error) within its deadline, and calls succeed again soon
/// after each restart.
async fn restarts_under_rpc_load(server: Server) {
    let (_alone, cluster) = scenario(
        &format!("restarts_under_rpc_load, {server:?} service"),
        &format!("rpc{server:?}").to_lowercase(),
        1,
    )
    .await;
    let node = cluster.node(0);
    let mut serving = Serving::start(server, node).await;
    let (tx, mut outcomes) = mpsc::unbounded_channel::<Outcome>();
    let (stop_tx, stop) = watch::channel(false);
    let rust = tokio::spawn(rust_load(node.uri("/"), tx.clone(), stop));
    let nameko = nameko_load(node, tx).await;
    let clients = [Client::Rust, Client::Nameko];
    let mut all = Vec::new();
    let mut recoveries: BTreeMap<Client, Vec<Duration>> = BTreeMap::new();
    // Steady state first.
    let waited = wait_for(
        &clients,
        &mut outcomes,
        &mut all,
        20,
        SystemTime::now(),
        &mut serving,
    )
    .await;
    assert!(matches!(waited, Waited::Recovered), "the service serves");
    let mut deaths = 0;
    let mut windows = Vec::new();
    for restart in 1..=RESTARTS {
        let down = SystemTime::now();
        node.stop_app();
        node.start_app();
        let back = SystemTime::now();
        while let Waited::ServiceDied =
            wait_for(&clients, &mut outcomes, &mut all, 5, back, &mut serving).await
        {
            // Only the anchor may die: Nameko's container thread exits on a connection reset
            // in some restarts. Its supervisor would start it again; so does the suite, and
            // the time that takes counts in the recovery.
            assert!(
                matches!(server, Server::Nameko),
                "the Rust service ended at restart {restart}"
            );
            deaths += 1;
            eprintln!(
                "fault suite: the Nameko service exited at restart {restart}; starting it again"
            );
            serving = Serving::start(server, node).await;
        }
        for client in clients {
            let first_ok = all
                .iter()
                .filter(|o| o.client == client && o.kind == "ok")
                .map(|o| o.ended)
                .find(|ended| *ended > back)
                .expect("an ok call after the restart");
            recoveries
                .entry(client)
                .or_default()
                .push(first_ok.duration_since(back).unwrap_or_default());
            if client == Client::Rust {
                windows.push((down, first_ok));
            }
        }
    }
    stop_tx.send_replace(true);
    guarded("the Rust load", rust).await.unwrap();
    drop(nameko);
    while let Ok(o) = outcomes.try_recv() {
        all.push(o);
    }
    // The anchor can also die after the last recovery was measured: it counts the same.
    let ended_at_the_end = !serving.up();
    deaths += usize::from(ended_at_the_end);
    for client in clients {
        let report = CallReport::of(&all, client);
        let recoveries = recoveries.get_mut(&client).unwrap();
        report.print(
            &format!("rpc restarts, {server:?} service, {client:?} client, {RESTARTS} restarts"),
            recoveries,
        );
        // Ours, against ours: held to the bounds. The anchor, and Nameko's standalone proxy
        // (which now and then blocks past its own timeout while it re-creates its connection,
        // whichever service it calls), are observed, not asserted.
        match (server, client) {
            (Server::Rust, Client::Rust) => report.check(&windows, recoveries),
            (Server::Rust, Client::Nameko) => check_recoveries(recoveries),
            (Server::Nameko, _) => {}
        }
    }
    println!(
        "rpc restarts, {server:?} service: the service exited {deaths} times over {RESTARTS} \
         restarts (started again each time, as a supervisor would)"
    );
    assert!(
        matches!(server, Server::Nameko) || !ended_at_the_end,
        "the Rust service never ended"
    );
    if !ended_at_the_end {
        serving.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_under_rpc_load_rust_service() {
    restarts_under_rpc_load(Server::Rust).await;
}

/// The anchor: the same restarts against a Nameko 2.14.1 `lab`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_under_rpc_load_nameko_service() {
    restarts_under_rpc_load(Server::Nameko).await;
}

/// How waiting for calls to succeed ended.
enum Waited {
    /// Every client made its successful calls.
    Recovered,
    /// The service process exited meanwhile.
    ServiceDied,
}

/// Wait until every one of `clients` has made `oks` successful calls that ended after `after`,
/// or the service exits.
async fn wait_for(
    clients: &[Client],
    outcomes: &mut mpsc::UnboundedReceiver<Outcome>,
    all: &mut Vec<Outcome>,
    oks: usize,
    after: SystemTime,
    serving: &mut Serving,
) -> Waited {
    let mut seen: BTreeMap<Client, usize> = clients.iter().map(|c| (*c, 0)).collect();
    guarded("calls succeeding", async {
        while seen.values().any(|n| *n < oks) {
            tokio::select! {
                o = outcomes.recv() => {
                    let o = o.expect("the load is running");
                    if o.kind == "ok" && o.ended > after {
                        seen.entry(o.client).and_modify(|n| *n += 1);
                    }
                    all.push(o);
                }
                () = serving.ended() => return Waited::ServiceDied,
            }
        }
        Waited::Recovered
    })
    .await
}

/// The longest a service may take to serve again once the broker takes connections (or, for a
/// closed connection, once it was closed), and the most its median may be over a scenario.
/// Measured: at most 0.8 s and a median of 0.6 s on the 2-core machine (book/src/fault-suite.md);
/// the bounds leave a slower machine room, and still fail a recovery that waits out a backoff
/// or a heartbeat.
const RECOVERY_MAX: Duration = Duration::from_secs(10);
const RECOVERY_MEDIAN: Duration = Duration::from_secs(3);

/// The calls of one client in a scenario.
struct CallReport {
    calls: usize,
    counts: BTreeMap<String, usize>,
    slowest: Duration,
    hangs: usize,
    /// When each failed call began, and how it failed.
    failures: Vec<(SystemTime, String)>,
}

/// From just before a fault was made to the first successful call after it healed.
type Window = (SystemTime, SystemTime);

impl CallReport {
    fn of(all: &[Outcome], client: Client) -> Self {
        let calls: Vec<&Outcome> = all.iter().filter(|o| o.client == client).collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for o in &calls {
            *counts.entry(o.kind.clone()).or_default() += 1;
        }
        Self {
            calls: calls.len(),
            counts,
            slowest: calls.iter().map(|o| o.took).max().unwrap_or_default(),
            hangs: calls
                .iter()
                .filter(|o| o.kind == "Hang" || o.took > CALL_DEADLINE + Duration::from_secs(1))
                .count(),
            failures: calls
                .iter()
                .filter(|o| o.kind != "ok")
                .map(|o| (o.ended - o.took, o.kind.clone()))
                .collect(),
        }
    }

    fn print(&self, what: &str, recoveries: &mut [Duration]) {
        let max = recoveries.iter().max().copied().unwrap_or_default();
        println!(
            "{what}: recovery median {:?}, max {max:?}; calls {} {:?}; slowest {:?} (deadline \
             {CALL_DEADLINE:?}); hangs {}",
            median(recoveries),
            self.calls,
            self.counts,
            self.slowest,
            self.hangs,
        );
    }

    /// What a Rust client of a Rust service is held to: no call outlives its deadline by more
    /// than a second; a call fails only if it began during a fault (from a deadline before it
    /// was made to the first successful call after it healed), and only as `unreachable` (its
    /// request never left) or `timeout`; recovery within the bounds.
    fn check(&self, windows: &[Window], recoveries: &[Duration]) {
        assert_eq!(self.hangs, 0, "every call resolved within its deadline");
        for (began, kind) in &self.failures {
            assert!(
                kind == "unreachable" || kind == "timeout",
                "a call failed as {kind}"
            );
            assert!(
                windows
                    .iter()
                    .any(|(fault, healed)| *began + CALL_DEADLINE >= *fault && began <= healed),
                "a call that began outside every fault failed as {kind}"
            );
        }
        assert!(self.counts.get("ok").is_some_and(|n| *n > 0));
        check_recoveries(recoveries);
    }
}

/// Every recovery within [`RECOVERY_MAX`], their median within [`RECOVERY_MEDIAN`].
fn check_recoveries(recoveries: &[Duration]) {
    let mut sorted = recoveries.to_vec();
    let max = sorted.iter().max().copied().unwrap_or_default();
    assert!(
        max <= RECOVERY_MAX,
        "a recovery took {max:?}: {recoveries:?}"
    );
    let median = median(&mut sorted);
    assert!(
        median <= RECOVERY_MEDIAN,
        "recovery median {median:?}: {recoveries:?}"
    );
}

/// Continuous event publishing (confirmed, persistent, durable queue) to a handler with a
/// dedupe store, on the broker at `uri`: what was confirmed, what failed, what was handled and
/// how often, and what the store suppressed. Events named `hold` are held by their handler
/// until released ([`EventLoad::hold_one`]).
struct EventLoad {
    running: contracts_core::RunningServices,
    handled: Arc<Mutex<BTreeMap<u64, usize>>>,
    duplicates: watch::Receiver<usize>,
    progress: watch::Receiver<usize>,
    confirmed: Arc<Mutex<Vec<u64>>>,
    failed: Arc<Mutex<Vec<String>>>,
    stop: watch::Sender<bool>,
    publishing: tokio::task::JoinHandle<()>,
    holds: mpsc::UnboundedReceiver<u64>,
    release: Arc<tokio::sync::Notify>,
    publisher: UserServicePublisher,
}

/// What an [`EventLoad`] saw, once every confirmed event was handled (or waited for in vain).
struct EventReport {
    confirmed: usize,
    failed: Vec<String>,
    /// Confirmed, never handled.
    lost: Vec<u64>,
    handled: usize,
    twice: usize,
    duplicates: usize,
}

impl EventLoad {
    async fn start(uri: &BrokerUri) -> Self {
        let handler_broker = connect(uri).await;
        let handled: Arc<Mutex<BTreeMap<u64, usize>>> = Arc::default();
        let (store, duplicates) = duplicates::Watched::new(MemoryDedupe::new());
        let (progress_tx, progress) = watch::channel(0usize);
        let (holding, holds) = mpsc::unbounded_channel();
        let release = Arc::new(tokio::sync::Notify::new());
        let handler = UserServiceContract::user_created()
            .handler("audit", "on_user_created", {
                let (handled, release) = (handled.clone(), release.clone());
                move |e: UserCreated| {
                    let (handled, progress_tx) = (handled.clone(), progress_tx.clone());
                    let (holding, release) = (holding.clone(), release.clone());
                    async move {
                        if e.name == "hold" {
                            let released = release.notified();
                            let _ = holding.send(e.user_id);
                            released.await;
                        }
                        *handled.lock().unwrap().entry(e.user_id).or_default() += 1;
                        progress_tx.send_modify(|n| *n += 1);
                        Ok::<(), String>(())
                    }
                }
            })
            .dedupe(store);
        let running = ServiceRunner::new(handler_broker)
            .subscribe(handler)
            .start()
            .await
            .unwrap();
        let publisher_broker = connect(uri).await;
        let publisher = UserServicePublisher::new(publisher_broker);
        let confirmed: Arc<Mutex<Vec<u64>>> = Arc::default();
        let failed: Arc<Mutex<Vec<String>>> = Arc::default();
        let (stop, stopped) = watch::channel(false);
        let publishing = tokio::spawn({
            let (confirmed, failed, publisher) =
                (confirmed.clone(), failed.clone(), publisher.clone());
            async move {
                let mut user_id = 0;
                while !*stopped.borrow() {
                    user_id += 1;
                    let event = UserCreated {
                        user_id,
                        name: "restart".into(),
                    };
                    match publisher.user_created(&event).await {
                        Ok(()) => confirmed.lock().unwrap().push(user_id),
                        Err(e) => failed
                            .lock()
                            .unwrap()
                            .push(contracts_core::error::Report(&e).to_string()),
                    }
                }
            }
        });
        Self {
            running,
            handled,
            duplicates,
            progress,
            confirmed,
            failed,
            stop,
            publishing,
            holds,
            release,
            publisher,
        }
    }

    /// Wait until `n` more events were handled.
    async fn flowing(&mut self, n: usize) {
        let before = *self.progress.borrow();
        guarded(
            "events flowing",
            self.progress.wait_for(|h| *h >= before + n),
        )
        .await
        .unwrap();
    }

    /// Publish an event its handler holds, and return once the handler holds it: a fault
    /// made now, before [`Self::release`], leaves it handled but not acknowledged, so the
    /// broker delivers it again and the dedupe store must suppress the copy.
    async fn hold_one(&mut self, user_id: u64) {
        let event = UserCreated {
            user_id,
            name: "hold".into(),
        };
        self.publisher.user_created(&event).await.unwrap();
        self.confirmed.lock().unwrap().push(user_id);
        let held = guarded("the handler holding the event", self.holds.recv()).await;
        assert_eq!(held, Some(user_id));
    }

    /// Let the held handlers finish.
    fn release(&self) {
        self.release.notify_waiters();
    }

    /// Stop publishing, wait for every confirmed event to be handled (30 s at most), stop the
    /// handler, and report.
    async fn finish(mut self) -> EventReport {
        self.stop.send_replace(true);
        guarded("the publisher", self.publishing).await.unwrap();
        let confirmed = self.confirmed.lock().unwrap().clone();
        let missing = || {
            let handled = self.handled.lock().unwrap();
            confirmed
                .iter()
                .copied()
                .filter(|id| !handled.contains_key(id))
                .collect::<Vec<_>>()
        };
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while !missing().is_empty() {
                self.progress.changed().await.unwrap();
            }
        })
        .await;
        assert!(
            self.running.ended().now_or_never().is_none(),
            "the handler never ended"
        );
        guarded("the graceful stop", self.running.stop()).await;
        let handled = self.handled.lock().unwrap().clone();
        EventReport {
            confirmed: confirmed.len(),
            failed: self.failed.lock().unwrap().clone(),
            lost: missing(),
            handled: handled.len(),
            twice: handled.values().filter(|n| **n > 1).count(),
            duplicates: *self.duplicates.borrow(),
        }
    }
}

impl EventReport {
    /// Print the figures, then assert what book/src/reliability.md promises: no confirmed event
    /// lost, none handled twice with a dedupe store, no publish failed, and at least
    /// `redeliveries` copies suppressed by the store.
    fn check(&self, what: &str, redeliveries: usize) {
        println!(
            "{what}: published and confirmed {}, failed {}, lost {}, handled {}, duplicates \
             suppressed {}, handled twice {}",
            self.confirmed,
            self.failed.len(),
            self.lost.len(),
            self.handled,
            self.duplicates,
            self.twice,
        );
        assert_eq!(self.lost, Vec::<u64>::new(), "no confirmed event lost");
        assert_eq!(self.twice, 0, "no event handled twice");
        assert_eq!(self.failed, Vec::<String>::new(), "no publish failed");
        assert!(
            self.duplicates >= redeliveries,
            "the forced redeliveries were suppressed ({} < {redeliveries})",
            self.duplicates
        );
    }
}

/// Ten restarts under continuous publishing: every confirmed event reaches its handler, none
/// twice (the dedupe store suppresses redeliveries, one of them forced at the first restart:
/// an event handled but not yet acknowledged), and no publish fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_under_event_publishing() {
    let (_alone, cluster) = scenario("restarts_under_event_publishing", "events", 1).await;
    let node = cluster.node(0);
    let mut load = EventLoad::start(&node.uri("/")).await;
    for restart in 0..RESTARTS {
        load.flowing(20).await;
        if restart == 0 {
            load.hold_one(u64::MAX).await;
            node.stop_app();
            load.release();
        } else {
            node.stop_app();
        }
        node.start_app();
    }
    load.flowing(20).await;
    load.finish()
        .await
        .check(&format!("event restarts: {RESTARTS}"), 1);
}

/// The node's Erlang VM killed outright (`kill -9`: no connection closed, nothing flushed),
/// then started again on its data, three times, under continuous calls and event publishing:
/// the service never ends, every call resolves within its deadline, calls succeed again
/// within `RECOVERY_BOUND` of the node taking connections, and no confirmed event is lost or
/// handled twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_broker_under_rpc_load_and_publishing() {
    const KILLS: usize = 3;
    let (_alone, cluster) =
        scenario("a_killed_broker_under_rpc_load_and_publishing", "kill", 1).await;
    let node = cluster.node(0);
    let mut serving = Serving::start(Server::Rust, node).await;
    let (tx, mut outcomes) = mpsc::unbounded_channel::<Outcome>();
    let (stop_tx, stop) = watch::channel(false);
    let rust = tokio::spawn(rust_load(node.uri("/"), tx, stop));
    let mut load = EventLoad::start(&node.uri("/")).await;
    let mut all = Vec::new();
    let mut recoveries = Vec::new();
    let mut windows = Vec::new();
    let waited = wait_for(
        &[Client::Rust],
        &mut outcomes,
        &mut all,
        20,
        SystemTime::now(),
        &mut serving,
    )
    .await;
    assert!(matches!(waited, Waited::Recovered), "the service serves");
    for kill in 0..KILLS {
        load.flowing(20).await;
        load.hold_one(u64::MAX - kill as u64).await;
        let down = SystemTime::now();
        node.kill();
        load.release();
        node.start();
        let back = SystemTime::now();
        let waited = wait_for(
            &[Client::Rust],
            &mut outcomes,
            &mut all,
            5,
            back,
            &mut serving,
        )
        .await;
        assert!(
            matches!(waited, Waited::Recovered),
            "the Rust service ended at kill {kill}"
        );
        let first_ok = all
            .iter()
            .filter(|o| o.kind == "ok")
            .map(|o| o.ended)
            .find(|ended| *ended > back)
            .expect("an ok call after the node came back");
        recoveries.push(first_ok.duration_since(back).unwrap_or_default());
        windows.push((down, first_ok));
    }
    load.flowing(20).await;
    stop_tx.send_replace(true);
    guarded("the Rust load", rust).await.unwrap();
    while let Ok(o) = outcomes.try_recv() {
        all.push(o);
    }
    let report = load.finish().await;
    let calls = CallReport::of(&all, Client::Rust);
    calls.print(
        &format!("kill -9, Rust service, Rust client, {KILLS} kills"),
        &mut recoveries,
    );
    calls.check(&windows, &recoveries);
    report.check(&format!("event kills: {KILLS}"), KILLS);
    assert!(serving.up(), "the Rust service never ended");
    serving.stop().await;
}

/// A memory alarm on the node (`set_vm_memory_high_watermark`): RabbitMQ blocks publishing
/// connections; a call fails at its deadline naming the alarm, and an event publish likewise;
/// once the alarm clears, work resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_alarm_blocks_then_work_resumes() {
    let (_alone, cluster) = scenario("a_memory_alarm_blocks_then_work_resumes", "alarm", 1).await;
    let node = cluster.node(0);
    let service = connect(&node.uri("/")).await;
    let mut running = lab::serve(&service).await;
    let caller = connect(&node.uri("/")).await;
    let rpc = RpcClient::connect(caller.clone(), "tests").await.unwrap();
    let client = LabClient::new(rpc.with_timeout(Duration::from_secs(1)));
    assert_eq!(client.add(1, Some(1)).await.unwrap(), 2);

    let mut blocked = caller.watch_blocked();
    node.ctl(&["set_vm_memory_high_watermark", "0.0000001", "-q"]);
    // RabbitMQ blocks a connection when it next publishes: this call is the first to wait.
    match client.add(2, Some(2)).await {
        Err(CallError::Blocked { reason, after, .. }) => {
            assert!(reason.contains("memory"), "{reason}");
            assert_eq!(after, Duration::from_secs(1));
        }
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert!(blocked.borrow_and_update().is_some());
    let publisher = UserServicePublisher::new(caller.clone()).with_timeout(Duration::from_secs(1));
    let event = UserCreated {
        user_id: 1,
        name: "blocked".into(),
    };
    match publisher.user_created(&event).await {
        Err(contracts_core::PublishError::Timeout { blocked, .. }) => {
            assert!(blocked.is_some_and(|r| r.contains("memory")));
        }
        other => panic!("expected a blocked publish, got {other:?}"),
    }
    assert_eq!(rpc.pending_calls(), 0, "nothing piles up while blocked");

    node.ctl(&["set_vm_memory_high_watermark", "0.4", "-q"]);
    guarded("the alarm to clear", blocked.wait_for(Option::is_none))
        .await
        .unwrap();
    let client = LabClient::new(rpc.with_timeout(Duration::from_secs(10)));
    assert_eq!(
        guarded("a call after the alarm", client.add(3, Some(3)))
            .await
            .unwrap(),
        6
    );
    assert!(running.ended().now_or_never().is_none());
    guarded("the graceful stop", running.stop()).await;
}
