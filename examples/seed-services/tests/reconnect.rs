//! Riding out a lost broker connection, on the real RabbitMQ, each test in its own vhost:
//! connections closed by the broker (`rabbitmqctl close_all_connections`) and an outage made by
//! a proxy in front of the broker that cuts every connection and turns new ones away. Services
//! keep serving, clients keep calling, publishers keep publishing, and a call that cannot
//! reach the broker in time says so.

mod lab;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts_amqp::AmqpTransport;
use contracts_core::events::dedupe::MemoryDedupe;
use contracts_core::prelude::*;
use contracts_core::{PublishError, RpcClient, ServiceRunner, Transport};
use contracts_testkit::{BrokerProxy, TestVhost, guarded};
use futures_util::FutureExt;
use lab::{LabClient, LabImpl, LabServer};
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use tokio::sync::watch;

fn rabbitmqctl(args: &[&str]) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("run rabbitmqctl");
    assert!(out.status.success(), "rabbitmqctl {args:?}: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_closed_by_the_broker_are_recovered() {
    let vhost = TestVhost::create("closed");
    let broker = vhost.connect().await;
    let mut running = lab::serve(&broker).await;
    let client = LabClient::new(RpcClient::connect(broker.clone(), "tests").await.unwrap());
    assert_eq!(client.add(1, Some(1)).await.unwrap(), 2);
    let before = broker.reconnections();

    rabbitmqctl(&[
        "close_all_connections",
        "-p",
        vhost.name(),
        "test: closed",
        "-q",
    ]);
    // Lost and back (maybe before rabbitmqctl returns).
    lab::reconnected(&broker, before).await;
    // The service re-subscribed, the client's reply queue came back: calls go through.
    assert_eq!(
        guarded("a call after the reconnection", client.add(2, Some(3)))
            .await
            .unwrap(),
        5
    );
    assert!(
        running.ended().now_or_never().is_none(),
        "no consumer ended: the service stays up"
    );
    let lab = vhost.queue("rpc-lab").expect("the service queue");
    assert_eq!(lab.consumers, 1, "one consumer, not a stale one beside it");

    // A queue deleted under a consumer is not recovered: that ends the service for its
    // supervisor to see.
    rabbitmqctl(&["delete_queue", "rpc-lab", "-p", vhost.name(), "-q"]);
    assert_eq!(
        guarded("the consumer's end", running.ended()).await,
        "rpc-lab"
    );
    guarded("the graceful stop", running.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_ridden_out_and_calls_meanwhile_say_the_broker_is_unreachable() {
    let vhost = TestVhost::create("outage");
    let proxy = BrokerProxy::start(vhost.broker_addr()).await;
    let uri = vhost.uri_via(&proxy);
    let service = AmqpTransport::shared(&uri).await.unwrap();
    let mut running = lab::serve(&service).await;
    let caller = AmqpTransport::shared(&uri).await.unwrap();
    let rpc = RpcClient::connect(caller.clone(), "tests").await.unwrap();
    let client = LabClient::new(rpc.with_timeout(Duration::from_secs(20)));
    assert_eq!(client.add(1, Some(1)).await.unwrap(), 2);

    let (mut service_up, mut caller_up) = (service.watch_connected(), caller.watch_connected());
    proxy.cut();
    lab::until(&mut caller_up, false).await;
    lab::until(&mut service_up, false).await;

    // A call whose deadline passes while the broker is away says so.
    let hasty = LabClient::new(rpc.with_timeout(Duration::from_millis(300)));
    match hasty.add(1, Some(2)).await {
        Err(CallError::Unreachable { after, .. }) => {
            assert_eq!(after, Duration::from_millis(300));
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    // One with time to spare waits for the broker and goes through once it is back.
    let patient = tokio::spawn({
        let client = client.clone();
        async move { client.add(20, Some(22)).await }
    });
    proxy.restore();
    assert_eq!(
        guarded("the patient call", patient).await.unwrap().unwrap(),
        42
    );
    assert!(*service_up.borrow() && *caller_up.borrow());
    assert!(
        running.ended().now_or_never().is_none(),
        "the service stayed up"
    );
    assert_eq!(rpc.pending_calls(), 0);
    guarded("the graceful stop", running.stop()).await;
}

/// Events published across an outage: each publish returns only once the broker confirmed
/// it, retrying on the new connection; every confirmed event reaches its handler, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_events_survive_an_outage_and_are_handled_once() {
    const EVENTS: u64 = 100;
    let vhost = TestVhost::create("outage-events");
    let proxy = BrokerProxy::start(vhost.broker_addr()).await;
    let publisher_broker = AmqpTransport::shared(&vhost.uri_via(&proxy)).await.unwrap();
    let handler_broker = vhost.connect().await;
    let handled: Arc<Mutex<BTreeMap<u64, usize>>> = Arc::default();
    let (seen_tx, mut seen) = watch::channel(0usize);
    let handler = UserServiceContract::user_created()
        .handler("audit", "on_user_created", {
            let handled = handled.clone();
            move |e: UserCreated| {
                let (handled, seen_tx) = (handled.clone(), seen_tx.clone());
                async move {
                    *handled.lock().unwrap().entry(e.user_id).or_default() += 1;
                    seen_tx.send_modify(|n| *n += 1);
                    Ok::<(), String>(())
                }
            }
        })
        .dedupe(MemoryDedupe::new());
    let running = ServiceRunner::new(handler_broker.clone())
        .subscribe(handler)
        .start()
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(publisher_broker.clone());
    let publishing = tokio::spawn(async move {
        for user_id in 1..=EVENTS {
            let event = UserCreated {
                user_id,
                name: format!("user {user_id}"),
            };
            publisher
                .user_created(&event)
                .await
                .expect("confirmed in the end");
        }
    });
    // Cut the publisher off a third of the way through, then let it back.
    guarded(
        "a third of the events",
        seen.wait_for(|n| *n as u64 >= EVENTS / 3),
    )
    .await
    .unwrap();
    let mut up = publisher_broker.watch_connected();
    proxy.cut();
    lab::until(&mut up, false).await;
    // A publish with a short deadline fails at it, saying the broker was away.
    let hasty = UserServicePublisher::new(publisher_broker.clone())
        .with_timeout(Duration::from_millis(300));
    let late = UserCreated {
        user_id: EVENTS + 1,
        name: "late".into(),
    };
    match hasty.user_created(&late).await {
        Err(PublishError::Timeout {
            unreachable, after, ..
        }) => assert!(unreachable && after == Duration::from_millis(300)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    proxy.restore();
    guarded("every publish confirmed", publishing)
        .await
        .unwrap();
    guarded(
        "every event handled",
        seen.wait_for(|n| *n as u64 >= EVENTS),
    )
    .await
    .unwrap();
    guarded("the graceful stop", running.stop()).await;
    let mut handled = handled.lock().unwrap().clone();
    // The unconfirmed one may or may not have reached the broker before the cut.
    handled.remove(&(EVENTS + 1));
    assert_eq!(handled.len() as u64, EVENTS, "no confirmed event lost");
    assert!(
        handled.values().all(|n| *n == 1),
        "none handled twice: {handled:?}"
    );
}

/// `AMQP_URI` as a failover list: on connect and on every reconnection each broker is tried
/// in turn. Here the first is a proxy that goes down and the second the broker itself, so the
/// service moves to the second and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_list_is_tried_in_turn() {
    let vhost = TestVhost::create("failover");
    let proxy = BrokerProxy::start(vhost.broker_addr()).await;
    let config = contracts_amqp::Config::parse(
        &format!(
            "AMQP_URI: '{};{}'\nRECONNECT_DELAY: 0.05",
            vhost.raw_uri_via(&proxy),
            vhost.raw_uri()
        ),
        |_| None,
    )
    .unwrap();
    let broker = config.connect().await.unwrap();
    let mut running = lab::serve(&broker).await;
    let client = LabClient::new(
        RpcClient::connect(vhost.connect().await, "tests")
            .await
            .unwrap(),
    );
    assert_eq!(client.add(1, Some(1)).await.unwrap(), 2);
    let before = broker.reconnections();
    proxy.cut();
    lab::reconnected(&broker, before).await;
    assert_eq!(
        guarded(
            "a call served through the second broker",
            client.add(2, Some(2))
        )
        .await
        .unwrap(),
        4
    );
    assert!(running.ended().now_or_never().is_none());
    guarded("the graceful stop", running.stop()).await;
}

/// With a limit on reconnection rounds, a broker that stays away ends the service's
/// consumers, which `RunningServices::ended` reports for the process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giving_up_on_the_broker_ends_the_service() {
    let vhost = TestVhost::create("give-up");
    let proxy = BrokerProxy::start(vhost.broker_addr()).await;
    let policy = contracts_amqp::ReconnectPolicy::new(
        Duration::from_millis(20),
        Duration::from_millis(50),
        Some(3),
    );
    let broker = Arc::new(
        AmqpTransport::connect_to(vec![vhost.uri_via(&proxy)], policy)
            .await
            .unwrap(),
    );
    let mut running = lab::serve(&broker).await;
    proxy.cut();
    assert_eq!(
        guarded("the service's end", running.ended()).await,
        "rpc-lab"
    );
    assert!(!broker.is_connected());
    guarded("the graceful stop", running.stop()).await;
}

/// A call in flight when its connection is lost: the handler finishes, but its ack cannot be
/// given on the new channel (a delivery tag belongs to its channel), so the broker redelivers
/// the request and it runs again. RPC is at least once; the caller gets its reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_at_a_loss_is_redelivered_and_answered() {
    let vhost = TestVhost::create("in-flight");
    let broker = vhost.connect().await;
    let lab = LabImpl::default();
    let running = ServiceRunner::new(broker.clone())
        .serve(LabServer::new(lab.clone()))
        .start()
        .await
        .unwrap();
    let client = LabClient::new(
        RpcClient::connect(vhost.connect().await, "tests")
            .await
            .unwrap(),
    );
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    lab.gate.wait_entered(1).await;
    let before = broker.reconnections();
    rabbitmqctl(&[
        "close_all_connections",
        "-p",
        vhost.name(),
        "test: in flight",
        "-q",
    ]);
    lab::reconnected(&broker, before).await;
    // The broker took the unacked request back and hands it to the re-subscribed consumer,
    // while the first run still holds the gate.
    lab.gate.wait_entered(2).await;
    lab.gate.open.add_permits(2);
    guarded("the call", call).await.unwrap().expect("answered");
    guarded("the graceful stop", running.stop()).await;
    assert_eq!(*lab.gate.entered.borrow(), 2, "run twice: at least once");
    let queue = vhost.queue("rpc-lab").expect("the service queue");
    assert_eq!(
        (queue.messages_ready, queue.messages_unacknowledged),
        (0, 0),
        "the redelivered request was acked on its own channel"
    );
}

#[service(name = "cruncher")]
trait Cruncher {
    /// Burn CPU for `seconds`, returning a checksum.
    async fn crunch(&self, seconds: f64) -> u64;
}

struct Crunch;

impl Cruncher for Crunch {
    async fn crunch(&self, seconds: f64) -> u64 {
        // CPU-bound work goes to the blocking pool, so that the runtime's workers stay free
        // for the other calls and the broker connection.
        tokio::task::spawn_blocking(move || burn(Duration::from_secs_f64(seconds)))
            .await
            .expect("the work finishes")
    }
}

fn burn(time: Duration) -> u64 {
    let start = std::time::Instant::now();
    let mut x = 1u64;
    while start.elapsed() < time {
        for _ in 0..10_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
    }
    x
}

/// A handler busy for three heartbeat intervals (HEARTBEAT=2, 6 s of CPU) does not cost the
/// connection (Nameko's #477): heartbeats keep flowing and nothing reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_survive_a_busy_handler() {
    let vhost = TestVhost::create("heartbeat");
    let broker = AmqpTransport::shared(&vhost.uri().with_heartbeat(2))
        .await
        .unwrap();
    let running = ServiceRunner::new(broker.clone())
        .serve(CruncherServer::new(Crunch))
        .start()
        .await
        .unwrap();
    let listing = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "-p", vhost.name(), "timeout", "-q"])
        .output()
        .expect("run rabbitmqctl");
    let timeouts = String::from_utf8_lossy(&listing.stdout);
    assert!(
        timeouts.lines().any(|l| l.trim() == "2"),
        "heartbeat 2 s: {timeouts}"
    );
    let mut connected = broker.watch_connected();
    let client = CruncherClient::new(
        RpcClient::connect(broker.clone(), "tests")
            .await
            .unwrap()
            .with_timeout(Duration::from_secs(30)),
    );
    client.crunch(6.0).await.expect("answered");
    assert!(
        !connected.has_changed().unwrap() && *connected.borrow_and_update(),
        "the connection never dropped"
    );
    guarded("the graceful stop", running.stop()).await;
}
