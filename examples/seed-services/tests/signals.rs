//! SIGTERM on a real process serving over the real RabbitMQ: the first signal finishes the
//! calls in flight, replies, acks and exits 0, leaving nothing to redo; a second signal exits
//! at once and the broker keeps the unfinished request for the next instance.
//!
//! Each test re-runs this test binary as the service process (selected by an environment
//! variable), so the signal reaches a process of its own.

mod lab;

use std::time::Duration;

use contracts_amqp::{BrokerUri, FORCED_EXIT_CODE, shutdown_signal};
use contracts_core::{RpcClient, ServiceRunner};
use contracts_testkit::{TestProcess, TestVhost, guarded};
use lab::{LabClient, LabImpl, LabServer};

const CHILD_URI: &str = "CONTRACTS_SIGNALS_CHILD_URI";
const CHILD_OPENS_GATE: &str = "CONTRACTS_SIGNALS_CHILD_OPENS_GATE";

/// The service process: serve `lab`, report each step on stdout, stop on the first signal.
async fn serve_until_signal(uri: String) -> ! {
    let uri: BrokerUri = uri.parse().expect("child URI");
    let broker = contracts_amqp::AmqpTransport::shared(&uri)
        .await
        .expect("child connects");
    let lab = LabImpl::default();
    let running = ServiceRunner::new(broker.clone())
        .serve(LabServer::new(lab.clone()))
        .start()
        .await
        .expect("child serves");
    let mut entered = lab.gate.entered.subscribe();
    tokio::spawn(async move {
        while entered.changed().await.is_ok() {
            let n = *entered.borrow_and_update();
            println!("ENTERED {n}");
        }
    });
    println!("READY");
    let signal = shutdown_signal().await;
    println!("STOPPING {signal:?}");
    if std::env::var_os(CHILD_OPENS_GATE).is_some() {
        // Calls in flight finish only after the stop began: stop must wait for them.
        lab.gate.open.add_permits(100);
    }
    running.stop().await;
    broker.close().await;
    println!("STOPPED");
    std::process::exit(0);
}

/// The service process for `test`, once it is serving.
async fn service_process(test: &str, vhost: &TestVhost, opens_gate: bool) -> TestProcess {
    let mut env = vec![(CHILD_URI, vhost.raw_uri())];
    if opens_gate {
        env.push((CHILD_OPENS_GATE, "1"));
    }
    let mut process = TestProcess::start(test, &env);
    process.expect_line("READY").await;
    process
}

async fn client(vhost: &TestVhost) -> LabClient {
    let broker = vhost.connect().await;
    LabClient::new(
        RpcClient::connect(broker, "signal_test")
            .await
            .expect("client"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_calls_in_flight_then_acks_and_exits() {
    if let Ok(uri) = std::env::var(CHILD_URI) {
        serve_until_signal(uri).await;
    }
    let vhost = TestVhost::create("sigterm");
    let mut service = service_process(
        "sigterm_finishes_calls_in_flight_then_acks_and_exits",
        &vhost,
        true,
    )
    .await;
    let lab = client(&vhost).await;
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let lab = lab.clone();
            tokio::spawn(async move { lab.gate().await })
        })
        .collect();
    // Every call is running in the service before the signal.
    service.expect_line("ENTERED 3").await;
    service.signal("TERM");
    service.expect_line("STOPPING Terminate").await;
    for call in calls {
        let entered = guarded("reply", call).await.unwrap().expect("a reply");
        assert!((1..=3).contains(&entered));
    }
    service.expect_line("STOPPED").await;
    assert_eq!(service.exit_code().await, Some(0));
    let queue = vhost.queue("rpc-lab").expect("rpc-lab");
    assert_eq!(
        (queue.messages_ready, queue.messages_unacknowledged),
        (0, 0),
        "acked before the connection closed, so nothing is redelivered: {queue:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_the_request_stays_queued() {
    if let Ok(uri) = std::env::var(CHILD_URI) {
        serve_until_signal(uri).await;
    }
    let vhost = TestVhost::create("sigint");
    let mut service = service_process(
        "a_second_signal_exits_at_once_and_the_request_stays_queued",
        &vhost,
        false,
    )
    .await;
    let lab = client(&vhost).await;
    let stuck = tokio::spawn({
        let lab = lab.with_timeout(Duration::from_secs(60));
        async move { lab.gate().await }
    });
    service.expect_line("ENTERED 1").await;
    service.signal("INT");
    service.expect_line("STOPPING Interrupt").await;
    service.signal("INT");
    assert_eq!(service.exit_code().await, Some(FORCED_EXIT_CODE));
    // The process died with the request unacked: the broker requeues it, and the next
    // instance serves it, so the caller still gets its reply.
    let next = LabImpl::default();
    next.gate.open.add_permits(1);
    let running = ServiceRunner::new(vhost.connect().await)
        .serve(LabServer::new(next.clone()))
        .start()
        .await
        .expect("next instance");
    assert_eq!(
        guarded("reply from the next instance", stuck)
            .await
            .unwrap()
            .unwrap(),
        1
    );
    running.stop().await;
}

/// `kill -9` of one of two instances while it holds unacked calls: the broker hands them to
/// the other instance, which answers within the callers' deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_instance_hands_its_calls_to_the_other() {
    if let Ok(uri) = std::env::var(CHILD_URI) {
        serve_until_signal(uri).await;
    }
    let vhost = TestVhost::create("kill9");
    let mut doomed = service_process(
        "kill_9_of_one_instance_hands_its_calls_to_the_other",
        &vhost,
        false,
    )
    .await;
    let deadline = Duration::from_secs(10);
    let lab = client(&vhost).await.with_timeout(deadline);
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let lab = lab.clone();
            tokio::spawn(async move { lab.gate().await })
        })
        .collect();
    // All three run in the doomed process, unacked.
    doomed.expect_line("ENTERED 3").await;
    let survivor = LabImpl::default();
    survivor.gate.open.add_permits(3);
    let running = ServiceRunner::new(vhost.connect().await)
        .serve(LabServer::new(survivor.clone()))
        .start()
        .await
        .expect("the other instance");
    doomed.signal("KILL");
    assert_eq!(doomed.exit_code().await, None, "killed by the signal");
    for call in calls {
        guarded("a reply from the survivor", call)
            .await
            .unwrap()
            .expect("answered");
    }
    assert!(started.elapsed() < deadline, "within the deadline");
    assert_eq!(
        *survivor.gate.entered.borrow(),
        3,
        "the survivor ran all three"
    );
    running.stop().await;
}
