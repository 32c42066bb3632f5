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
//! `contracts_amqp::run` is the whole main: connection and reconnection, a graceful stop on
//! SIGTERM, and an exit code a supervisor understands (0 stopped, 75 a consumer was lost,
//! 69 no broker, 78 bad config).
//!
//! Logs, traces, metrics and health follow the config's keys (`contracts_telemetry`): with
//! `examples/seed-services/config.yaml`, JSON log lines, spans exported over OTLP, and
//! `/metrics`, `/health/live` and `/health/ready` on `METRICS_PORT`.

use contracts_amqp::{Config, Exit};
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
    let code = contracts_amqp::run(&config, |runner| async {
        Ok(seed_services::start(runner).await?.running)
    })
    .await;
    telemetry.shutdown();
    code
}
