//! The generated Python package (`examples/seed-contracts/python`) against the Rust seed
//! services, with real Nameko processes over the real RabbitMQ, each test in its own vhost:
//! a guarded Python `user_service` called by the Rust typed client and by raw Rust calls,
//! Python's typed client (a Nameko dependency, and standalone on Nameko 2 and 3) calling the
//! Rust `user_service`, and typed events both ways. The Python side is
//! `tests/typed_python/services.py` and `client.py`.

use std::path::PathBuf;

use contracts_core::validate::Direction;
use contracts_core::{CallError, RpcClient, ServiceRunner, ValidationError};
use contracts_testkit::nameko::{NAMEKO2, NAMEKO3, NamekoProcess, Venv, run_client_in};
use contracts_testkit::{TestVhost, guarded};
use seed_contracts::{
    Created, NotificationServiceServer, Success, UserCreated, UserData, UserError,
    UserServiceClient,
};
use seed_services::Welcomes;
use serde_json::{Map, Value, json};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("typed_python")
        .join(name)
}

fn user(user_id: u64, name: &str) -> UserData {
    UserData {
        user_id,
        name: name.into(),
    }
}

/// `user_service.create_user(user_data)` as an untyped call: nothing checked on this side,
/// so whatever the answer says, the other side said it.
async fn raw_create(rpc: &RpcClient, user_data: Value) -> Result<Value, CallError> {
    let mut kwargs = Map::new();
    kwargs.insert("user_data".into(), user_data);
    rpc.call("user_service", "create_user", vec![], kwargs)
        .await
}

fn rejected<T: std::fmt::Debug>(result: Result<T, CallError>) -> ValidationError {
    match result {
        Err(CallError::Validation(rejected)) => rejected,
        other => panic!("expected a ValidationError, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_calls_a_guarded_nameko_2_user_service_and_handles_its_typed_events() {
    guarded_user_service(&NAMEKO2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_calls_a_guarded_nameko_3_user_service_and_handles_its_typed_events() {
    guarded_user_service(&NAMEKO3).await;
}

/// The Python `user_service` (guarded, publishing through the typed dispatcher) in `venv`,
/// called by Rust, its event handled by the Rust `notification_service`.
async fn guarded_user_service(venv: &Venv) {
    let vhost = TestVhost::create("pyguard");
    let broker = vhost.connect().await;
    let welcomes = Welcomes::default();
    let running = ServiceRunner::new(broker.clone())
        .serve(NotificationServiceServer::new(welcomes.clone()))
        .start()
        .await
        .expect("notification_service starts");
    let python = NamekoProcess::start_in(
        venv,
        vhost.raw_uri(),
        &script("services.py"),
        &["user_service"],
        &[],
    )
    .await;
    let rpc = RpcClient::connect(broker.clone(), "tests").await.unwrap();
    let users = UserServiceClient::new(rpc.clone());

    // A good call: typed both ways, and the Python dispatcher's typed event reaches the Rust
    // handler.
    let created = guarded("create_user", users.create_user(user(7, "Ada")))
        .await
        .expect("created");
    assert_eq!(
        created,
        Created {
            status: Success::Success,
            user_id: 7
        }
    );
    guarded("the welcome", welcomes.wait_for(1)).await;
    assert_eq!(
        welcomes.all(),
        vec![UserCreated {
            user_id: 7,
            name: "Ada".into()
        }]
    );

    // The declared error raised in Python arrives as the Rust declared error.
    match guarded("create_user again", users.create_user(user(7, "Ada"))).await {
        Err(CallError::Service(UserError::UserAlreadyExists { user_id })) => {
            assert_eq!(user_id, 7)
        }
        other => panic!("expected UserAlreadyExists, got {other:?}"),
    }

    // A request the Rust client would refuse, sent raw: the guard refuses it in Python, with
    // the ValidationError a Rust service sends, decoded as one.
    let refused = rejected(raw_create(&rpc, json!({"user_id": 0, "name": "Zed"})).await);
    assert_eq!(
        (
            refused.service.as_str(),
            refused.method.as_str(),
            refused.direction
        ),
        ("user_service", "create_user", Direction::Request)
    );
    assert_eq!(refused.failures.len(), 1, "{refused}");
    assert_eq!(refused.failures[0].pointer, "/user_data/user_id");
    let wrong_type = rejected(raw_create(&rpc, json!({"user_id": "8", "name": "Zed"})).await);
    assert_eq!(wrong_type.failures[0].pointer, "/user_data/user_id");
    let extra = rejected(raw_create(&rpc, json!({"user_id": 8, "name": "Zed", "x": 1})).await);
    assert_eq!(extra.failures[0].pointer, "/user_data/x");

    // A reply breaking the contract is caught in Python before it leaves: the raw call (which
    // checks nothing) gets the guard's refusal, not the reply.
    let bad_reply = rejected(raw_create(&rpc, json!({"user_id": 9, "name": "bad reply"})).await);
    assert_eq!(bad_reply.direction, Direction::Reply);
    assert_eq!(bad_reply.failures[0].pointer, "/user_id");
    // So is a declared error whose payload breaks it.
    let bad_error = rejected(raw_create(&rpc, json!({"user_id": 10, "name": "bad error"})).await);
    assert_eq!(bad_error.direction, Direction::Error);
    assert_eq!(
        bad_error.failures[0].pointer, "/UserAlreadyExists/user_id",
        "{bad_error}"
    );

    // Arguments that bind to no parameter get Nameko's own answer, as without the guard.
    let mut kwargs = Map::new();
    kwargs.insert("nobody".into(), json!(1));
    match rpc
        .call("user_service", "create_user", vec![], kwargs)
        .await
    {
        Err(CallError::Remote(remote)) => assert_eq!(remote.exc_type, "IncorrectSignature"),
        other => panic!("expected IncorrectSignature, got {other:?}"),
    }

    // Only the good event was published: the refused calls published nothing.
    assert_eq!(welcomes.deliveries().len(), 1);
    python.terminate().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_typed_clients_call_the_rust_user_service_and_handle_its_typed_events() {
    let vhost = TestVhost::create("pyclient");
    let broker = vhost.connect().await;
    let seed = guarded(
        "seed services",
        seed_services::start(ServiceRunner::new(broker.clone())),
    )
    .await
    .expect("seed services start");
    let python = NamekoProcess::start(
        &vhost,
        &script("services.py"),
        &["py_caller", "py_listener"],
    )
    .await;
    let rpc = RpcClient::connect(broker.clone(), "tests").await.unwrap();
    let call = |method: &'static str, args: Vec<Value>| {
        let rpc = rpc.clone();
        async move {
            guarded(method, rpc.call("py_caller", method, args, Map::new()))
                .await
                .unwrap_or_else(|e| panic!("py_caller.{method}: {e}"))
        }
    };

    // Inside a Nameko service, through the typed dependency: the typed reply, then the
    // declared error as its typed Python exception, direct and through call_async.
    assert_eq!(
        call("create", vec![json!(21), json!("Ada")]).await,
        json!({"returned": "Created", "user_id": 21})
    );
    assert_eq!(
        call("create", vec![json!(21), json!("Ada")]).await,
        json!({"raised": "UserError", "user_id": 21})
    );
    assert_eq!(
        call("create", vec![json!(22), json!("Bo"), json!(true)]).await,
        json!({"returned": "Created", "user_id": 22})
    );
    assert_eq!(
        call("create", vec![json!(22), json!("Bo"), json!(true)]).await,
        json!({"raised": "UserError", "user_id": 22})
    );

    // The Rust service's typed events reach the Python handler as their model.
    let received = guarded(
        "py_listener.received",
        rpc.call("py_listener", "received", vec![], Map::new()),
    )
    .await
    .expect("received");
    assert_eq!(
        received[0],
        json!({"type": "UserCreated", "user_id": 21, "name": "Ada"})
    );

    // Standalone, on Nameko 2 and on Nameko 3; their good events reach the Rust handler.
    for (venv, first) in [(&NAMEKO2, 31), (&NAMEKO3, 41)] {
        standalone_client(venv, &vhost, first).await;
        let joan = UserCreated {
            user_id: first + 3,
            name: "Joan".into(),
        };
        guarded("Joan's welcome", async {
            while !seed.welcomes.all().contains(&joan) {
                seed.welcomes
                    .wait_for(seed.welcomes.deliveries().len() + 1)
                    .await;
            }
        })
        .await;
        // The refused one was dispatched (or not) before Joan's, over the same exchange and
        // queue: had it left, it would have arrived first.
        let refused = first + 4;
        assert!(seed.welcomes.all().iter().all(|w| w.user_id != refused));
    }
    python.terminate().await;
    seed.running.stop().await;
}

async fn standalone_client(venv: &Venv, vhost: &TestVhost, first: u64) {
    let out = run_client_in(venv, vhost, &script("client.py"), &[&first.to_string()]).await;
    let nameko = if std::ptr::eq(venv, &NAMEKO3) { 3 } else { 2 };
    assert_eq!(out["nameko"], nameko, "{out}");
    assert_eq!(
        out["created"],
        json!({"type": "Created", "user_id": first}),
        "{out}"
    );
    assert_eq!(
        out["async"],
        json!({"status": "success", "user_id": first + 1}),
        "{out}"
    );
    assert_eq!(
        out["declared"],
        json!({"type": "UserError", "user_id": first}),
        "{out}"
    );
    assert_eq!(
        out["refused"],
        json!({"direction": "request", "pointers": ["/user_data/name", "/user_data/user_id"]}),
        "{out}"
    );
    assert_eq!(out["cluster"], json!(first + 2), "{out}");
    assert_eq!(out["event_refused"], json!(["/name"]), "{out}");
}
