//! The seed services over RabbitMQ, until SIGTERM or Ctrl-C.
//!
//! ```sh
//! cargo run --example seed_services                       # AMQP_URI or the local default
//! cargo run --example seed_services -- config.yaml        # Nameko-style YAML config
//! cargo run --example seed_services -- examples/seed-services/config.yaml   # all telemetry on
//! ```
//!
//! Serves `my_service`, `user_service`, `another_service`, `my_client_service` and the
//! `notification_service.on_user_created` event handler. Call them from Python with
//! `nameko shell --broker $AMQP_URI` (`n.rpc.my_service.hello("World")`) or from Rust with
//! the generated clients.
//!
//! With `WEB_SERVER_PORT` set (the config file sets 8000), the HTTP gateway to the seed
//! services' methods listens there: `curl -H 'content-type: application/json' -d
//! '{"name": "World"}' localhost:8000/my_service/hello`.
//!
//! `contracts_amqp::run` is the whole main: connection and reconnection, a graceful stop on
//! SIGTERM, and an exit code a supervisor understands (0 stopped, 75 a consumer was lost,
//! 69 no broker, 78 bad config).
//!
//! Logs, traces, metrics and health follow the config's keys (`contracts_telemetry`): with
//! `examples/seed-services/config.yaml`, JSON log lines, spans exported over OTLP, and
//! `/metrics`, `/health/live` and `/health/ready` on `METRICS_PORT`.

use contracts_amqp::{Config, Exit};
use contracts_core::{RpcClient, TransportError};
use contracts_telemetry::TelemetryConfig;

#[tokio::main]
async fn main() -> Exit {
    let config = match Config::from_args_or_env() {
        Ok(config) => config,
        Err(error) => return contracts_amqp::config_error(&error),
    };
    let keys = match TelemetryConfig::from_keys(&config.extra) {
        Ok(keys) => keys,
        Err(error) => return contracts_amqp::config_error(&error),
    };
    let telemetry = match contracts_telemetry::install(&keys).await {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("telemetry: {error}");
            return Exit::Unavailable;
        }
    };
    let web_port = match config.extra.get("WEB_SERVER_PORT").map(port) {
        Some(Ok(port)) => Some(port),
        Some(Err(error)) => return contracts_amqp::config_error(&error),
        None => None,
    };
    let code = contracts_amqp::run(&config, |runner| async move {
        let transport = runner.transport().clone();
        let seed = seed_services::start(runner).await?;
        if let Some(port) = web_port {
            let rpc = RpcClient::connect(transport, "http_gateway").await?;
            seed_services::serve_gateway(rpc, port)
                .await
                .map_err(|e| TransportError::closed_by(format!("WEB_SERVER_PORT {port}"), e))?;
        }
        Ok(seed.running)
    })
    .await;
    telemetry.shutdown();
    code
}

/// `WEB_SERVER_PORT` (the article's key) as a port.
fn port(value: &serde_json::Value) -> Result<u16, String> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("WEB_SERVER_PORT: expected a port number, got {value}"))
}
