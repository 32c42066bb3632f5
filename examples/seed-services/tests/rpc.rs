//! RPC end to end on the in-memory broker: typed calls, Nameko's envelope and errors, bad input
//! on every path, context propagation, concurrency and shutdown.

mod faults;
mod lab;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use contracts_core::wire::{INCORRECT_SIGNATURE, MALFORMED_REQUEST, METHOD_NOT_FOUND};
use contracts_core::{
    CallError, MemoryBroker, RpcClient, ServiceRunner, ValidationMode, validate::Direction,
};
use lab::*;
use seed_contracts::*;
use serde_json::{Map, Value, json};

async fn seed() -> (MemoryBroker, seed_services::SeedServices, RpcClient) {
    let broker = MemoryBroker::new();
    let services = seed_services::start(ServiceRunner::new(Arc::new(broker.clone())))
        .await
        .expect("seed services start");
    let rpc = client(&broker, "tests").await;
    (broker, services, rpc)
}

async fn lab_with(
    runner: impl FnOnce(ServiceRunner) -> ServiceRunner,
) -> (
    MemoryBroker,
    LabImpl,
    contracts_core::RunningServices,
    RpcClient,
) {
    let broker = MemoryBroker::new();
    let lab = LabImpl::default();
    let running = runner(ServiceRunner::new(Arc::new(broker.clone())))
        .serve(LabServer::new(lab.clone()))
        .start()
        .await
        .expect("lab starts");
    let rpc = client(&broker, "tests").await;
    (broker, lab, running, rpc)
}

async fn lab() -> (
    MemoryBroker,
    LabImpl,
    contracts_core::RunningServices,
    RpcClient,
) {
    lab_with(|r| r).await
}

fn kwargs(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

#[tokio::test]
async fn seed_services_answer_typed_calls() {
    let (_broker, services, rpc) = seed().await;
    let hello = MyServiceClient::new(rpc.clone())
        .hello("World".into())
        .await;
    assert_eq!(hello.unwrap(), "Hello, World!");

    let users = UserServiceClient::new(rpc.clone());
    let ada = UserData {
        user_id: 1,
        name: "Ada".into(),
    };
    let created = users.create_user(ada.clone()).await.unwrap();
    assert_eq!(
        created,
        Created {
            status: Success::Success,
            user_id: 1
        }
    );
    // The declared error comes back typed.
    match users.create_user(ada.clone()).await {
        Err(CallError::Service(UserError::UserAlreadyExists { user_id: 1 })) => {}
        other => panic!("expected UserAlreadyExists, got {other:?}"),
    }
    // A handler calling another service through its generated client.
    let another = AnotherServiceClient::new(rpc.clone());
    assert_eq!(
        another.do_something_with_hello().await.unwrap(),
        "Hello, Alice!"
    );
    // The article's try/except RemoteError, decided by type.
    let my_client = MyClientServiceClient::new(rpc.clone());
    assert_eq!(
        my_client.try_create_user(ada).await.unwrap(),
        TryCreateOutcome::Failed {
            error: "user 1 already exists".into()
        }
    );
    let grace = UserData {
        user_id: 2,
        name: "Grace".into(),
    };
    assert_eq!(
        my_client.try_create_user(grace).await.unwrap(),
        TryCreateOutcome::Success {
            data: Created {
                status: Success::Success,
                user_id: 2
            }
        }
    );
    // The event published on each creation reached notification_service, once per user:
    // every delivery counts, read after the stop has drained the handler queue.
    guarded("welcomes", services.welcomes.wait_for(2)).await;
    services.running.stop().await;
    let ids: Vec<u64> = services
        .welcomes
        .deliveries()
        .iter()
        .map(|w| w.user_id)
        .collect();
    assert_eq!(ids, vec![1, 2]);
}

#[tokio::test]
async fn the_wire_is_nameko_shaped() {
    let (broker, services, _rpc) = seed().await;
    let ok = raw_request(
        &broker,
        "my_service.hello",
        contracts_core::wire::topology::json_properties(),
        br#"{"args": ["World"], "kwargs": {}}"#,
    )
    .await;
    assert_eq!(ok.result, json!("Hello, World!"));
    assert_eq!(ok.error, None);

    let declared = raw_request(
        &broker,
        "user_service.create_user",
        contracts_core::wire::topology::json_properties(),
        br#"{"args": [], "kwargs": {"user_data": {"user_id": 5, "name": "Eve"}}}"#,
    )
    .await;
    assert_eq!(declared.result, json!({"status": "success", "user_id": 5}));
    let again = raw_request(
        &broker,
        "user_service.create_user",
        contracts_core::wire::topology::json_properties(),
        br#"{"args": [{"user_id": 5, "name": "Eve"}], "kwargs": {}}"#,
    )
    .await;
    let error = again.error.expect("an error dict");
    assert_eq!(again.result, Value::Null);
    assert_eq!(error.exc_type, "UserAlreadyExists");
    assert_eq!(error.exc_path.as_deref(), Some("user_service.UserError"));
    assert_eq!(error.value, json!("user 5 already exists"));
    let payload = json!({"UserAlreadyExists": {"user_id": 5}});
    assert_eq!(error.extra["payload"], payload);
    // The same value as JSON text after the message: what a Nameko client re-raising a
    // registered class passes it, and what a Python service can send.
    assert_eq!(
        error.exc_args,
        vec![json!("user 5 already exists"), json!(payload.to_string())]
    );
    assert_eq!(error.detail("payload"), Some(payload));
    services.running.stop().await;
}

#[tokio::test]
async fn positional_keyword_and_mixed_arguments_bind() {
    let (_broker, _lab, running, rpc) = lab().await;
    let positional = rpc.call("lab", "add", vec![json!(2), json!(3)], Map::new());
    assert_eq!(positional.await.unwrap(), json!(5));
    let keyword = rpc.call("lab", "add", vec![], kwargs(json!({"b": 3, "a": 2})));
    assert_eq!(keyword.await.unwrap(), json!(5));
    let mixed = rpc.call("lab", "add", vec![json!(2)], kwargs(json!({"b": 3})));
    assert_eq!(mixed.await.unwrap(), json!(5));
    let optional_left_out = rpc.call("lab", "add", vec![json!(2)], Map::new());
    assert_eq!(optional_left_out.await.unwrap(), json!(2));
    let typed = LabClient::new(rpc.clone()).add(2, None).await.unwrap();
    assert_eq!(typed, 2);
    running.stop().await;
}

fn rejected<T: std::fmt::Debug>(result: Result<T, CallError>) -> contracts_core::ValidationError {
    match result {
        Err(CallError::Validation(rejected)) => rejected,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn remote<T: std::fmt::Debug>(result: Result<T, CallError>) -> contracts_core::RemoteError {
    match result {
        Err(CallError::Remote(remote)) => remote,
        other => panic!("expected a remote error, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_methods_and_bad_signatures_get_nameko_errors() {
    let (_broker, _lab, running, rpc) = lab().await;
    let missing = remote(rpc.call("lab", "nope", vec![], Map::new()).await);
    assert_eq!(missing.exc_type, "MethodNotFound");
    assert_eq!(missing.exc_path.as_deref(), Some(METHOD_NOT_FOUND));
    assert_eq!(missing.value, "nope");

    let too_many = remote(
        rpc.call("lab", "add", vec![json!(1), json!(2), json!(3)], Map::new())
            .await,
    );
    assert_eq!(too_many.exc_type, "IncorrectSignature");
    assert_eq!(too_many.exc_path.as_deref(), Some(INCORRECT_SIGNATURE));
    assert_eq!(
        too_many.value,
        "add() takes 2 positional arguments but 3 were given"
    );

    let missing_arg = remote(
        rpc.call("lab", "add", vec![], kwargs(json!({"b": 1})))
            .await,
    );
    assert_eq!(missing_arg.value, "add() missing 1 required argument: 'a'");

    let unexpected = remote(
        rpc.call("lab", "add", vec![json!(1)], kwargs(json!({"c": 1})))
            .await,
    );
    assert_eq!(
        unexpected.value,
        "add() got an unexpected keyword argument 'c'"
    );

    let twice = remote(
        rpc.call("lab", "add", vec![json!(1)], kwargs(json!({"a": 1})))
            .await,
    );
    assert_eq!(twice.value, "add() got multiple values for argument 'a'");

    // The service is still up.
    assert_eq!(LabClient::new(rpc).add(1, Some(1)).await.unwrap(), 2);
    running.stop().await;
}

#[tokio::test]
async fn malformed_bodies_get_malformed_request() {
    let (broker, _lab, running, rpc) = lab().await;
    for (body, says) in [
        (&b"{not json"[..], "not valid JSON"),
        (b"[1, 2]", "got a JSON array"),
        (b"\"text\"", "got a string"),
        (br#"{"args": []}"#, "Message missing `args` or `kwargs`"),
        (br#"{"kwargs": {}}"#, "Message missing `args` or `kwargs`"),
        (
            br#"{"args": {}, "kwargs": {}}"#,
            "`args` must be a JSON array",
        ),
        (
            br#"{"args": [], "kwargs": []}"#,
            "`kwargs` must be a JSON object",
        ),
    ] {
        let reply = raw_request(
            &broker,
            "lab.add",
            contracts_core::wire::topology::json_properties(),
            body,
        )
        .await;
        let error = reply
            .error
            .unwrap_or_else(|| panic!("no error for {body:?}"));
        assert_eq!(error.exc_type, "MalformedRequest", "{body:?}");
        assert_eq!(error.exc_path.as_deref(), Some(MALFORMED_REQUEST));
        assert!(
            error.value_text().contains(says),
            "{:?} should say {says:?}",
            error.value
        );
    }
    let mut props = contracts_core::wire::topology::json_properties();
    props.content_type = Some("application/xjson".into());
    let reply = raw_request(&broker, "lab.add", props, br#"{"args": [1], "kwargs": {}}"#).await;
    assert!(
        reply
            .error
            .unwrap()
            .value_text()
            .contains("unsupported content type")
    );
    assert_eq!(LabClient::new(rpc).add(1, None).await.unwrap(), 1);
    running.stop().await;
}

#[tokio::test]
async fn requests_without_reply_to_are_dropped_not_redelivered() {
    let (broker, _lab, running, rpc) = lab().await;
    let message = contracts_core::transport::Message {
        properties: contracts_core::wire::topology::json_properties(),
        body: br#"{"args": [1], "kwargs": {}}"#.to_vec(),
    };
    use contracts_core::Transport;
    broker
        .publish("nameko-rpc", "lab.add", message, true)
        .await
        .unwrap();
    // A call queued behind it is answered, so the poison message was taken and settled.
    assert_eq!(LabClient::new(rpc).add(4, None).await.unwrap(), 4);
    running.stop().await;
    assert_eq!(broker.queue_depth("rpc-lab"), Some(0), "not requeued");
}

#[tokio::test]
async fn wrong_types_and_constraints_are_validation_errors_with_paths() {
    let (_broker, _lab, running, rpc) = lab().await;
    // Even an untyped call decodes the refusal as the ValidationError it is.
    let wrong_type = rejected(rpc.call("lab", "add", vec![json!("2")], Map::new()).await);
    assert_eq!(
        (wrong_type.service.as_str(), wrong_type.method.as_str()),
        ("lab", "add")
    );
    assert_eq!(wrong_type.direction, Direction::Request);
    assert!(wrong_type.to_string().contains("lab.add request"));
    assert_eq!(wrong_type.failures[0].pointer, "/a");

    let contact = json!({"email": "not-an-email", "handle": "UPPER", "tier": "gold"});
    let bad = rejected(rpc.call("lab", "register", vec![contact], Map::new()).await);
    let pointers: Vec<&str> = bad.failures.iter().map(|f| f.pointer.as_str()).collect();
    assert!(pointers.contains(&"/contact/email"), "{pointers:?}");
    assert!(pointers.contains(&"/contact/handle"), "{pointers:?}");
    assert!(pointers.contains(&"/contact/tier"), "{pointers:?}");

    let missing_field = rejected(
        rpc.call(
            "lab",
            "register",
            vec![json!({"email": "a@b.io", "tier": "pro"})],
            Map::new(),
        )
        .await,
    );
    assert!(
        missing_field.failures[0]
            .reason
            .contains("\"handle\" is a required property"),
        "{missing_field}"
    );

    // The typed client validates before sending: the same mistake never leaves the process.
    let typed = LabClient::new(rpc.clone());
    let bad_contact = Contact {
        email: "nope".into(),
        handle: "ok".into(),
        tier: Tier::Free,
    };
    match typed.register(bad_contact.clone()).await {
        Err(CallError::Validation(e)) => {
            assert_eq!(e.direction, Direction::Request);
            assert_eq!((e.service.as_str(), e.method.as_str()), ("lab", "register"));
            assert_eq!(e.failures[0].pointer, "/contact/email");
        }
        other => panic!("expected a client-side validation error, got {other:?}"),
    }
    // With client validation off, the server rejects it, and the client still gets a typed
    // ValidationError back.
    let unchecked = LabClient::new(rpc.with_validation(ValidationMode::Off));
    match unchecked.register(bad_contact).await {
        Err(CallError::Validation(e)) => {
            assert_eq!(e.direction, Direction::Request);
            assert_eq!(e.failures[0].pointer, "/contact/email");
        }
        other => panic!("expected a server-side validation error, got {other:?}"),
    }
    let good = Contact {
        email: "ada@example.com".into(),
        handle: "ada".into(),
        tier: Tier::Pro,
    };
    assert_eq!(typed.register(good.clone()).await.unwrap(), good);
    running.stop().await;
}

#[tokio::test]
async fn replies_are_validated_on_both_sides() {
    // The server checks its own reply before sending it.
    let (_broker, _lab, running, rpc) = lab().await;
    match LabClient::new(rpc.clone()).small(11).await {
        Err(CallError::Validation(e)) => {
            assert_eq!(e.direction, Direction::Reply);
            assert_eq!(e.failures[0].pointer, "/value");
        }
        other => panic!("expected a reply validation error, got {other:?}"),
    }
    assert_eq!(
        LabClient::new(rpc).small(3).await.unwrap(),
        Small { value: 3 }
    );
    running.stop().await;

    // With the server's outbound checks off, the client catches it on receipt.
    let (_broker, _lab, running, rpc) =
        lab_with(|r| r.validation(ValidationMode::InboundOnly)).await;
    match LabClient::new(rpc.clone()).small(11).await {
        Err(CallError::Validation(e)) => {
            assert_eq!(e.direction, Direction::Reply);
            assert_eq!((e.service.as_str(), e.method.as_str()), ("lab", "small"));
        }
        other => panic!("expected a client-side reply validation error, got {other:?}"),
    }
    // And with everything off, the value passes (serde's type checks only).
    let off = LabClient::new(rpc.with_validation(ValidationMode::Off));
    assert_eq!(off.small(11).await.unwrap(), Small { value: 11 });
    running.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_becomes_an_error_reply() {
    let (_broker, _lab, running, rpc) = lab().await;
    let lab = LabClient::new(rpc);
    match lab.boom().await {
        Err(CallError::Remote(remote)) => {
            assert_eq!(remote.exc_type, "HandlerPanicked");
            assert!(
                remote.value.contains("the lab exploded"),
                "{}",
                remote.value
            );
            assert!(remote.value.contains("lab.boom"), "{}", remote.value);
        }
        other => panic!("expected HandlerPanicked, got {other:?}"),
    }
    assert_eq!(lab.add(40, Some(2)).await.unwrap(), 42, "still serving");
    running.stop().await;
}

#[tokio::test]
async fn calling_a_service_nobody_serves_fails_fast() {
    let broker = MemoryBroker::new();
    let rpc = client(&broker, "tests").await;
    match MyServiceClient::new(rpc).hello("x".into()).await {
        Err(CallError::UnknownService(service)) => assert_eq!(service, "my_service"),
        other => panic!("expected UnknownService, got {other:?}"),
    }
}

#[tokio::test]
async fn timeouts_fail_with_a_clear_error() {
    let (_broker, lab, running, rpc) = lab().await;
    let impatient = LabClient::new(rpc.with_timeout(std::time::Duration::from_millis(50)));
    match impatient.gate().await {
        Err(CallError::Timeout {
            service, method, ..
        }) => {
            assert_eq!((service.as_str(), method.as_str()), ("lab", "gate"));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    lab.gate.open.add_permits(1);
    running.stop().await;
}

#[tokio::test]
async fn call_id_stack_and_context_propagate_across_hops() {
    let broker = MemoryBroker::new();
    let transport: contracts_core::SharedTransport = Arc::new(broker.clone());
    let relay_rpc = RpcClient::connect(transport.clone(), "relay")
        .await
        .unwrap();
    let running = ServiceRunner::new(transport)
        .serve(LabServer::new(LabImpl::default()))
        .serve(RelayServer::new(RelayImpl {
            lab: LabClient::new(relay_rpc),
        }))
        .start()
        .await
        .unwrap();
    let rpc = client(&broker, "tests").await;
    let stack = RelayClient::new(rpc.clone()).stack_via_lab().await.unwrap();
    assert_eq!(stack.len(), 3, "{stack:?}");
    assert!(stack[0].starts_with("tests.call."), "{stack:?}");
    assert!(stack[1].starts_with("relay.stack_via_lab."), "{stack:?}");
    assert!(stack[2].starts_with("lab.stack."), "{stack:?}");

    let with_language = LabClient::new(rpc.with_context("language", "en"));
    let seen = with_language
        .context_value("language".into())
        .await
        .unwrap();
    assert_eq!(seen, Some(json!("en")));
    running.stop().await;
}

#[tokio::test]
async fn max_workers_bounds_concurrent_calls() {
    let (_broker, lab, running, rpc) = lab_with(|r| r.max_workers(2)).await;
    let client = LabClient::new(rpc);
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.gate().await })
        })
        .collect();
    lab.gate.wait_entered(2).await;
    lab.gate.open.add_permits(6);
    for call in calls {
        guarded("gate call", call).await.unwrap().unwrap();
    }
    assert_eq!(lab.gate.max_in_flight.load(Ordering::SeqCst), 2);
    running.stop().await;
}

#[tokio::test]
async fn graceful_stop_finishes_in_flight_calls_and_takes_no_new_ones() {
    let (broker, lab, running, rpc) = lab().await;
    let client = LabClient::new(rpc.clone());
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.gate().await }
    });
    lab.gate.wait_entered(1).await;
    let stopping = tokio::spawn(running.stop());
    // Once the consumer is cancelled, a new request waits in the queue, untouched.
    guarded("consumer cancel", async {
        while broker.consumer_count("rpc-lab") != Some(0) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let late = tokio::spawn({
        let client = client.clone();
        async move { client.add(1, None).await }
    });
    guarded("late request queued", async {
        while broker.queue_depth("rpc-lab") != Some(1) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(!stopping.is_finished(), "stop waits for the in-flight call");
    lab.gate.open.add_permits(1);
    assert_eq!(
        guarded("in-flight call", in_flight).await.unwrap().unwrap(),
        1
    );
    guarded("stop", stopping).await.unwrap();
    assert_eq!(
        broker.queue_depth("rpc-lab"),
        Some(1),
        "the late request is kept for the next instance"
    );
    late.abort();
}

#[tokio::test]
async fn instances_of_one_service_compete_for_its_queue() {
    let broker = MemoryBroker::new();
    let a = LabImpl::default();
    let b = LabImpl::default();
    let mut running = Vec::new();
    for lab in [&a, &b] {
        running.push(
            ServiceRunner::new(Arc::new(broker.clone()))
                .max_workers(4)
                .serve(LabServer::new(lab.clone()))
                .start()
                .await
                .unwrap(),
        );
    }
    let client = LabClient::new(client(&broker, "tests").await);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.gate().await })
        })
        .collect();
    // Each instance takes up to 4; 8 calls in flight at once means both are serving.
    a.gate.wait_entered(4).await;
    b.gate.wait_entered(4).await;
    a.gate.open.add_permits(4);
    b.gate.open.add_permits(4);
    for call in calls {
        guarded("gate call", call).await.unwrap().unwrap();
    }
    for r in running {
        r.stop().await;
    }
}

/// Without a deadline of its own a call waits 30 s (Nameko's service proxies wait forever),
/// and its request carries that deadline as its AMQP expiration; `Config`'s default agrees.
#[tokio::test]
async fn the_default_deadline_is_thirty_seconds() {
    use contracts_core::client::DEFAULT_TIMEOUT;
    use contracts_core::{Transport, wire::topology};
    let broker = MemoryBroker::shared();
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(30));
    let rpc = RpcClient::connect(broker.clone(), "patient").await.unwrap();
    assert_eq!(rpc.timeout(), DEFAULT_TIMEOUT);
    let configured = contracts_amqp::Config::default()
        .client(broker.clone(), "configured")
        .await
        .unwrap();
    assert_eq!(configured.timeout(), DEFAULT_TIMEOUT);
    // A queue standing in for the service shows what the request carries.
    let queue = topology::rpc_queue("ghost", topology::QueueType::Classic);
    broker.declare_queue(&queue).await.unwrap();
    broker
        .bind(
            &queue.name,
            topology::RPC_EXCHANGE,
            &topology::rpc_binding("ghost"),
        )
        .await
        .unwrap();
    let mut requests = broker.consume(&queue.name, 1).await.unwrap();
    let call = tokio::spawn(async move {
        rpc.call("ghost", "wait", Vec::new(), Default::default())
            .await
    });
    let request = guarded("the request", requests.next())
        .await
        .expect("a request");
    assert_eq!(
        request.message.properties.expiration.as_deref(),
        Some("30000")
    );
    call.abort();
}

/// A call completes on its reply: the request's confirm is watched beside it, not waited for
/// (a broker confirms a persistent request late, after storing it). A confirm still
/// outstanding at the reply is dropped, and nothing is left behind; a `basic.return` (nobody
/// serves the method) or a `basic.nack`, which come before any reply could, still fail the
/// call at once, long before its deadline.
#[tokio::test]
async fn a_call_completes_on_its_reply_while_its_confirm_is_watched() {
    use contracts_core::transport::TransportError;
    use faults::{Entry, Faulty};

    let broker = MemoryBroker::new();
    let running = ServiceRunner::new(Arc::new(broker.clone()))
        .serve(LabServer::new(LabImpl::default()))
        .start()
        .await
        .unwrap();
    let (faulty, mut journal) = Faulty::new(Arc::new(broker.clone()));
    // A deadline far beyond the guard: anything waiting for it fails the test.
    let rpc = RpcClient::connect(faulty.clone(), "tests")
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(3600));
    let client = LabClient::new(rpc.clone());

    faulty.hold_confirms();
    assert_eq!(
        guarded("a call whose confirm never comes", client.add(1, Some(2)))
            .await
            .unwrap(),
        3
    );
    let mut confirms = Vec::new();
    while confirms.last() != Some(&Entry::ConfirmAbandoned) {
        match guarded("the journal", journal.recv()).await.unwrap() {
            Entry::Acked => {}
            other => confirms.push(other),
        }
    }
    assert_eq!(confirms, [Entry::ConfirmHeld, Entry::ConfirmAbandoned]);
    assert_eq!(rpc.pending_calls(), 0, "nothing leaks");

    match guarded(
        "a call nobody serves",
        rpc.call("nobody", "m", vec![], Map::new()),
    )
    .await
    {
        Err(CallError::UnknownService(service)) => assert_eq!(service, "nobody"),
        other => panic!("expected UnknownService, got {other:?}"),
    }
    faulty.nack_next_publish();
    match guarded("a nacked call", client.add(1, None)).await {
        Err(CallError::Transport(TransportError::Nacked { routing_key, .. })) => {
            assert_eq!(routing_key, "lab.add");
        }
        other => panic!("expected a nack, got {other:?}"),
    }
    assert_eq!(rpc.pending_calls(), 0, "nothing leaks");
    guarded("the graceful stop", running.stop()).await;
}
