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
//! With `WEB_SERVER_PORT` set (in the environment, or in a config file: the example's sets
//! 8000), the HTTP gateway to the seed
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

#[tokio::main]
async fn main() -> contracts_amqp::Exit {
    seed_services::main().await
}
