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
//! Logs, traces, metrics and health follow the config's keys (`contracts_telemetry`): with
//! `examples/seed-services/config.yaml`, JSON log lines, spans exported over OTLP, and
//! `/metrics`, `/health/live` and `/health/ready` on `METRICS_PORT`.

use contracts_amqp::{Config, shutdown_signal};
use contracts_telemetry::TelemetryConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = match std::env::args().nth(1) {
        Some(path) => Config::load(path)?,
        None => Config::from_env()?,
    };
    let telemetry =
        contracts_telemetry::install(&TelemetryConfig::from_keys(&config.extra)?).await?;
    tracing::info!(broker = %config.amqp_uri, max_workers = config.max_workers, "starting");
    let broker = config.connect().await?;
    let seed = seed_services::start(config.runner(broker.clone())).await?;
    tracing::info!(
        "serving my_service, user_service, another_service, my_client_service and \
         notification_service.on_user_created; SIGTERM or Ctrl-C stops"
    );
    let mut running = seed.running;
    tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(
                ?signal,
                "stopping: finishing calls in flight (a second signal exits at once)"
            );
            running.stop().await;
            broker.close().await;
            tracing::info!("stopped: every call in flight replied and acked");
            telemetry.shutdown();
            Ok(())
        }
        queue = running.ended() => {
            // Without its consumers the process would look alive and serve nothing: stop what
            // is left and exit non-zero, so that the supervisor restarts it.
            tracing::error!(%queue, "a consumer ended for good (queue deleted, or reconnection gave up); exiting");
            running.stop().await;
            telemetry.shutdown();
            std::process::exit(1);
        }
    }
}
