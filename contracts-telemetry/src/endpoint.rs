//! The HTTP server an operator's tools talk to: `/metrics` for Prometheus, `/health/live` and
//! `/health/ready` for an orchestrator's probes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::metrics::{Metrics, Readiness};

/// The running server; it stops when this is dropped.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// Serve on `0.0.0.0:port` (port 0: any free port).
pub(crate) async fn serve(port: u16, metrics: Arc<Metrics>) -> std::io::Result<Endpoint> {
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(metrics);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %contracts_core::error::Report(&e), "the metrics and health server stopped");
        }
    });
    tracing::info!(%addr, "serving /metrics, /health/live and /health/ready");
    Ok(Endpoint { addr, _stop: stop })
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics.render().await,
    )
        .into_response()
}

/// Live while the process answers at all: an orchestrator restarts it when this fails.
async fn live() -> &'static str {
    "live\n"
}

/// Ready when every consumer runs on a connected broker: until then, no traffic should be
/// routed to this process's HTTP side, and a rollout should wait.
async fn ready(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.ready() {
        Readiness::Ready => (StatusCode::OK, "ready\n".to_owned()).into_response(),
        Readiness::NotReady(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", why.join("; ")),
        )
            .into_response(),
    }
}
