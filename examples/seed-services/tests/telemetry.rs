//! Metrics, health and JSON logs of a process serving over the real RabbitMQ, read the way an
//! operator's tools read them: `/metrics` and the probes over HTTP, the exposition checked by
//! `promtool`, log lines parsed as JSON.
//!
//! Telemetry is set up once per process, so one test here sets it up.

mod lab;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use contracts_amqp::{AmqpTransport, ReconnectPolicy};
use contracts_core::error::CallError;
use contracts_core::events::retry::RetryPolicy;
use contracts_core::transport::Message;
use contracts_core::validate::ValidationMode;
use contracts_core::{RpcClient, ServiceRunner, Timer, Transport};
use contracts_telemetry::{LogFormat, TelemetryConfig};
use contracts_testkit::{BrokerProxy, CapturedLogs, TestVhost, guarded, http};
use lab::{Contact, LabClient, LabImpl, LabServer, Small, Tier};
use seed_contracts::{
    UserCreated, UserData, UserServiceClient, UserServiceContract, UserServicePublisher,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GET `path` over HTTP/1.1: the status and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    guarded("an HTTP response", stream.read_to_string(&mut response))
        .await
        .unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a header block");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// Every sample of the exposition: metric name and labels to value.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|l| !l.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap();
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels, value.parse().unwrap())
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
}

fn calls(text: &str, side: &str, service: &str, method: &str, outcome: &str) -> f64 {
    value(
        text,
        &format!("contracts_rpc_{side}_calls_total"),
        &[
            ("service", service),
            ("method", method),
            ("outcome", outcome),
        ],
    )
    .unwrap_or(0.0)
}

/// `promtool check metrics` on the exposition: the names, types, units and help follow
/// Prometheus' conventions.
fn promtool_check(text: &str) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is needed to check the metrics ({e}): install Debian's `prometheus` \
                 package (scripts/test does, as root)"
            )
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejects the exposition:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_logs_of_a_serving_process() {
    let logs = CapturedLogs::default();
    let config = TelemetryConfig {
        metrics_port: Some(0),
        log_format: LogFormat::Json,
        log_level: "info".into(),
        ..TelemetryConfig::default()
    };
    let telemetry = contracts_telemetry::install_with_writer(&config, logs.clone())
        .await
        .expect("telemetry installs");
    let addr = telemetry.endpoint().expect("serving metrics");

    let vhost = TestVhost::create("telemetry");
    // Through a proxy that can cut the connection, to watch a loss and a reconnection.
    let proxy = BrokerProxy::start(vhost.broker_addr()).await;
    let broker = Arc::new(
        AmqpTransport::connect_to(vec![vhost.uri_via(&proxy)], ReconnectPolicy::default())
            .await
            .unwrap(),
    );
    let lab = LabImpl::default();
    // A timer that runs once, at start.
    let (beat_tx, mut beat) = tokio::sync::mpsc::unbounded_channel();
    let beat_timer = Timer::every("lab", "beat", Duration::from_secs(3600), move || {
        let _ = beat_tx.send(());
        async {}
    })
    .eager();
    let seed = seed_services::start(
        ServiceRunner::new(broker.clone())
            .serve(LabServer::new(lab.clone()))
            .timer(beat_timer),
    )
    .await
    .expect("services start");
    guarded("the timer's run", beat.recv()).await;
    let rpc = RpcClient::connect(broker.clone(), "tests").await.unwrap();
    let lab_client = LabClient::new(rpc.clone());
    let users = UserServiceClient::new(rpc.clone());
    // Two requests through the HTTP gateway: answered 200 and 422.
    let web = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_addr = web.local_addr().unwrap();
    let gateway = seed_services::gateway(rpc.clone());
    tokio::spawn(async move { contracts_http::axum::serve(web, gateway.router()).await });
    let hello = json!({"name": "web"});
    assert_eq!(
        http::post_json(web_addr, "/my_service/hello", &hello)
            .await
            .status,
        200
    );
    let wrong = json!({"name": 7});
    assert_eq!(
        http::post_json(web_addr, "/my_service/hello", &wrong)
            .await
            .status,
        422
    );

    assert_eq!(get(addr, "/health/live").await.0, 200);
    let (status, body) = get(addr, "/health/ready").await;
    assert_eq!(status, 200, "{body}");

    // The broker goes away: not ready, disconnected; then back, counted as a reconnection.
    // (Before any call: a request whose ack is lost in the cut would be redelivered and
    // counted twice by the server, as at-least-once delivery has it.)
    let mut connected = broker.watch_connected();
    proxy.cut();
    guarded("the loss", connected.wait_for(|up| !*up))
        .await
        .unwrap();
    let (status, body) = get(addr, "/health/ready").await;
    assert_eq!(status, 503);
    assert!(
        body.contains("broker connection of rpc-lab is down"),
        "{body}"
    );
    let (_, lost) = get(addr, "/metrics").await;
    assert_eq!(value(&lost, "contracts_broker_connected", &[]), Some(0.0));
    proxy.restore();
    guarded("the reconnection", connected.wait_for(|up| *up))
        .await
        .unwrap();
    assert_eq!(get(addr, "/health/ready").await.0, 200);

    // One call for each way a call can end.
    assert_eq!(lab_client.add(1, Some(2)).await.unwrap(), 3);
    assert_eq!(lab_client.add(2, None).await.unwrap(), 2);
    assert!(matches!(lab_client.boom().await, Err(CallError::Remote(_))));
    assert!(matches!(
        lab_client.small(11).await,
        Err(CallError::Validation(_))
    ));
    let ann = UserData {
        user_id: 7,
        name: "Ann".into(),
    };
    users.create_user(ann.clone()).await.unwrap();
    assert!(matches!(
        users.create_user(ann).await,
        Err(CallError::Service(_))
    ));
    let invalid = UserData {
        user_id: 0,
        name: "Zero".into(),
    };
    assert!(matches!(
        users.create_user(invalid).await,
        Err(CallError::Validation(_))
    ));
    let server_rejects = rpc
        .call(
            "lab",
            "add",
            vec![],
            json!({"a": "one"}).as_object().unwrap().clone(),
        )
        .await;
    assert!(server_rejects.is_err());
    let unknown = rpc.call("nobody", "home", vec![], Default::default()).await;
    assert!(
        matches!(unknown, Err(CallError::UnknownService(_))),
        "{unknown:?}"
    );
    let missing = rpc.call("lab", "nope", vec![], Default::default()).await;
    assert!(missing.is_err());
    seed.welcomes.wait_for(1).await;

    // A call the client gives up on while the server still works on it.
    let impatient = LabClient::new(rpc.with_timeout(Duration::from_millis(300)));
    let gated = tokio::spawn(async move { impatient.gate().await });
    lab.gate.wait_entered(1).await;
    let timed_out = guarded("the gated call", gated).await.unwrap();
    assert!(
        matches!(timed_out, Err(CallError::Timeout { .. })),
        "{timed_out:?}"
    );

    let (status, during) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    promtool_check(&during);
    assert_eq!(
        value(&during, "contracts_workers_busy", &[("service", "lab")]),
        Some(1.0)
    );
    assert_eq!(
        value(&during, "contracts_workers_max", &[("service", "lab")]),
        Some(10.0)
    );
    assert_eq!(
        value(
            &during,
            "contracts_rpc_server_in_flight",
            &[("service", "lab"), ("method", "gate")]
        ),
        Some(1.0)
    );
    assert_eq!(calls(&during, "client", "lab", "gate", "timeout"), 1.0);
    assert_eq!(value(&during, "contracts_broker_connected", &[]), Some(1.0));
    assert_eq!(
        value(&during, "contracts_consumer_up", &[("queue", "rpc-lab")]),
        Some(1.0)
    );

    // Stopping waits for the workers, so every server-side figure is in.
    lab.gate.open.add_permits(1);
    seed.running.stop().await;
    let (status, body) = get(addr, "/health/ready").await;
    assert_eq!(status, 503);
    assert!(body.contains("consumer of rpc-lab ended"), "{body}");
    // A backlog builds on a queue nobody consumes now.
    for _ in 0..3 {
        broker
            .publish(
                "nameko-rpc",
                "lab.add",
                Message {
                    properties: contracts_core::wire::topology::json_properties(),
                    body: b"{}".to_vec(),
                },
                true,
            )
            .await
            .unwrap();
    }

    let (_, after) = get(addr, "/metrics").await;
    promtool_check(&after);
    for status in ["200", "422"] {
        assert_eq!(
            value(
                &after,
                "contracts_http_requests_total",
                &[("route", "/my_service/hello"), ("status", status)]
            ),
            Some(1.0),
            "{status}"
        );
    }
    assert_eq!(
        value(
            &after,
            "contracts_http_request_duration_seconds_count",
            &[("route", "/my_service/hello")]
        ),
        Some(2.0)
    );
    for side in ["client", "server"] {
        assert_eq!(
            calls(&after, side, "lab", "add", "ok"),
            2.0,
            "{side}\n{after}"
        );
        assert_eq!(
            calls(&after, side, "lab", "boom", "remote_error"),
            1.0,
            "{side}"
        );
        assert_eq!(
            calls(&after, side, "lab", "small", "invalid_reply"),
            1.0,
            "{side}"
        );
        assert_eq!(
            calls(&after, side, "user_service", "create_user", "ok"),
            1.0,
            "{side}"
        );
        assert_eq!(
            calls(
                &after,
                side,
                "user_service",
                "create_user",
                "declared_error"
            ),
            1.0,
            "{side}"
        );
        assert_eq!(
            calls(&after, side, "lab", "add", "invalid_request"),
            1.0,
            "{side}"
        );
        assert_eq!(
            calls(&after, side, "lab", "nope", "method_not_found"),
            1.0,
            "{side}"
        );
    }
    assert_eq!(
        value(
            &after,
            "contracts_rpc_server_duration_seconds_count",
            &[("service", "lab"), ("method", "add")]
        ),
        Some(3.0),
        "two ok, one invalid"
    );
    // Checked before sending: the server never saw it.
    assert_eq!(
        calls(
            &after,
            "client",
            "user_service",
            "create_user",
            "invalid_request"
        ),
        1.0
    );
    assert_eq!(
        calls(
            &after,
            "server",
            "user_service",
            "create_user",
            "invalid_request"
        ),
        0.0
    );
    assert_eq!(
        calls(&after, "client", "nobody", "home", "unknown_service"),
        1.0
    );
    // The server finished the call the client gave up on.
    assert_eq!(calls(&after, "server", "lab", "gate", "ok"), 1.0);
    assert_eq!(
        value(
            &after,
            "contracts_events_published_total",
            &[
                ("service", "user_service"),
                ("event", "user_created"),
                ("outcome", "published")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "contracts_events_handled_total",
            &[
                ("source", "user_service"),
                ("event", "user_created"),
                ("service", "notification_service"),
                ("outcome", "handled")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "contracts_timer_runs_total",
            &[("service", "lab"), ("timer", "beat"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            "contracts_timer_run_duration_seconds_count",
            &[("service", "lab"), ("timer", "beat")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&after, "contracts_queue_messages", &[("queue", "rpc-lab")]),
        Some(3.0)
    );
    assert_eq!(
        value(&after, "contracts_consumer_up", &[("queue", "rpc-lab")]),
        Some(0.0)
    );
    assert_eq!(
        value(&after, "contracts_broker_reconnections_total", &[]),
        Some(1.0)
    );

    // Event handling that fails: retried, then dead-lettered; the rest handled.
    let (attempts_tx, mut attempts) = tokio::sync::mpsc::unbounded_channel();
    let flaky = UserServiceContract::user_created()
        .handler("flaky", "on_user_created", move |e: UserCreated| {
            let attempts = attempts_tx.clone();
            async move {
                attempts.send(e.user_id).unwrap();
                if e.user_id == 1 {
                    Err(format!("user {} refused", e.user_id))
                } else {
                    Ok(())
                }
            }
        })
        .retry(RetryPolicy::new([50, 100].map(Duration::from_millis)));
    let handlers = ServiceRunner::new(broker.clone())
        .subscribe(flaky)
        .start()
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(broker.clone());
    for user_id in [1, 2] {
        publisher
            .user_created(&UserCreated {
                user_id,
                name: "flaky".into(),
            })
            .await
            .unwrap();
    }
    // Three attempts for user 1 (the first and two retries), one for user 2.
    for _ in 0..4 {
        guarded("an attempt", attempts.recv()).await.unwrap();
    }
    // Stopping waits for the handlers in flight, and so for their last move.
    handlers.stop().await;
    let (_, events) = get(addr, "/metrics").await;
    promtool_check(&events);
    let handled = |outcome| {
        value(
            &events,
            "contracts_events_handled_total",
            &[("service", "flaky"), ("outcome", outcome)],
        )
    };
    assert_eq!(handled("retried"), Some(2.0), "{events}");
    assert_eq!(handled("dead_lettered"), Some(1.0));
    assert_eq!(handled("handled"), Some(1.0));
    assert_eq!(
        value(
            &events,
            "contracts_events_published_total",
            &[("service", "user_service"), ("outcome", "published")]
        ),
        Some(3.0)
    );

    // Shadow validation: a runner and a client in `report` mode refuse nothing their types
    // can read; each side logs and counts every violation it sees.
    let shadow = ServiceRunner::new(broker.clone())
        .validation(ValidationMode::Report)
        .serve(LabServer::new(LabImpl::default()))
        .start()
        .await
        .unwrap();
    let shadow_rpc = RpcClient::connect(broker.clone(), "shadow")
        .await
        .unwrap()
        .with_validation(ValidationMode::Report);
    let shadow_client = LabClient::new(shadow_rpc.clone());
    let ann = Contact {
        email: "ann@example.com".into(),
        handle: "Ann".into(),
        tier: Tier::Pro,
    };
    assert_eq!(shadow_client.register(ann.clone()).await.unwrap(), ann);
    assert_eq!(shadow_client.small(11).await.unwrap(), Small { value: 11 });
    // What the types cannot read is still refused.
    let unreadable = shadow_rpc
        .call(
            "lab",
            "small",
            Vec::new(),
            json!({"value": "eleven"}).as_object().unwrap().clone(),
        )
        .await;
    assert!(
        matches!(&unreadable, Err(CallError::Validation(e)) if e.failures[0].pointer == "/value"),
        "{unreadable:?}"
    );
    // Events too: a publisher and a handler in `report` mode pass on a payload that breaks
    // its schema (`user_id` 0, below its minimum of 1).
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let shadow_handler = UserServiceContract::user_created().handler(
        "shadowed",
        "on_user_created",
        move |e: UserCreated| {
            let seen = seen_tx.clone();
            async move {
                seen.send(e.user_id).unwrap();
                Ok::<(), String>(())
            }
        },
    );
    let shadow_events = ServiceRunner::new(broker.clone())
        .validation(ValidationMode::Report)
        .subscribe(shadow_handler)
        .start()
        .await
        .unwrap();
    UserServicePublisher::new(broker.clone())
        .with_validation(ValidationMode::Report)
        .user_created(&UserCreated {
            user_id: 0,
            name: "zero".into(),
        })
        .await
        .unwrap();
    assert_eq!(guarded("the shadowed event", seen.recv()).await, Some(0));
    shadow_events.stop().await;
    shadow.stop().await;
    let (_, shadowed) = get(addr, "/metrics").await;
    promtool_check(&shadowed);
    let violations = |method, direction| {
        value(
            &shadowed,
            "contracts_validation_violations_total",
            &[
                ("service", "lab"),
                ("method", method),
                ("direction", direction),
            ],
        )
    };
    // Each message is seen by both sides: the one that sends it and the one that receives it.
    assert_eq!(violations("register", "request"), Some(2.0), "{shadowed}");
    assert_eq!(violations("register", "reply"), Some(2.0));
    assert_eq!(violations("small", "reply"), Some(2.0));
    // `"eleven"` is one more: the server saw it break the schema before serde refused it.
    assert_eq!(violations("small", "request"), Some(1.0));
    assert_eq!(
        value(
            &shadowed,
            "contracts_validation_violations_total",
            &[
                ("service", "user_service"),
                ("method", "user_created"),
                ("direction", "event")
            ],
        ),
        Some(2.0)
    );
    let reported: Vec<Value> = logs
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "a message broke its contract (reported, not refused)")
        .collect();
    assert_eq!(reported.len(), 9, "{reported:#?}");
    let handle = reported
        .iter()
        .find(|l| l["method"] == "register" && l["direction"] == "request")
        .expect("the register request's violation logged");
    assert_eq!(handle["level"], "WARN");
    assert_eq!(handle["service"], "lab");
    assert!(
        handle["violation"]
            .as_str()
            .is_some_and(|v| v.contains("/contact/handle")),
        "{handle}"
    );

    // The panic's log line names its call, as one JSON object.
    let lines = logs.json_lines();
    let panicked = lines
        .iter()
        .find(|l| l["message"] == "handler panicked")
        .unwrap_or_else(|| panic!("no panic logged in {lines:#?}"));
    assert_eq!(panicked["level"], "ERROR");
    assert_eq!(panicked["service"], "lab");
    assert_eq!(panicked["method"], "boom");
    let call_id = panicked["call_id"].as_str().expect("a call id");
    assert!(call_id.starts_with("lab.boom."), "{call_id}");
    let stack = panicked["call_id_stack"]
        .as_array()
        .expect("the stack as an array");
    assert_eq!(stack.last().and_then(Value::as_str), Some(call_id));
    assert!(
        panicked["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

/// The example config (shaped like the article's) switches every kind of telemetry on.
#[test]
fn the_example_config_switches_telemetry_on() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml");
    let config = contracts_amqp::Config::load(path).expect("the example config loads");
    assert_eq!(config.amqp_uri.vhost(), "/");
    let telemetry =
        contracts_telemetry::TelemetryConfig::from_sources(config.settings.file(), |_| None)
            .expect("its telemetry keys read");
    assert!(telemetry.traces);
    assert_eq!(telemetry.otlp_endpoint, "http://localhost:4317");
    assert_eq!(telemetry.service_name.as_deref(), Some("seed-services"));
    assert_eq!(telemetry.resource_attributes["environment"], "development");
    assert_eq!(telemetry.metrics_port, Some(9464));
    assert_eq!(telemetry.log_format, contracts_telemetry::LogFormat::Json);
}
