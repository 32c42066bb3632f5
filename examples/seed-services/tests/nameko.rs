//! Interop with real Nameko 2.14.1 processes over the real RabbitMQ, each test in its own
//! vhost: Nameko clients calling the Rust seed services, the Rust client calling a Nameko
//! service, a Rust and a Nameko instance sharing `rpc-my_service`, and context surviving
//! Rust → Nameko → Rust hops.

mod lab;

use std::path::PathBuf;

use contracts_core::prelude::*;
use contracts_core::{RpcClient, ServiceRunner, wire::context};
use contracts_testkit::nameko::{NamekoProcess, run_client};
use contracts_testkit::{TestVhost, guarded};
use seed_contracts::MyServiceServer;
use seed_services::Greeter;
use serde_json::{Value, json};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("nameko")
        .join(name)
}

/// The Python `greeting_service` (tests/nameko/services.py), seen from Rust.
#[service(name = "greeting_service")]
trait Greeting {
    async fn hello(&self, name: String) -> String;
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn fail(&self, message: String) -> String;
    async fn stack(&self) -> Vec<String>;
    async fn relay_stack(&self) -> Vec<String>;
    async fn relay_context(&self, key: String) -> Option<Value>;
}

fn remote(outcome: &Value) -> (&str, &str, &str) {
    (
        outcome["class"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error: {outcome}")),
        outcome["exc_type"].as_str().unwrap_or_default(),
        outcome["value"].as_str().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameko_cluster_proxy_calls_the_rust_seed_services() {
    let vhost = TestVhost::create("seed");
    let broker = vhost.connect().await;
    let seed = guarded(
        "seed services",
        seed_services::start(ServiceRunner::new(broker.clone())),
    )
    .await
    .expect("seed services start");
    let lab = lab::serve(&broker).await;

    let out = run_client(&vhost, &script("client.py"), &["seed"]).await;

    assert_eq!(out["positional"], json!({"ok": "Hello, World!"}));
    assert_eq!(out["keyword"], json!({"ok": "Hello, Wörld ✓ 世界!"}));
    assert_eq!(
        out["nested_positional"],
        json!({"ok": {"status": "success", "user_id": 5}})
    );
    assert_eq!(
        out["nested_keyword"],
        json!({"ok": {"status": "success", "user_id": 6}})
    );
    assert_eq!(
        remote(&out["declared_error"]),
        ("RemoteError", "UserAlreadyExists", "user 5 already exists"),
        "{}",
        out["declared_error"]
    );
    let (class, exc_type, value) = remote(&out["schema_violation"]);
    assert_eq!((class, exc_type), ("RemoteError", "ValidationError"));
    assert!(
        value.contains("/user_data/user_id"),
        "names the field: {value}"
    );
    let (class, exc_type, value) = remote(&out["big_int"]);
    assert_eq!(
        (class, exc_type),
        ("RemoteError", "ValidationError"),
        "{value}"
    );
    assert!(
        value.contains("/user_data/user_id"),
        "names the field: {value}"
    );
    // Where the schema allows them (a u128), 31 digits arrive and return exactly.
    let exact: Value = serde_json::from_str("3000000000000000000000000000021").unwrap();
    assert_eq!(out["big_int_accepted"], json!({ "ok": exact }));
    let (class, exc_type, value) = remote(&out["big_int_too_big"]);
    assert_eq!(
        (class, exc_type),
        ("RemoteError", "ValidationError"),
        "{value}"
    );
    assert!(value.contains("/n"), "names the argument: {value}");
    assert_eq!(out["unknown_method"]["class"], "MethodNotFound");
    assert_eq!(out["unknown_method"]["module"], "nameko.exceptions");
    assert_eq!(out["wrong_arity"]["class"], "IncorrectSignature");
    assert_eq!(out["missing_args"]["class"], "MalformedRequest");
    assert_eq!(out["missing_args"]["module"], "nameko.exceptions");
    assert_eq!(out["chained"], json!({"ok": "Hello, Alice!"}));
    assert_eq!(
        out["client_service"],
        json!({"ok": {"status": "failed", "error": "user 6 already exists"}}),
    );
    assert_eq!(out["after_bad_input"], json!({"ok": "Hello, again!"}));
    // Python's datetime, date, Decimal and UUID as the pinned kombu really encodes them...
    assert_eq!(
        out["kombu_version"], "5.7.0",
        "testkit/python-requirements.txt pins it"
    );
    assert_eq!(
        out["python_types_wire"],
        json!({
            "at": {"__type__": "datetime", "__value__": "2024-01-02T03:04:05+00:00"},
            "day": {"__type__": "date", "__value__": "2024-01-02"},
            "price": {"__type__": "decimal", "__value__": "1.50"},
            "id": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}},
        })
    );
    // ...arrive as the strings the schema describes,
    assert_eq!(
        out["python_types"],
        json!({"ok": {
            "at": "2024-01-02T03:04:05+00:00",
            "day": "2024-01-02",
            "price": "1.50",
            "id": "12345678-1234-5678-1234-567812345678",
        }})
    );
    // and a naive datetime, which has no UTC offset, is not a JSON Schema `date-time`.
    let (class, exc_type, value) = remote(&out["naive_datetime"]);
    assert_eq!(
        (class, exc_type),
        ("RemoteError", "ValidationError"),
        "{value}"
    );
    assert!(value.contains("/stamp/at"), "names the field: {value}");
    guarded("two welcomes", seed.welcomes.wait_for(2)).await;
    seed.running.stop().await;
    // Every delivery counts: a duplicate would show here even though it welcomes nobody.
    let delivered: Vec<u64> = seed
        .welcomes
        .deliveries()
        .iter()
        .map(|w| w.user_id)
        .collect();
    assert_eq!(
        delivered,
        [5, 6],
        "user_created reached the handler once per user"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_calls_a_nameko_service_and_context_survives_the_hops() {
    let vhost = TestVhost::create("client");
    let broker = vhost.connect().await;
    let lab = lab::serve(&broker).await;
    let python = NamekoProcess::start(&vhost, &script("services.py"), &["greeting_service"]).await;
    let rpc = RpcClient::connect(broker.clone(), "rust_caller")
        .await
        .expect("client")
        .with_context("language", "en")
        .with_context("user_id", 7);
    let greeting = GreetingClient::new(rpc);

    assert_eq!(greeting.hello("Rust".into()).await.unwrap(), "Hello, Rust!");
    assert_eq!(greeting.add(1 << 40, 2).await.unwrap(), (1 << 40) + 2);
    match greeting.fail("boom".into()).await {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.exc_type, "ValueError");
            assert_eq!(e.exc_path.as_deref(), Some("builtins.ValueError"));
            assert_eq!(e.exc_args, vec![json!("boom"), json!("42")]);
            assert_eq!(e.value, "('boom', 42)");
        }
        other => panic!("expected a RemoteError, got {other:?}"),
    }
    match greeting
        .rpc()
        .call("greeting_service", "nope", vec![], Default::default())
        .await
    {
        Err(CallError::Remote(e)) => {
            assert_eq!(e.exc_type, "MethodNotFound");
            assert_eq!(
                e.exc_path.as_deref(),
                Some("nameko.exceptions.MethodNotFound")
            );
        }
        other => panic!("expected MethodNotFound, got {other:?}"),
    }

    // Rust caller → Nameko greeting_service.relay_stack → Rust lab.stack.
    let stack = greeting.relay_stack().await.unwrap();
    assert_eq!(stack.len(), 3, "{stack:?}");
    assert!(stack[0].starts_with("rust_caller.call."), "{stack:?}");
    assert!(
        stack[1].starts_with("greeting_service.relay_stack."),
        "{stack:?}"
    );
    assert!(stack[2].starts_with("lab.stack."), "{stack:?}");
    assert_eq!(
        greeting.relay_context("language".into()).await.unwrap(),
        Some(json!("en"))
    );
    assert_eq!(
        greeting.relay_context("user_id".into()).await.unwrap(),
        Some(json!(7))
    );

    python.terminate().await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_id_stack_is_trimmed_to_ten_parents_across_nameko() {
    let vhost = TestVhost::create("stack");
    let broker = vhost.connect().await;
    let lab = lab::serve(&broker).await;
    let python = NamekoProcess::start(&vhost, &script("services.py"), &["greeting_service"]).await;
    let rpc = RpcClient::connect(broker.clone(), "deep")
        .await
        .expect("client");
    let greeting = GreetingClient::new(rpc);
    // Calls made from inside a Rust handler whose own stack holds 15 ancestors.
    let long: Vec<Value> = (0..15)
        .map(|i| json!(format!("ancestor.call.{i}")))
        .collect();
    let mut inbound = contracts_core::transport::Headers::new();
    inbound.insert("nameko.call_id_stack".into(), json!(long));
    let worker = context::CallContext::for_worker(&inbound, "deep", "work");

    // Each hop keeps 10 parents + its own id: the Rust worker, Nameko, then Rust again.
    let at_nameko = context::scope(worker.clone(), greeting.stack())
        .await
        .unwrap();
    assert_eq!(at_nameko.len(), 11, "{at_nameko:?}");
    assert_eq!(at_nameko[0], "ancestor.call.6", "{at_nameko:?}");
    assert!(at_nameko[9].starts_with("deep.work."), "{at_nameko:?}");
    assert!(
        at_nameko[10].starts_with("greeting_service.stack."),
        "{at_nameko:?}"
    );
    let at_rust = context::scope(worker, greeting.relay_stack())
        .await
        .unwrap();
    assert_eq!(at_rust.len(), 11, "{at_rust:?}");
    assert_eq!(at_rust[0], "ancestor.call.7", "{at_rust:?}");
    assert!(
        at_rust[9].starts_with("greeting_service.relay_stack."),
        "{at_rust:?}"
    );
    assert!(at_rust[10].starts_with("lab.stack."), "{at_rust:?}");

    python.terminate().await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_nameko_instances_share_rpc_my_service() {
    let vhost = TestVhost::create("shared");
    let broker = vhost.connect().await;
    // Nameko declares first, Rust second, then the other way round on restart: no 406 either way.
    let python = NamekoProcess::start(&vhost, &script("services.py"), &["my_service"]).await;
    let rust = ServiceRunner::new(broker.clone())
        .serve(MyServiceServer::new(Greeter))
        .start()
        .await
        .expect("the Rust instance declares rpc-my_service as Nameko did");
    let queue = vhost
        .queue("rpc-my_service")
        .expect("rpc-my_service exists");
    assert_eq!(queue.consumers, 2, "{queue:?}");
    assert!(queue.durable && !queue.exclusive && !queue.auto_delete);
    assert!(queue.arguments.is_empty(), "no arguments: {queue:?}");

    let out = run_client(&vhost, &script("client.py"), &["my_service_many"]).await;
    let replies: Vec<&str> = out["replies"]
        .as_array()
        .expect("replies")
        .iter()
        .map(|r| r.as_str().expect("string"))
        .collect();
    assert_eq!(replies.len(), 40);
    let by_nameko = replies.iter().filter(|r| r.ends_with("(nameko)")).count();
    assert!(by_nameko > 0, "Nameko served some: {replies:?}");
    assert!(by_nameko < 40, "Rust served some: {replies:?}");

    python.terminate().await;
    let python = NamekoProcess::start(&vhost, &script("services.py"), &["my_service"]).await;
    assert_eq!(vhost.queue("rpc-my_service").expect("queue").consumers, 2);
    python.terminate().await;
    rust.stop().await;
}
