//! Quorum queues (`QUEUE_TYPE: quorum`) on the real RabbitMQ, each test in its own vhost: the
//! type and arguments of every queue the runtime declares, the event failure path (retries,
//! dead letters, replay) on quorum queues, a request whose consumers keep dying, and a Nameko
//! 2.14.1 service meeting a queue of the other type, in both orders. book/src/reliability.md,
//! "Quorum queues", says what these hold.

mod failures;
mod faults;

use std::path::PathBuf;
use std::sync::Arc;

use contracts_amqp::AmqpTransport;
use contracts_core::events::retry;
use contracts_core::transport::{QueueType, Transport, TransportError};
use contracts_core::wire::topology::{self, HandlerType};
use contracts_core::{RpcClient, ServiceRunner, SharedTransport};
use contracts_testkit::nameko::{NAMEKO2, NamekoProcess, run_client};
use contracts_testkit::{QueueInfo, TestVhost, guarded};
use seed_contracts::{MyServiceServer, UserCreated, UserServiceContract};
use seed_services::Greeter;
use serde_json::{Value, json};

async fn quorum(vhost: &TestVhost) -> SharedTransport {
    let transport = AmqpTransport::connect(vhost.uri())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", vhost.uri()))
        .with_queue_type(QueueType::Quorum);
    Arc::new(transport)
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("nameko")
        .join(name)
}

/// A queue's arguments as rabbitmqctl lists them, `[AMQP type, value]` each, values only.
fn arguments(queue: &QueueInfo) -> Value {
    queue
        .arguments
        .iter()
        .map(|(k, v)| (k.clone(), v[1].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn work_queue_arguments(name: &str) -> Value {
    json!({
        "x-queue-type": "quorum",
        "x-delivery-limit": 20,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": format!("{name}.dead"),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    })
}

/// Every queue the seed services, a client and handlers of each kind declare, as the broker
/// holds it: shared queues are quorum queues with their dead-letter route, dead-letter queues
/// have a limit no listing reaches, private queues say they are classic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queue_is_declared_with_its_type() {
    let vhost = TestVhost::create("quorum-declare");
    let transport = quorum(&vhost).await;
    let runner = ServiceRunner::new(transport.clone())
        .subscribe(
            UserServiceContract::user_created()
                .handler("watcher", "on_user_created", |_: UserCreated| async {
                    Ok::<(), String>(())
                })
                .handler_type(HandlerType::Broadcast),
        )
        .subscribe(
            UserServiceContract::user_created()
                .handler("auditor", "on_user_created", |_: UserCreated| async {
                    Ok::<(), String>(())
                })
                .reliable_delivery(false),
        );
    let seed = guarded("seed services", seed_services::start(runner))
        .await
        .expect("the seed services start on quorum queues");
    let client = RpcClient::connect(transport.clone(), "quorum_caller")
        .await
        .unwrap();
    let queues = vhost.queues();
    let mut checked = 0;
    for queue in &queues {
        let name = queue.name.as_str();
        let args = arguments(queue);
        if name.starts_with("rpc.reply-") || name.contains("watcher") || name.contains("auditor") {
            // A broadcast handler's retry and dead-letter queues are its instance's own too.
            assert_eq!(queue.kind, "classic", "{queue:?}");
            if !name.contains(".retry.") && !name.ends_with(".dead") {
                assert_eq!(args["x-queue-type"], "classic", "{queue:?}");
            }
        } else if name.ends_with(".dead") {
            assert_eq!(queue.kind, "quorum", "{queue:?}");
            assert_eq!(
                args,
                json!({"x-queue-type": "quorum", "x-delivery-limit": i32::MAX}),
                "{name}"
            );
        } else if let Some((handler, _)) = name.split_once(".retry.") {
            assert_eq!(queue.kind, "quorum", "{queue:?}");
            assert_eq!(args["x-dead-letter-routing-key"], handler, "{name}");
            assert_eq!(args["x-dead-letter-strategy"], "at-least-once", "{name}");
            assert_eq!(args["x-overflow"], "reject-publish", "{name}");
            assert!(args["x-message-ttl"].is_u64(), "{name}");
        } else {
            assert!(
                name.starts_with("rpc-") || name.starts_with("evt-"),
                "{name}"
            );
            assert_eq!(queue.kind, "quorum", "{queue:?}");
            assert_eq!(args, work_queue_arguments(name), "{name}");
            assert!(
                queues.iter().any(|q| q.name == format!("{name}.dead")),
                "{name} has its dead-letter queue"
            );
        }
        assert!(queue.durable, "{queue:?}");
        checked += 1;
    }
    for expected in [
        "rpc-my_service",
        "rpc-my_service.dead",
        "evt-user_service-user_created--notification_service.on_user_created",
        "evt-user_service-user_created--notification_service.on_user_created.dead",
    ] {
        assert!(
            queues.iter().any(|q| q.name == expected),
            "{expected} is declared: {queues:?}"
        );
    }
    assert!(
        queues
            .iter()
            .any(|q| q.name.starts_with("rpc.reply-quorum_caller-"))
    );
    assert!(checked >= 10, "{queues:?}");

    // And they carry calls: the seed services answer on quorum queues.
    let reply = client
        .call(
            "my_service",
            "hello",
            vec![json!("quorum")],
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(reply, json!("Hello, quorum!"));
    seed.running.stop().await;
}

/// The event failure path on quorum queues: a handler that always fails is tried as the
/// policy says and no more, then its event rests in the dead-letter queue with its attempts
/// counted; listing leaves it there, replay brings it back once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_events_end_in_the_dead_letter_queue_on_quorum_queues() {
    let vhost = TestVhost::create("quorum-retry");
    failures::retried_then_dead_lettered_then_replayed(quorum(&vhost).await).await;
    let retry = vhost
        .queue("evt-user_service-user_created--flaky.on_user_created.retry.50")
        .expect("retry queue");
    assert_eq!(retry.kind, "quorum");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_are_dead_lettered_at_once_on_quorum_queues() {
    let vhost = TestVhost::create("quorum-bad");
    failures::bad_payloads_are_dead_lettered_at_once(quorum(&vhost).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_moves_are_confirmed_before_the_ack_on_quorum_queues() {
    let vhost = TestVhost::create("quorum-moves");
    failures::moves_are_confirmed_before_the_ack(quorum(&vhost).await).await;
}

/// A request that every consumer taking it loses (its process dies holding it, over and
/// over) is handed out `WORK_DELIVERY_LIMIT + 1` times, then the broker moves it to
/// `rpc-<service>.dead`, with RabbitMQ's record of why: it neither loops nor vanishes, and the
/// service, started again, never sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_consumers_keep_dying_is_dead_lettered_at_the_delivery_limit() {
    let vhost = TestVhost::create("quorum-poison");
    let transport = quorum(&vhost).await;
    let service = ServiceRunner::new(transport.clone())
        .serve(MyServiceServer::new(Greeter))
        .start()
        .await
        .unwrap();
    service.stop().await;
    let client = RpcClient::connect(transport.clone(), "poisoner")
        .await
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(3600));
    let call = tokio::spawn(async move {
        client
            .call(
                "my_service",
                "hello",
                vec![json!("poison")],
                Default::default(),
            )
            .await
    });
    let queue = topology::rpc_queue_name("my_service");
    let mut handed_out = 0;
    loop {
        // A consumer process: it takes the request and dies before settling it.
        let doomed = AmqpTransport::connect(vhost.uri()).await.unwrap();
        let got = guarded("the request", async {
            loop {
                if let Some((delivery, _)) = doomed.get(&queue).await.unwrap() {
                    break Some(delivery);
                }
                if handed_out > 0
                    && transport
                        .message_count(&topology::dead_letter_queue_name(&queue))
                        .await
                        .unwrap()
                        == Some(1)
                {
                    break None;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        let Some(delivery) = got else { break };
        handed_out += 1;
        let count = delivery.message.properties.headers.get("x-delivery-count");
        if handed_out > 1 {
            assert_eq!(count, Some(&json!(handed_out - 1)), "RabbitMQ counts them");
        }
        doomed.close().await;
        drop(delivery);
        assert!(handed_out <= 21, "the delivery limit stops the loop");
    }
    assert_eq!(handed_out, topology::WORK_DELIVERY_LIMIT + 1);

    let letters = retry::dead_letters(transport.as_ref(), &queue)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.event, "my_service.hello");
    assert_eq!(letter.exchange, "nameko-rpc");
    assert_eq!(letter.attempts, 21);
    assert!(
        letter
            .error
            .contains("handed out 21 times by `rpc-my_service`")
            && letter.error.contains("delivery limit is 20"),
        "{}",
        letter.error
    );
    assert_eq!(letter.payload()["args"], json!(["poison"]));
    assert_eq!(
        letter.message.properties.headers["x-death"][0]["reason"],
        "delivery_limit"
    );

    // Started again, the service answers new calls and never the dead one.
    let service = ServiceRunner::new(transport.clone())
        .serve(MyServiceServer::new(Greeter))
        .start()
        .await
        .unwrap();
    let fresh = RpcClient::connect(transport.clone(), "after")
        .await
        .unwrap()
        .call(
            "my_service",
            "hello",
            vec![json!("after")],
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(fresh, json!("Hello, after!"));
    assert_eq!(vhost.queue(&queue).expect("rpc queue").messages_ready, 0);
    assert_eq!(
        retry::dead_letters(transport.as_ref(), &queue)
            .await
            .unwrap()
            .len(),
        1,
        "the dead request stays dead"
    );
    call.abort();
    service.stop().await;
}

/// Nameko first: `rpc-my_service` is a classic queue. A Rust instance configured for quorum
/// queues cannot join it, and its error says which setting to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_instance_refused_by_a_nameko_queue_says_what_to_change() {
    let vhost = TestVhost::create("quorum-mixed-a");
    let python = NamekoProcess::start(&vhost, &script("services.py"), &["my_service"]).await;
    let refused = ServiceRunner::new(quorum(&vhost).await)
        .serve(MyServiceServer::new(Greeter))
        .start()
        .await
        .map(drop)
        .expect_err("a quorum declaration of a classic queue is refused");
    let TransportError::PreconditionFailed { name, detail } = &refused else {
        panic!("not a precondition failure: {refused:?}");
    };
    assert_eq!(name, "rpc-my_service");
    for words in [
        "it exists as a classic queue (declared by a Nameko service, or by instances with \
         QUEUE_TYPE: classic) and this process declares it quorum (QUEUE_TYPE: quorum)",
        "set QUEUE_TYPE: classic here",
        "Nameko 2 declares only classic queues",
        "PRECONDITION_FAILED - inequivalent arg",
    ] {
        assert!(detail.contains(words), "{words:?} in {refused}");
    }
    // The Nameko instance was not disturbed, and a classic Rust instance joins it.
    let classic = vhost.connect().await;
    let joined = ServiceRunner::new(classic)
        .serve(MyServiceServer::new(Greeter))
        .start()
        .await
        .expect("with QUEUE_TYPE: classic the queue is shared");
    assert_eq!(vhost.queue("rpc-my_service").unwrap().consumers, 2);
    joined.stop().await;
    python.terminate().await;
}

/// Rust first, on a quorum queue: a Nameko 2.14.1 instance of the same service cannot declare
/// it (Nameko declares no arguments, so no type). Nameko neither stops nor starts: its runner
/// waits for a consumer that logs RabbitMQ's refusal as a lost connection and tries again,
/// forever. The quorum queue and the Rust instance go on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nameko_instance_cannot_join_a_quorum_queue() {
    let vhost = TestVhost::create("quorum-mixed-b");
    let transport = quorum(&vhost).await;
    let rust = ServiceRunner::new(transport.clone())
        .serve(MyServiceServer::new(Greeter))
        .start()
        .await
        .unwrap();
    // Nameko's runner never finishes starting: its consumer declares, is refused, reconnects
    // and declares again, once a second for as long as the process runs, never consuming.
    let mut python = NamekoProcess::spawn_in(
        &NAMEKO2,
        vhost.raw_uri(),
        &script("services.py"),
        &["my_service"],
        &[("LOG_TO_STDOUT", "1")],
    );
    let mut log = python.take_output().expect("Nameko's output");
    // RabbitMQ names the first argument that differs, here the dead-letter exchange.
    let refusals = guarded("three refusals in Nameko's log", async {
        let mut refusals = Vec::new();
        while refusals.len() < 3 {
            let line = log.recv().await.expect("Nameko keeps running");
            assert_ne!(line.trim(), "READY", "Nameko never starts");
            if line.contains("PRECONDITION_FAILED - inequivalent arg") {
                refusals.push(line);
            }
        }
        refusals
    })
    .await;
    assert!(
        refusals[2].contains("for queue 'rpc-my_service'"),
        "{refusals:?}"
    );
    assert_eq!(vhost.queue("rpc-my_service").unwrap().kind, "quorum");
    // Every call is the Rust instance's to answer (Nameko's `hello` says "(nameko)").
    let client = RpcClient::connect(transport.clone(), "still")
        .await
        .unwrap();
    for i in 0..10 {
        let name = format!("still {i}");
        let reply = client
            .call("my_service", "hello", vec![json!(name)], Default::default())
            .await
            .unwrap();
        assert_eq!(reply, json!(format!("Hello, {name}!")));
    }
    // A Nameko client calls the service on its quorum queue as on any other.
    let out = run_client(&vhost, &script("client.py"), &["my_service_many"]).await;
    let replies = out["replies"].as_array().expect("replies");
    assert_eq!(replies.len(), 40, "{out}");
    assert!(
        replies.iter().all(|r| r
            .as_str()
            .is_some_and(|r| r.starts_with("Hello") && !r.ends_with("(nameko)"))),
        "{out}"
    );
    python.terminate().await;
    rust.stop().await;
}

fn listed(what: &str, columns: &[&str]) -> Vec<Value> {
    let mut args = vec![what];
    args.extend_from_slice(columns);
    args.extend_from_slice(&["--formatter", "json", "-q"]);
    let out = std::process::Command::new("rabbitmqctl")
        .args(&args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(out.status.success(), "rabbitmqctl {args:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("rabbitmqctl {args:?}: {e}"))
}

/// What RabbitMQ 4 removed or deprecates, checked against what a running fleet sends
/// (book/src/reliability.md, "RabbitMQ 4"), under either queue type: no transient non-exclusive
/// queue, no mirroring or other removed queue argument, an explicit delivery limit on every
/// quorum queue, no global QoS, a `frame_max` above 4.x's minimum of 8192.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_we_declare_is_removed_or_deprecated_in_rabbitmq_4() {
    for queue_type in [QueueType::Classic, QueueType::Quorum] {
        let vhost = TestVhost::create(&format!("rabbitmq4-{queue_type}"));
        let transport: SharedTransport = Arc::new(
            AmqpTransport::connect(vhost.uri())
                .await
                .unwrap()
                .with_queue_type(queue_type),
        );
        let runner = ServiceRunner::new(transport.clone()).subscribe(
            UserServiceContract::user_created()
                .handler("watcher", "on_user_created", |_: UserCreated| async {
                    Ok::<(), String>(())
                })
                .handler_type(HandlerType::Broadcast),
        );
        let seed = guarded("seed services", seed_services::start(runner))
            .await
            .unwrap();
        let client = RpcClient::connect(transport.clone(), "rabbitmq4")
            .await
            .unwrap();
        let reply = client
            .call("my_service", "hello", vec![json!("4")], Default::default())
            .await
            .unwrap();
        assert_eq!(reply, json!("Hello, 4!"));

        let queues = vhost.queues();
        assert!(queues.len() >= 10, "{queues:?}");
        for queue in &queues {
            assert!(
                queue.durable || queue.exclusive,
                "a transient non-exclusive queue: {queue:?}"
            );
            for removed in [
                "x-ha-policy",
                "x-ha-nodes",
                "x-queue-master-locator",
                "x-queue-mode",
            ] {
                assert!(!queue.arguments.contains_key(removed), "{queue:?}");
            }
            if queue.kind == "quorum" {
                assert!(
                    queue.arguments.contains_key("x-delivery-limit"),
                    "{queue:?}"
                );
                assert!(!queue.auto_delete && !queue.exclusive, "{queue:?}");
            }
        }
        let name = vhost.name();
        let connections: Vec<Value> = listed("list_connections", &["vhost", "frame_max"])
            .into_iter()
            .filter(|c| c["vhost"] == name)
            .collect();
        assert!(!connections.is_empty());
        for connection in &connections {
            let frame_max = connection["frame_max"].as_u64().unwrap_or_default();
            assert!(frame_max >= 8192, "{connection}");
        }
        let channels: Vec<Value> = listed(
            "list_channels",
            &["vhost", "prefetch_count", "global_prefetch_count"],
        )
        .into_iter()
        .filter(|c| c["vhost"] == name)
        .collect();
        assert!(
            channels
                .iter()
                .any(|c| c["prefetch_count"].as_u64() > Some(0))
        );
        for channel in &channels {
            assert_eq!(channel["global_prefetch_count"], 0, "{channel}");
        }
        seed.running.stop().await;
    }
}
