//! An OTLP/gRPC trace receiver inside the test: what an OpenTelemetry collector would be given,
//! decoded from the protobuf the exporters send.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

/// One exported span, as the receiver decoded it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedSpan {
    /// The exporting process's resource attributes (`service.name`, …).
    pub resource: BTreeMap<String, Value>,
    /// The span's name.
    pub name: String,
    /// `client`, `server`, `producer`, `consumer` or `internal`.
    pub kind: &'static str,
    /// Hex trace id.
    pub trace_id: String,
    /// Hex span id.
    pub span_id: String,
    /// Hex id of the parent span; empty for a root span.
    pub parent_span_id: String,
    /// The span's attributes.
    pub attributes: BTreeMap<String, Value>,
    /// `unset`, `ok` or `error`.
    pub status: &'static str,
}

impl ReceivedSpan {
    /// The resource's `service.name`.
    pub fn service_name(&self) -> &str {
        self.resource
            .get("service.name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// An attribute as a string, if it is one.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }
}

/// A running receiver; it stops when dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    spans: watch::Receiver<Vec<ReceivedSpan>>,
    count: Arc<AtomicU64>,
    _stop: oneshot::Sender<()>,
}

struct Collect {
    spans: watch::Sender<Vec<ReceivedSpan>>,
    /// Spans received, kept or not.
    count: Arc<AtomicU64>,
    /// Whether spans are kept (tests) or only counted (benchmarks).
    keep: bool,
}

#[tonic::async_trait]
impl TraceService for Collect {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        if !self.keep {
            let n: usize = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            self.count.fetch_add(n as u64, Ordering::Relaxed);
            return Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }));
        }
        let mut received = Vec::new();
        for resource_spans in request.resource_spans {
            let resource = attributes(
                resource_spans
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default(),
            );
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    received.push(ReceivedSpan {
                        resource: resource.clone(),
                        kind: match span.kind {
                            1 => "internal",
                            2 => "server",
                            3 => "client",
                            4 => "producer",
                            5 => "consumer",
                            _ => "unspecified",
                        },
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: attributes(span.attributes),
                        status: match span.status.map(|s| s.code) {
                            Some(1) => "ok",
                            Some(2) => "error",
                            _ => "unset",
                        },
                    });
                }
            }
        }
        self.count
            .fetch_add(received.len() as u64, Ordering::Relaxed);
        self.spans.send_modify(|spans| spans.extend(received));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(kvs: Vec<KeyValue>) -> BTreeMap<String, Value> {
    kvs.into_iter()
        .map(|kv| (kv.key, kv.value.map(any).unwrap_or(Value::Null)))
        .collect()
}

fn any(value: AnyValue) -> Value {
    match value.value {
        Some(any_value::Value::StringValue(s)) => Value::String(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => i.into(),
        Some(any_value::Value::DoubleValue(d)) => d.into(),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.into_iter().map(any).collect())
        }
        Some(other) => Value::String(format!("{other:?}")),
        None => Value::Null,
    }
}

impl OtlpReceiver {
    /// Listen on a free port of 127.0.0.1, keeping every span.
    pub async fn start() -> Self {
        Self::listen(true).await
    }

    /// Listen, only counting spans (for a benchmark's millions).
    pub async fn counting() -> Self {
        Self::listen(false).await
    }

    /// How many spans arrived.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    async fn listen(keep: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port for the OTLP receiver");
        let addr = listener.local_addr().expect("bound");
        let (sender, spans) = watch::channel(Vec::new());
        let count = Arc::new(AtomicU64::new(0));
        let collect = Collect {
            spans: sender,
            count: count.clone(),
            keep,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collect))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
                .expect("the OTLP receiver serves");
        });
        Self {
            addr,
            spans,
            count,
            _stop: stop,
        }
    }

    /// The endpoint exporters are given (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.borrow().clone()
    }

    /// Wait until the spans received satisfy `done` (failing the test after
    /// [`crate::GUARD`]), then return them all.
    pub async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let mut spans = self.spans.clone();
        match tokio::time::timeout(crate::GUARD, spans.wait_for(|s| done(s))).await {
            Ok(Ok(spans)) => spans.clone(),
            _ => panic!(
                "the OTLP receiver never got {what}; it got:\n{:#?}",
                self.spans()
            ),
        }
    }
}
