//! The runtime on the real RabbitMQ, each test in its own vhost: Nameko's topology, bad wire
//! input, unknown services, deadlines and expiration, and acks that follow replies.

mod lab;

use std::sync::Arc;
use std::time::Duration;

use contracts_amqp::AmqpTransport;
use contracts_core::prelude::*;
use contracts_core::server::RunningServices;
use contracts_core::transport::{Message, Properties};
use contracts_core::wire::MALFORMED_REQUEST;
use contracts_core::wire::limits::Limits;
use contracts_core::{RpcClient, ServiceRunner, Transport};
use contracts_testkit::{TestVhost, guarded};
use lab::{LabClient, LabImpl, LabServer, Stamp, raw_request, raw_request_via};
use seed_contracts::MyServiceClient;
use serde_json::json;

async fn lab_on(
    vhost: &TestVhost,
    limits: Limits,
) -> (Arc<AmqpTransport>, LabImpl, RunningServices, RpcClient) {
    let broker = vhost.connect().await;
    let lab = LabImpl::default();
    let running = ServiceRunner::new(broker.clone())
        .limits(limits)
        .serve(LabServer::new(lab.clone()))
        .start()
        .await
        .expect("lab starts");
    let rpc = RpcClient::connect(broker.clone(), "tests")
        .await
        .expect("client connects");
    (broker, lab, running, rpc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_is_nameko_s() {
    let vhost = TestVhost::create("topology");
    let broker = vhost.connect().await;
    let seed = seed_services::start(ServiceRunner::new(broker.clone()))
        .await
        .expect("seed services start");
    let _client = RpcClient::connect(broker.clone(), "topology_check")
        .await
        .unwrap();

    let rpc = vhost.exchange("nameko-rpc").expect("nameko-rpc");
    assert_eq!(
        (
            rpc.kind.as_str(),
            rpc.durable,
            rpc.auto_delete,
            rpc.internal
        ),
        ("topic", true, false, false)
    );
    let events = vhost
        .exchange("user_service.events")
        .expect("events exchange");
    assert_eq!(
        (events.kind.as_str(), events.durable, events.auto_delete),
        ("topic", true, false)
    );
    let queues = vhost.queues();
    for service in [
        "my_service",
        "user_service",
        "another_service",
        "my_client_service",
    ] {
        let q = queues
            .iter()
            .find(|q| q.name == format!("rpc-{service}"))
            .unwrap_or_else(|| panic!("rpc-{service} in {queues:?}"));
        assert!(q.durable && !q.exclusive && !q.auto_delete, "{q:?}");
        assert!(q.arguments.is_empty(), "{q:?}");
        assert_eq!(q.consumers, 1, "{q:?}");
    }
    for caller in ["topology_check", "another_service", "my_client_service"] {
        let q = queues
            .iter()
            .find(|q| q.name.starts_with(&format!("rpc.reply-{caller}-")))
            .unwrap_or_else(|| panic!("reply queue of {caller} in {queues:?}"));
        assert!(q.durable && !q.exclusive && !q.auto_delete, "{q:?}");
        // The type too: Nameko (py-amqp) sends a Python int as `I`, a signed 32-bit int.
        // Beyond Nameko's, the queue says it is classic (RabbitMQ takes that as equal to no
        // type), so that no vhost default makes a reply queue a quorum queue.
        assert_eq!(
            serde_json::Value::Object(q.arguments.clone()),
            json!({"x-expires": ["signedint", 300000], "x-queue-type": ["longstr", "classic"]}),
            "{q:?}"
        );
    }
    assert!(
        !queues.iter().any(|q| q.name == "rpc-notification_service"),
        "a service that only handles events has no RPC queue, as in Nameko"
    );
    let handler = queues
        .iter()
        .find(|q| q.name == "evt-user_service-user_created--notification_service.on_user_created")
        .expect("service_pool handler queue");
    assert!(handler.durable && !handler.exclusive && !handler.auto_delete);
    seed.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_wire_input_gets_an_answer_or_is_dropped_and_the_service_stays_up() {
    let vhost = TestVhost::create("bad-input");
    let limits = Limits {
        max_body_bytes: 4096,
        max_depth: 16,
    };
    let (broker, _lab, running, rpc) = lab_on(&vhost, limits).await;
    let deep = format!(
        r#"{{"args": [{}1{}], "kwargs": {{}}}}"#,
        "[".repeat(20),
        "]".repeat(20)
    );
    let huge = format!(r#"{{"args": ["{}"], "kwargs": {{}}}}"#, "x".repeat(5000));
    let no_type = Properties {
        content_type: None,
        ..contracts_core::wire::topology::json_properties()
    };
    let xjson = Properties {
        content_type: Some("application/xjson".into()),
        ..contracts_core::wire::topology::json_properties()
    };
    let unknown_envelope = br#"{"args": [{"__type__": "pickle", "__value__": "x"}], "kwargs": {}}"#;
    let cases: Vec<(&str, Properties, &[u8], &str)> = vec![
        (
            "invalid JSON",
            contracts_core::wire::topology::json_properties(),
            b"{not json",
            "not valid JSON",
        ),
        (
            "non-object body",
            contracts_core::wire::topology::json_properties(),
            b"[1, 2]",
            "got a JSON array",
        ),
        (
            "no args",
            contracts_core::wire::topology::json_properties(),
            br#"{"kwargs": {}}"#,
            "Message missing `args` or `kwargs`",
        ),
        (
            "no content type",
            no_type,
            br#"{"args": [1], "kwargs": {}}"#,
            "no content type",
        ),
        (
            "unknown content type",
            xjson,
            br#"{"args": [1], "kwargs": {}}"#,
            "unsupported content type",
        ),
        (
            "unknown kombu envelope",
            contracts_core::wire::topology::json_properties(),
            unknown_envelope,
            "`pickle` at /args/0",
        ),
        (
            "oversize",
            contracts_core::wire::topology::json_properties(),
            huge.as_bytes(),
            "exceeds the limit of 4096 bytes",
        ),
        (
            "too deep",
            contracts_core::wire::topology::json_properties(),
            deep.as_bytes(),
            "deeper than the limit of 16",
        ),
    ];
    for (case, props, body, says) in cases {
        let reply = guarded(case, raw_request(&*broker, "lab.add", props, body)).await;
        let error = reply.error.unwrap_or_else(|| panic!("{case}: no error"));
        assert_eq!(error.exc_type, "MalformedRequest", "{case}");
        assert_eq!(error.exc_path.as_deref(), Some(MALFORMED_REQUEST), "{case}");
        assert!(
            error.value_text().contains(says),
            "{case}: {:?} should say {says:?}",
            error.value
        );
    }

    // Known kombu envelopes arrive as the plain strings the schema describes.
    let stamp = br#"{"args": [], "kwargs": {"stamp": {
        "at": {"__type__": "datetime", "__value__": "2020-01-02T03:04:05+00:00"},
        "day": {"__type__": "date", "__value__": "2020-01-02"},
        "price": {"__type__": "decimal", "__value__": "1.50"},
        "id": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}}}}"#;
    let reply = raw_request(
        &*broker,
        "lab.stamp",
        contracts_core::wire::topology::json_properties(),
        stamp,
    )
    .await;
    assert_eq!(reply.error, None);
    let echoed: Stamp = serde_json::from_value(reply.result).unwrap();
    assert_eq!(echoed.id, "12345678-1234-5678-1234-567812345678");
    assert_eq!(
        (echoed.day.as_str(), echoed.price.as_str()),
        ("2020-01-02", "1.50")
    );

    // No reply_to: nobody to answer, so it is dropped, not requeued or redelivered.
    broker
        .publish(
            "nameko-rpc",
            "lab.add",
            Message {
                properties: contracts_core::wire::topology::json_properties(),
                body: br#"{"args": [1], "kwargs": {}}"#.to_vec(),
            },
            true,
        )
        .await
        .unwrap();
    // A call queued behind it is answered, so the service is up and took the bad one first.
    assert_eq!(LabClient::new(rpc).add(4, Some(1)).await.unwrap(), 5);
    running.stop().await;
    let queue = vhost.queue("rpc-lab").expect("rpc-lab");
    assert_eq!(
        (queue.messages_ready, queue.messages_unacknowledged),
        (0, 0),
        "nothing requeued: {queue:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_a_service_nobody_serves_fails_fast() {
    let vhost = TestVhost::create("unknown");
    let broker = vhost.connect().await;
    let rpc = RpcClient::connect(broker, "tests").await.unwrap();
    match guarded("call", MyServiceClient::new(rpc).hello("x".into())).await {
        Err(CallError::UnknownService(service)) => assert_eq!(service, "my_service"),
        other => panic!("expected UnknownService, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_time_out_drop_late_replies_and_expire_unserved_requests() {
    let vhost = TestVhost::create("deadline");
    let (broker, lab, running, rpc) = lab_on(&vhost, Limits::default()).await;
    let client = LabClient::new(rpc.clone());
    assert_eq!(rpc.timeout(), contracts_core::client::DEFAULT_TIMEOUT);

    // A call whose handler outlives the deadline fails with Timeout, naming the call.
    match client.with_timeout(Duration::from_millis(200)).gate().await {
        Err(CallError::Timeout {
            service,
            method,
            after,
        }) => {
            assert_eq!((service.as_str(), method.as_str()), ("lab", "gate"));
            assert_eq!(after, Duration::from_millis(200));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // Its late reply is dropped: the next call on the same reply queue gets its own answer.
    lab.gate.open.add_permits(1);
    assert_eq!(client.add(2, Some(3)).await.unwrap(), 5);
    running.stop().await;

    // Nobody serves lab now: the request waits in rpc-lab until its expiration passes.
    let entered_before = *lab.gate.entered.borrow();
    match client.with_timeout(Duration::from_millis(300)).gate().await {
        Err(CallError::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    let restarted = ServiceRunner::new(broker.clone())
        .serve(LabServer::new(lab.clone()))
        .start()
        .await
        .unwrap();
    // Queues are FIFO: once this call is answered, the expired one was dropped, not run.
    assert_eq!(client.add(1, Some(1)).await.unwrap(), 2);
    assert_eq!(
        *lab.gate.entered.borrow(),
        entered_before,
        "the expired request was not executed"
    );
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_replies_then_acks_so_nothing_runs_twice() {
    let vhost = TestVhost::create("stop");
    let (broker, lab, running, rpc) = lab_on(&vhost, Limits::default()).await;
    let client = LabClient::new(rpc);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.gate().await })
        })
        .collect();
    lab.gate.wait_entered(3).await;
    let stopping = tokio::spawn(running.stop());
    lab.gate.open.add_permits(3);
    for call in calls {
        guarded("in-flight call", call).await.unwrap().unwrap();
    }
    guarded("stop", stopping).await.unwrap();
    let queue = vhost.queue("rpc-lab").expect("rpc-lab");
    assert_eq!(
        (
            queue.messages_ready,
            queue.messages_unacknowledged,
            queue.consumers
        ),
        (0, 0, 0),
        "every request acked before the consumer went: {queue:?}"
    );
    // A new instance finds nothing to redo (Nameko re-executes here, book/src/wire.md).
    let again = ServiceRunner::new(broker.clone())
        .serve(LabServer::new(lab.clone()))
        .start()
        .await
        .unwrap();
    assert_eq!(client.add(1, None).await.unwrap(), 1);
    assert_eq!(*lab.gate.entered.borrow(), 3, "no call ran twice");
    again.stop().await;
}

/// `Config::runner` and `Config::client` apply every setting of a Nameko-style config file:
/// each one is observed on the broker or in behaviour, not read back from the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_applies_every_setting_to_runner_and_client() {
    use contracts_amqp::Config;
    let vhost = TestVhost::create("config");
    let yaml = format!(
        "AMQP_URI: '{}'\nmax_workers: 2\nPREFETCH_COUNT: 5\nrpc_exchange: custom-rpc\n\
         parent_calls_tracked: 1\nRPC_TIMEOUT: 3\nMAX_BODY_BYTES: 4096\nMAX_JSON_DEPTH: 8\n\
         VALIDATION: report\n",
        vhost.raw_uri()
    );
    let config = Config::parse(&yaml, |_| None).unwrap();
    let broker = config.connect().await.unwrap();
    let lab = LabImpl::default();
    let running = config
        .runner(broker.clone())
        .serve(LabServer::new(lab.clone()))
        .start()
        .await
        .unwrap();
    let rpc = config.client(broker.clone(), "configured").await.unwrap();
    let client = LabClient::new(rpc);

    // rpc_exchange: the service is bound to it and the client calls through it.
    assert_eq!(client.add(1, Some(2)).await.unwrap(), 3);
    assert!(vhost.exchange("custom-rpc").is_some());
    assert!(
        vhost.exchange("nameko-rpc").is_none(),
        "nothing used the default"
    );

    // VALIDATION: report. A reply that breaks its schema (above 10) is reported by the
    // service and by the client, and arrives: with the default, both would refuse it.
    assert_eq!(client.small(11).await.unwrap().value, 11);

    // PREFETCH_COUNT, as the broker sees the service's consumer.
    let consumers = std::process::Command::new("rabbitmqctl")
        .args([
            "list_consumers",
            "-p",
            vhost.name(),
            "queue_name",
            "prefetch_count",
            "-q",
        ])
        .output()
        .expect("run rabbitmqctl");
    let listing = String::from_utf8_lossy(&consumers.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["rpc-lab", "5"]),
        "{listing}"
    );

    // parent_calls_tracked: one parent kept, plus the worker's own id.
    let headers =
        serde_json::from_value(json!({"nameko.call_id_stack": ["a.m.1", "a.m.2", "a.m.3"]}))
            .unwrap();
    let props = Properties {
        headers,
        ..contracts_core::wire::topology::json_properties()
    };
    let reply = raw_request_via(
        &*broker,
        "custom-rpc",
        "lab.stack",
        props,
        br#"{"args": [], "kwargs": {}}"#,
    )
    .await;
    let stack: Vec<String> = serde_json::from_value(reply.result).unwrap();
    assert_eq!(stack.len(), 2, "{stack:?}");
    assert_eq!(stack[0], "a.m.3");
    assert!(stack[1].starts_with("lab.stack."), "{stack:?}");

    // MAX_BODY_BYTES and MAX_JSON_DEPTH.
    let big = format!(r#"{{"args": ["{}"], "kwargs": {{}}}}"#, "x".repeat(5000));
    let deep = format!(
        r#"{{"args": [{}1{}], "kwargs": {{}}}}"#,
        "[".repeat(10),
        "]".repeat(10)
    );
    for (body, says) in [(big, "exceeds the limit of 4096 bytes"), (deep, "deeper")] {
        let reply = raw_request_via(
            &*broker,
            "custom-rpc",
            "lab.add",
            contracts_core::wire::topology::json_properties(),
            body.as_bytes(),
        )
        .await;
        let error = reply.error.expect("an error reply");
        assert_eq!(error.exc_type, "MalformedRequest");
        assert!(error.value_text().contains(says), "{}", error.value_text());
    }

    // max_workers: at most two calls run at once.
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.gate().await })
        })
        .collect();
    lab.gate.wait_entered(2).await;
    lab.gate.open.add_permits(4);
    for call in calls {
        guarded("gate call", call).await.unwrap().unwrap();
    }
    assert_eq!(
        lab.gate
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );

    // RPC_TIMEOUT: a call nobody answers in time fails at the configured deadline.
    match client.gate().await {
        Err(CallError::Timeout { after, .. }) => assert_eq!(after, Duration::from_secs(3)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    lab.gate.open.add_permits(1);
    running.stop().await;
}
