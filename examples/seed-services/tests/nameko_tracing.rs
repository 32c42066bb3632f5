//! One trace across Rust → Python Nameko → Rust: a Rust client calls a Nameko 3 service traced
//! by opentelemetry-instrumentation-nameko (from PyPI), which calls a Rust service. Both
//! languages export to one OTLP receiver in the test; the spans must form one chain.
//!
//! Telemetry is set up once per process, so this file is one test.

use std::path::PathBuf;

use contracts_core::{RpcClient, ServiceRunner};
use contracts_telemetry::{LogFormat, TelemetryConfig};
use contracts_testkit::nameko::{NAMEKO3, NamekoProcess};
use contracts_testkit::{OtlpReceiver, ReceivedSpan, TestVhost};
use serde_json::json;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("nameko3")
        .join(name)
}

fn find(spans: &[ReceivedSpan], what: impl Fn(&ReceivedSpan) -> bool) -> Option<&ReceivedSpan> {
    spans.iter().find(|s| what(s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_crosses_rust_nameko_and_rust() {
    let receiver = OtlpReceiver::start().await;
    let telemetry = contracts_telemetry::install(&TelemetryConfig {
        traces: true,
        otlp_endpoint: receiver.endpoint(),
        service_name: Some("rust-side".into()),
        log_format: LogFormat::Text,
        log_level: "warn".into(),
        ..TelemetryConfig::default()
    })
    .await
    .expect("telemetry installs");

    let vhost = TestVhost::create("nameko-tracing");
    let broker = vhost.connect().await;
    let seed = seed_services::start(ServiceRunner::new(broker.clone()))
        .await
        .expect("seed services start");
    let endpoint = receiver.endpoint();
    let python = NamekoProcess::start_in(
        &NAMEKO3,
        vhost.raw_uri(),
        &script("traced.py"),
        &[],
        &[("OTLP_ENDPOINT", endpoint.as_str())],
    )
    .await;

    let rpc = RpcClient::connect(broker.clone(), "tests").await.unwrap();
    let reply = rpc
        .call(
            "py_trace",
            "relay",
            vec![],
            json!({"name": "Trace"}).as_object().unwrap().clone(),
        )
        .await
        .expect("the relay answers");
    assert_eq!(reply, json!("Hello, Trace!"));
    seed.running.stop().await;
    telemetry.flush().await;

    // Python exports each span as it ends; Rust's are flushed above.
    let spans = receiver
        .wait_for("the four spans of the chain", |spans| {
            spans
                .iter()
                .any(|s| s.service_name() == "py-trace" && s.kind == "server")
                && spans
                    .iter()
                    .any(|s| s.service_name() == "py-trace" && s.kind == "client")
                && spans
                    .iter()
                    .any(|s| s.name == "my_service/hello" && s.kind == "server")
                && spans
                    .iter()
                    .any(|s| s.name == "py_trace/relay" && s.kind == "client")
        })
        .await;
    let rust_client = find(&spans, |s| s.name == "py_trace/relay" && s.kind == "client").unwrap();
    let py_server = find(&spans, |s| {
        s.service_name() == "py-trace" && s.kind == "server"
    })
    .unwrap();
    let py_client = find(&spans, |s| {
        s.service_name() == "py-trace" && s.kind == "client"
    })
    .unwrap();
    let rust_server = find(&spans, |s| {
        s.name == "my_service/hello" && s.kind == "server"
    })
    .unwrap();

    assert_eq!(py_server.name, "py_trace.relay", "{py_server:#?}");
    assert_eq!(
        py_client.attribute("nameko.rpc.target_service"),
        Some("my_service"),
        "{py_client:#?}"
    );
    let chain = [rust_client, py_server, py_client, rust_server];
    for span in chain {
        assert_eq!(span.trace_id, rust_client.trace_id, "one trace: {spans:#?}");
    }
    assert_eq!(rust_client.parent_span_id, "");
    for pair in chain.windows(2) {
        assert_eq!(
            pair[1].parent_span_id, pair[0].span_id,
            "{} is the parent of {}: {spans:#?}",
            pair[0].name, pair[1].name
        );
    }
    for (depth, span) in chain.iter().enumerate() {
        println!(
            "{:indent$}{} [{}] {} span {} parent {}",
            "",
            span.name,
            span.kind,
            span.service_name(),
            span.span_id,
            span.parent_span_id,
            indent = depth * 2
        );
    }
    assert_eq!(rust_client.service_name(), "rust-side");
    assert_eq!(rust_server.service_name(), "rust-side");
    python.terminate().await;
    telemetry.shutdown();
}
