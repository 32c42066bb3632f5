//! `contracts call` and `contracts dispatch` against real services on the real RabbitMQ, in a
//! vhost of their own: the Rust seed services (with schemas) and Python Nameko services
//! (without).

use std::path::{Path, PathBuf};
use std::process::Output;

use contracts_core::ServiceRunner;
use contracts_core::prelude::*;
use contracts_testkit::nameko::NamekoProcess;
use contracts_testkit::{TestVhost, guarded};
use tokio::process::Command;
use tokio::sync::mpsc;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

async fn contracts(vhost: &TestVhost, args: &[&str]) -> Output {
    let schemas = workspace().join("schemas");
    guarded(
        "contracts",
        Command::new(env!("CARGO_BIN_EXE_contracts"))
            .arg("--schemas")
            .arg(schemas)
            .args(args)
            .env("AMQP_URI", vhost.raw_uri())
            .output(),
    )
    .await
    .expect("run contracts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where the Nameko `mailer` handler reports what it got.
#[service(name = "tally")]
trait Tally {
    async fn record(&self, user_id: u64, by: String);
}

struct Recorder(mpsc::UnboundedSender<(u64, String)>);

impl Tally for Recorder {
    async fn record(&self, user_id: u64, by: String) {
        let _ = self.0.send((user_id, by));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_and_dispatch_reach_rust_and_nameko_services() {
    let vhost = TestVhost::create("cli");
    let broker = vhost.connect().await;
    let seed = seed_services::start(ServiceRunner::new(broker.clone()))
        .await
        .expect("seed services");
    let (tx, mut tallied) = mpsc::unbounded_channel();
    let tally = ServiceRunner::new(broker.clone())
        .serve(TallyServer::new(Recorder(tx)))
        .start()
        .await
        .unwrap();
    let script = workspace().join("examples/seed-services/tests/nameko/services.py");
    let python = NamekoProcess::start(&vhost, &script, &["greeting_service", "mailer"]).await;

    // A Rust service with schemas: positional and keyword arguments.
    let out = contracts(&vhost, &["call", "my_service.hello", r#"["World"]"#]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), r#""Hello, World!""#);
    let out = contracts(
        &vhost,
        &[
            "call",
            "user_service.create_user",
            r#"{"user_data": {"user_id": 3, "name": "Ada"}}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"status": "success", "user_id": 3})
    );

    // Refused before sending, with the JSON pointer.
    let out = contracts(
        &vhost,
        &[
            "call",
            "user_service.create_user",
            r#"{"user_data": {"user_id": 0, "name": "Ada"}}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/user_data/user_id"),
        "{}",
        text(&out.stderr)
    );

    // A declared error, printed as Nameko's RemoteError.
    let out = contracts(
        &vhost,
        &[
            "call",
            "user_service.create_user",
            r#"{"user_data": {"user_id": 3, "name": "Ada"}}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("RemoteError UserAlreadyExists"),
        "{}",
        text(&out.stderr)
    );

    // A Python Nameko service, which has no schemas here.
    let out = contracts(
        &vhost,
        &["call", "greeting_service.hello", r#"{"name": "Py"}"#],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), r#""Hello, Py!""#);
    let out = contracts(&vhost, &["call", "greeting_service.fail", r#"["boom"]"#]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("RemoteError ValueError") && stderr.contains("builtins.ValueError"),
        "{stderr}"
    );

    // Nobody serves it: exit 2, said plainly.
    let out = contracts(&vhost, &["call", "nobody.works", "{}", "--timeout", "5"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Unknown service `nobody`"),
        "{}",
        text(&out.stderr)
    );

    // Events: validated, then handled by the Rust notification_service and the Nameko mailer.
    let out = contracts(
        &vhost,
        &[
            "dispatch",
            "user_service",
            "user_created",
            r#"{"user_id": 9, "name": "Grace"}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    guarded("welcome", seed.welcomes.wait_for(2)).await;
    assert!(seed.welcomes.all().iter().any(|w| w.user_id == 9));
    // The mailer also saw user 3's event, from create_user above.
    guarded("nameko mailer", async {
        while tallied.recv().await != Some((9, "nameko".into())) {}
    })
    .await;
    let out = contracts(
        &vhost,
        &[
            "dispatch",
            "user_service",
            "user_created",
            r#"{"user_id": "nine"}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/user_id"),
        "{}",
        text(&out.stderr)
    );

    python.terminate().await;
    tally.stop().await;
    seed.running.stop().await;
}

/// An `audit.on_user_created` handler that reports every attempt, and fails until `healed`.
fn audit(healed: bool, tx: mpsc::UnboundedSender<u64>) -> contracts_core::EventHandler {
    use seed_contracts::{UserCreated, UserServiceContract};
    UserServiceContract::user_created()
        .handler("audit", "on_user_created", move |e: UserCreated| {
            let tx = tx.clone();
            async move {
                tx.send(e.user_id).map_err(|_| "test gone".to_owned())?;
                if healed {
                    Ok(())
                } else {
                    Err(format!("audit store down for user {}", e.user_id))
                }
            }
        })
        .retry(contracts_core::events::retry::RetryPolicy::none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed() {
    let vhost = TestVhost::create("cli-dead");
    let broker = vhost.connect().await;
    let (tx, mut attempts) = mpsc::unbounded_channel();
    let failing = audit(false, tx.clone());
    let queue = failing.queue_name();
    let running = ServiceRunner::new(broker.clone())
        .subscribe(failing)
        .start()
        .await
        .unwrap();
    seed_contracts::UserServicePublisher::new(broker.clone())
        .user_created(&seed_contracts::UserCreated {
            user_id: 4,
            name: "Dee".into(),
        })
        .await
        .unwrap();
    assert_eq!(guarded("attempt", attempts.recv()).await, Some(4));
    // Stopping waits for the handler in flight, and so for its move to the dead letters.
    running.stop().await;

    let out = contracts(&vhost, &["dead-letters", &queue, "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["event"], "user_created");
    assert_eq!(rows[0]["attempts"], 1);
    assert_eq!(rows[0]["error"], "audit store down for user 4");
    assert_eq!(rows[0]["payload"]["user_id"], 4);

    // Fixed: replay to the handler, which now takes it.
    let running = ServiceRunner::new(broker.clone())
        .subscribe(audit(true, tx))
        .start()
        .await
        .unwrap();
    let out = contracts(&vhost, &["dead-letters", &queue, "--replay"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("replayed 1 dead letter(s)"));
    assert_eq!(guarded("replayed event", attempts.recv()).await, Some(4));
    running.stop().await;
    let out = contracts(&vhost, &["dead-letters", &queue]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("no dead letters"),
        "{}",
        text(&out.stdout)
    );
}
