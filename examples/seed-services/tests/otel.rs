//! Spans exported over OTLP/gRPC to a receiver running in the test, decoded from the protobuf
//! the exporter sent: names, kinds, attributes, parent links, error status, and the trace ids
//! the JSON log lines carry.
//!
//! Telemetry is set up once per process, so this file is one test.

mod lab;

use contracts_core::error::CallError;
use contracts_core::prelude::*;
use contracts_core::validate::ValidationMode;
use contracts_core::{MemoryBroker, RpcClient, ServiceRunner, Timer};
use contracts_telemetry::{LogFormat, TelemetryConfig};
use contracts_testkit::{CapturedLogs, OtlpReceiver, ReceivedSpan, http};
use lab::{LabClient, LabContract, LabImpl, LabServer};
use seed_contracts::{AnotherServiceClient, UserData, UserServiceClient};
use serde_json::Value;
use std::time::Duration;

/// What an HTTP caller of the gateway sends: trace 4bf9…, its span 00f0….
const HTTP_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A card whose number is sensitive.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Card {
    /// Whose card.
    pub holder: String,
    /// The card number: sensitive.
    #[schemars(extend("x-sensitive" = true), length(min = 16, max = 16))]
    pub number: String,
}

/// A service whose arguments carry secrets.
#[service(name = "vault")]
pub trait Vault {
    /// Opens when the password is right.
    async fn open(
        &self,
        user: String,
        #[sensitive]
        #[schemars(length(min = 8))]
        password: String,
        card: Card,
    ) -> bool;
}

struct Door;

impl Vault for Door {
    async fn open(&self, _user: String, _password: String, _card: Card) -> bool {
        // A span of the handler's own, opened with `tracing`.
        let span = tracing::info_span!("check_password");
        let _inside = span.enter();
        tracing::info!("password checked");
        false
    }
}

const PASSWORD: &str = "hunter2";
const CARD: &str = "4111-1111-1111-1111-SECRET";
const NESTED: &str = "s3cr3t-in-an-object";

fn one<'a>(spans: &'a [ReceivedSpan], name: &str, kind: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.name == name && s.kind == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} span {name} in {spans:#?}");
    found[0]
}

/// `child`'s parent is `parent`, in the same trace.
fn parent_of(child: &ReceivedSpan, parent: &ReceivedSpan) {
    assert_eq!(child.trace_id, parent.trace_id, "{child:#?}\n{parent:#?}");
    assert_eq!(
        child.parent_span_id, parent.span_id,
        "{child:#?}\n{parent:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_with_their_links() {
    let receiver = OtlpReceiver::start().await;
    let logs = CapturedLogs::default();
    let config = TelemetryConfig {
        traces: true,
        otlp_endpoint: receiver.endpoint(),
        service_name: Some("otel-test".into()),
        resource_attributes: [("deployment.environment".to_owned(), "test".to_owned())].into(),
        log_format: LogFormat::Json,
        log_level: "info".into(),
        ..TelemetryConfig::default()
    };
    let telemetry = contracts_telemetry::install_with_writer(&config, logs.clone())
        .await
        .expect("telemetry installs");

    let broker = MemoryBroker::shared();
    let rpc = RpcClient::connect(broker.clone(), "tests").await.unwrap();
    // Two timers run once at start: one calls a service, one fails.
    let (ticked, mut ticks) = tokio::sync::mpsc::unbounded_channel();
    let adder = LabClient::new(rpc.clone());
    let (adds, fails) = (ticked.clone(), ticked);
    let add = Timer::every("lab", "sum", Duration::from_secs(3600), move || {
        let (adder, adds) = (adder.clone(), adds.clone());
        async move {
            let sum = adder.add(2, Some(3)).await.map(|_| ());
            let _ = adds.send(());
            sum
        }
    })
    .eager();
    let fail = Timer::every("lab", "fail", Duration::from_secs(3600), move || {
        let _ = fails.send(());
        async { Err("the store is down") }
    })
    .eager();
    let seed = seed_services::start(
        ServiceRunner::new(broker.clone())
            .serve(LabServer::new(LabImpl::default()))
            .serve(VaultServer::new(Door))
            .timer(add)
            .timer(fail),
    )
    .await
    .unwrap();
    for _ in 0..2 {
        ticks.recv().await.expect("the timers ran");
    }

    // Through the HTTP gateway, from a caller that sent its own trace context.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = seed_services::gateway(rpc.clone()).service::<LabContract>();
    tokio::spawn(async move { contracts_http::axum::serve(listener, gateway.router()).await });
    let headers = [
        ("content-type", "application/json"),
        ("traceparent", HTTP_TRACEPARENT),
    ];
    let answered = http::request(addr, "POST", "/lab/stack", &headers, "{}").await;
    assert_eq!(answered.status, 200, "{answered:?}");

    // A call whose handler calls another service.
    let another = AnotherServiceClient::new(rpc.clone());
    assert_eq!(
        another.do_something_with_hello().await.unwrap(),
        "Hello, Alice!"
    );
    // A handler that fails.
    assert!(matches!(
        LabClient::new(rpc.clone()).boom().await,
        Err(CallError::Remote(_))
    ));
    // A call that publishes an event, handled by another service.
    UserServiceClient::new(rpc.clone())
        .create_user(UserData {
            user_id: 5,
            name: "Eve".into(),
        })
        .await
        .unwrap();
    seed.welcomes.wait_for(1).await;

    // Secrets that break the contract: refused by the client, by the server, and as the
    // wrong type; no reason quotes them.
    let card = Card {
        holder: "Ann".into(),
        number: CARD.into(),
    };
    let vault = VaultClient::new(rpc.clone());
    let refused_here = vault
        .open("ann".into(), PASSWORD.into(), card.clone())
        .await;
    let unchecked = VaultClient::new(rpc.with_validation(ValidationMode::Off));
    let refused_there = unchecked.open("ann".into(), PASSWORD.into(), card).await;
    let mut refusals = Vec::new();
    for refused in [refused_here, refused_there] {
        let Err(CallError::Validation(e)) = refused else {
            panic!("refused as invalid: {refused:?}");
        };
        refusals.push(e.to_string());
    }
    let wrong_type = rpc
        .call(
            "vault",
            "open",
            vec![],
            serde_json::json!({"user": "ann", "password": {"nested": NESTED}, "card": {"holder": "Ann", "number": 7}})
                .as_object()
                .unwrap()
                .clone(),
        )
        .await;
    let Err(CallError::Validation(wrong_type)) = wrong_type else {
        panic!("refused: {wrong_type:?}");
    };
    refusals.push(wrong_type.to_string());
    refusals.push(serde_json::to_string(&wrong_type.failures).unwrap());
    for refusal in &refusals {
        assert!(refusal.contains("[REDACTED]"), "{refusal}");
        for secret in [PASSWORD, CARD, NESTED] {
            assert!(!refusal.contains(secret), "{secret} in {refusal}");
        }
    }
    let opened = vault
        .open(
            "ann".into(),
            "correct horse battery".into(),
            Card {
                holder: "Ann".into(),
                number: "4111111111111111".into(),
            },
        )
        .await;
    assert!(
        !opened.unwrap(),
        "the door stays shut, but the call succeeds"
    );
    seed.running.stop().await;
    telemetry.flush().await;

    let spans = receiver
        .wait_for(
            "the spans of three calls, a publish, a handling and two ticks",
            |s| {
                s.iter().any(|s| s.kind == "consumer")
                    && s.iter().filter(|s| s.kind == "server").count() >= 4
                    && s.iter().filter(|s| s.kind == "internal").count() >= 2
            },
        )
        .await;

    // The chain: client → another_service → my_service, one trace.
    let outer_client = one(&spans, "another_service/do_something_with_hello", "client");
    let outer_server = one(&spans, "another_service/do_something_with_hello", "server");
    let inner_client = one(&spans, "my_service/hello", "client");
    let inner_server = one(&spans, "my_service/hello", "server");
    assert_eq!(
        outer_client.parent_span_id, "",
        "the caller's span is the root"
    );
    parent_of(outer_server, outer_client);
    parent_of(inner_client, outer_server);
    parent_of(inner_server, inner_client);
    for span in [outer_client, outer_server, inner_client, inner_server] {
        assert_eq!(span.attribute("rpc.system.name"), Some("nameko"));
        assert_eq!(span.status, "unset", "{span:#?}");
        assert_eq!(span.service_name(), "otel-test");
        assert_eq!(
            span.resource.get("deployment.environment"),
            Some(&Value::String("test".into()))
        );
    }
    assert_eq!(
        inner_server.attribute("rpc.method"),
        Some("my_service/hello")
    );

    // The gateway's request continues its caller's trace; the call it makes is its child.
    let web = one(&spans, "POST /lab/stack", "server");
    assert_eq!(web.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(web.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(web.attribute("http.route"), Some("/lab/stack"));
    assert_eq!(
        web.attributes.get("http.response.status_code"),
        Some(&Value::from(200))
    );
    let stack_client = one(&spans, "lab/stack", "client");
    parent_of(stack_client, web);
    parent_of(one(&spans, "lab/stack", "server"), stack_client);

    // The timers: each run a root span of its own; a call made in it is its child; a failed
    // run says so.
    let sum = one(&spans, "lab/sum tick", "internal");
    assert_eq!(sum.parent_span_id, "", "a run starts its own trace");
    assert_eq!(sum.attribute("contracts.timer"), Some("sum"));
    assert_eq!(sum.status, "unset");
    parent_of(one(&spans, "lab/add", "client"), sum);
    let fail = one(&spans, "lab/fail tick", "internal");
    assert_eq!(fail.status, "error", "{fail:#?}");
    assert_eq!(fail.attribute("error.type"), Some("failed"));

    // The failure: both ends say so, and why.
    let boom_client = one(&spans, "lab/boom", "client");
    let boom_server = one(&spans, "lab/boom", "server");
    parent_of(boom_server, boom_client);
    for span in [boom_client, boom_server] {
        assert_eq!(span.status, "error", "{span:#?}");
        assert_eq!(span.attribute("error.type"), Some("remote_error"));
    }

    // The event: published inside create_user, handled as its child.
    let create = one(&spans, "user_service/create_user", "server");
    let publish = one(
        &spans,
        "publish user_service.events:user_created",
        "producer",
    );
    let process = one(
        &spans,
        "process user_service.events:user_created",
        "consumer",
    );
    parent_of(publish, create);
    parent_of(process, publish);
    assert_eq!(publish.attribute("messaging.system"), Some("rabbitmq"));
    assert_eq!(publish.attribute("messaging.operation.type"), Some("send"));
    assert_eq!(
        publish.attribute("messaging.destination.name"),
        Some("user_service.events:user_created")
    );
    assert_eq!(
        process.attribute("messaging.operation.type"),
        Some("process")
    );
    assert_eq!(
        process.attribute("messaging.rabbitmq.destination.routing_key"),
        Some("user_created")
    );

    // The panic's log line leads to the failed server span.
    let text = logs.text();
    let panicked: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["message"] == "handler panicked")
        .expect("the panic is logged");
    assert_eq!(panicked["trace_id"], boom_server.trace_id.as_str());
    assert_eq!(panicked["span_id"], boom_server.span_id.as_str());

    // A span the handler opens with `tracing` is a child of the call's server span, and a
    // line written inside it names the call and leads to that span.
    let check = spans
        .iter()
        .find(|s| s.name == "check_password")
        .expect("the handler's own span is exported");
    let open_server = spans
        .iter()
        .find(|s| s.name == "vault/open" && s.kind == "server" && s.status == "unset")
        .expect("the successful call's server span");
    parent_of(check, open_server);
    let checked: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["message"] == "password checked")
        .expect("the handler's line is logged");
    assert_eq!(checked["trace_id"], check.trace_id.as_str());
    assert_eq!(checked["span_id"], check.span_id.as_str());
    assert_eq!(checked["service"], "vault");
    assert_eq!(checked["method"], "open");
    assert!(
        checked["call_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("vault.open.")),
        "{checked}"
    );

    // The rejections were logged and traced, without the secrets.
    let rejected = text
        .lines()
        .filter(|l| l.contains("request rejected") && l.contains("vault"))
        .count();
    assert_eq!(
        rejected, 2,
        "the two requests the server refused are logged:\n{text}"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.name == "vault/open" && s.status == "error"),
        "the refusals are traced"
    );
    let exported = format!("{spans:?}");
    for secret in [PASSWORD, CARD, NESTED] {
        assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
        assert!(!exported.contains(secret), "{secret} in a span: {exported}");
    }
    telemetry.shutdown();
}
