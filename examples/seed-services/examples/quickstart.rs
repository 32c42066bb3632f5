//! The main job: every seed service on the embedded in-memory broker, called through the
//! generated typed clients. Nothing else needs to run.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Every step checks its outcome: anything unexpected ends the run with an error and exit
//! code 1 (CI runs it).

use std::time::Duration;

use contracts_core::events::retry::{self, RetryPolicy};
use contracts_core::{CallError, MemoryBroker, RpcClient, ServiceRunner};
use seed_contracts::*;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = MemoryBroker::shared();
    let services = seed_services::start(ServiceRunner::new(broker.clone())).await?;
    println!("serving my_service, user_service, another_service, my_client_service");
    println!("handling user_service.user_created in notification_service\n");

    let rpc = RpcClient::connect(broker.clone(), "quickstart").await?;
    let my_service = MyServiceClient::new(rpc.clone());
    let users = UserServiceClient::new(rpc.clone());
    let another = AnotherServiceClient::new(rpc.clone());
    let my_client = MyClientServiceClient::new(rpc.clone());

    println!("my_service.hello(\"World\")");
    println!("  -> {:?}\n", my_service.hello("World".into()).await?);

    let ada = UserData {
        user_id: 1,
        name: "Ada".into(),
    };
    println!("user_service.create_user({ada:?})");
    println!("  -> {:?}", users.create_user(ada.clone()).await?);
    services.welcomes.wait_for(1).await;
    println!(
        "  notification_service welcomed {:?}\n",
        services.welcomes.all()
    );

    println!("user_service.create_user({ada:?}) again");
    match users.create_user(ada.clone()).await {
        Err(CallError::Service(error)) => println!("  -> declared error, typed: {error:?}\n"),
        other => return Err(format!("unexpected outcome: {other:?}").into()),
    }

    let invalid = UserData {
        user_id: 0,
        name: String::new(),
    };
    println!("user_service.create_user({invalid:?})");
    match users.create_user(invalid).await {
        Err(CallError::Validation(error)) => {
            println!("  -> rejected before sending: {error}");
            for failure in &error.failures {
                println!("     {} : {}", failure.pointer, failure.reason);
            }
            println!();
        }
        other => return Err(format!("unexpected outcome: {other:?}").into()),
    }

    println!("user_service.create_user sent as raw JSON with user_id = \"7\" (a string)");
    let raw = rpc
        .call(
            "user_service",
            "create_user",
            vec![serde_json::json!({"user_id": "7", "name": "Grace"})],
            Default::default(),
        )
        .await;
    match raw {
        Err(CallError::Validation(error)) => println!(
            "  -> the server refused it with Nameko's error dict, decoded as its {} ValidationError: {error}\n",
            error.direction
        ),
        other => return Err(format!("unexpected outcome: {other:?}").into()),
    }

    println!("another_service.do_something_with_hello()");
    println!("  -> {:?}\n", another.do_something_with_hello().await?);

    println!("my_client_service.try_create_user({ada:?})");
    println!("  -> {:?}\n", my_client.try_create_user(ada).await?);

    // An event handler that keeps failing: retried with backoff, then dead-lettered.
    let (attempts_tx, mut attempts) = mpsc::unbounded_channel();
    let audit = UserServiceContract::user_created()
        .handler("audit", "on_user_created", move |event: UserCreated| {
            let attempts_tx = attempts_tx.clone();
            async move {
                let _ = attempts_tx.send(event.user_id);
                Err(format!("audit log unavailable for user {}", event.user_id))
            }
        })
        .retry(RetryPolicy::new([50, 100].map(Duration::from_millis)));
    let queue = audit.queue_name();
    let auditing = ServiceRunner::new(broker.clone())
        .subscribe(audit)
        .start()
        .await?;
    let grace = UserData {
        user_id: 2,
        name: "Grace Hopper".into(),
    };
    println!("user_service.create_user({grace:?}), audited by a failing handler");
    users.create_user(grace).await?;
    for attempt in 1..=3 {
        attempts.recv().await;
        println!("  audit.on_user_created attempt {attempt} failed");
    }
    auditing.stop().await;
    let letters = retry::dead_letters(broker.as_ref(), &queue).await?;
    if letters.len() != 1 {
        return Err(format!("expected one dead letter, found {}", letters.len()).into());
    }
    for letter in letters {
        println!(
            "  -> dead-lettered after {} attempts: {} (payload {})",
            letter.attempts,
            letter.error,
            letter.payload()
        );
    }
    println!();

    services.running.stop().await;
    println!("stopped gracefully");
    Ok(())
}
