//! `contracts record` beside running Python Nameko services on the real RabbitMQ: what the
//! fleet sends is written as samples, and the fleet notices nothing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use contracts_amqp::AmqpTransport;
use contracts_core::transport::{Message, Properties, SharedTransport};
use contracts_core::{CallError, RpcClient};
use contracts_testkit::nameko::NamekoProcess;
use contracts_testkit::{TestVhost, guarded};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn kwargs(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_copies_a_nameko_fleets_traffic_without_taking_any() {
    let vhost = TestVhost::create("record");
    let script = workspace().join("examples/seed-services/tests/nameko/services.py");
    let python = NamekoProcess::start(&vhost, &script, &["greeting_service", "user_service"]).await;
    let out = std::env::temp_dir().join(format!("contracts-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);

    // Requests, replies and events the traffic below makes: 3 hello, add, fail and announce
    // (each a request and a reply), its event, and one event that is not JSON.
    let expected = 3 * 2 + 2 + 2 + 2 + 1 + 1;
    let mut recorder = Command::new(env!("CARGO_BIN_EXE_contracts"))
        .args(["record", "--out"])
        .arg(&out)
        .args(["--service", "greeting_service", "--service", "user_service"])
        .args([
            "--service",
            "ghost_service",
            "--cap",
            "2",
            "--format",
            "json",
        ])
        .args(["--count", &expected.to_string()])
        .env("AMQP_URI", vhost.raw_uri())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run contracts record");
    let mut stderr = BufReader::new(recorder.stderr.take().unwrap()).lines();
    let ready = guarded("the recorder's start", stderr.next_line())
        .await
        .unwrap()
        .expect("a line on stderr");
    assert!(ready.starts_with("recording "), "{ready}");

    let broker: SharedTransport = Arc::new(AmqpTransport::connect(vhost.uri()).await.unwrap());
    let rpc = RpcClient::connect(broker.clone(), "fleet").await.unwrap();
    for _ in 0..3 {
        let hello = rpc
            .call("greeting_service", "hello", vec![json!("Ann")], Map::new())
            .await;
        assert_eq!(hello.unwrap(), json!("Hello, Ann!"));
    }
    let sum = rpc
        .call(
            "greeting_service",
            "add",
            Vec::new(),
            kwargs(json!({"a": 1, "b": 2})),
        )
        .await;
    assert_eq!(sum.unwrap(), json!(3));
    let failed = rpc
        .call("greeting_service", "fail", vec![json!("boom")], Map::new())
        .await;
    assert!(matches!(failed, Err(CallError::Remote(_))), "{failed:?}");
    rpc.call(
        "user_service",
        "announce",
        vec![json!(7), json!("Ann")],
        Map::new(),
    )
    .await
    .unwrap();
    // A service nobody serves is still unknown at once: the recorder made nothing routable.
    let ghost = rpc
        .call("ghost_service", "anything", Vec::new(), Map::new())
        .await;
    assert!(
        !matches!(ghost, Ok(_) | Err(CallError::Timeout { .. })),
        "{ghost:?}"
    );
    let junk = Message {
        properties: Properties {
            content_type: Some("application/json".into()),
            delivery_mode: 2,
            ..Properties::default()
        },
        body: b"{not json".to_vec(),
    };
    broker
        .publish("user_service.events", "junk", junk, false)
        .await
        .unwrap();

    let status = guarded("the recorder's end", recorder.wait())
        .await
        .unwrap();
    let mut stdout = String::new();
    recorder
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stdout}");
    let summary: Value = serde_json::from_str(&stdout).expect("a JSON summary");
    assert_eq!(summary["taken"], json!(expected), "{summary:#}");
    assert_eq!(
        summary["rpc_services"],
        json!(["greeting_service", "user_service"]),
        "no binding for a service without an RPC queue"
    );
    assert_eq!(
        summary["messages"]["greeting_service.hello"],
        json!({"seen": 3, "written": 2})
    );
    assert_eq!(summary["not_json"], json!({"user_service.junk": 1}));
    assert_eq!(summary["unmatched_replies"], json!(0));

    let greeting = out.join("greeting_service");
    let hellos = lines(&greeting.join("hello.rpc.jsonl"));
    assert_eq!(hellos.len(), 2, "the cap");
    assert_eq!(
        hellos[0],
        json!({"args": ["Ann"], "kwargs": {}, "replied": true, "result": "Hello, Ann!", "error": null})
    );
    let adds = lines(&greeting.join("add.rpc.jsonl"));
    assert_eq!(adds[0]["args"], json!([]));
    assert_eq!(adds[0]["kwargs"], json!({"a": 1, "b": 2}));
    assert_eq!(adds[0]["result"], json!(3));
    let fails = lines(&greeting.join("fail.rpc.jsonl"));
    assert_eq!(
        fails[0]["error"]["exc_type"], "ValueError",
        "{:#}",
        fails[0]
    );
    assert_eq!(fails[0]["error"]["exc_path"], "builtins.ValueError");
    let events = lines(&out.join("user_service/user_created.event.jsonl"));
    assert_eq!(events, [json!({"payload": {"user_id": 7, "name": "Ann"}})]);

    // Nothing was taken from the services' queues, and the recorder's queue went with it.
    let served = vhost.queue("rpc-greeting_service").unwrap();
    assert_eq!(
        (
            served.messages_ready,
            served.messages_unacknowledged,
            served.consumers
        ),
        (0, 0, 1)
    );
    assert!(
        vhost
            .queues()
            .iter()
            .all(|q| !q.name.starts_with("contracts-record-")),
        "{:?}",
        vhost.queues()
    );
    python.terminate().await;
    let _ = std::fs::remove_dir_all(&out);
}
