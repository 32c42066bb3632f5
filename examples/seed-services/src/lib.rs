//! The seed article's services, implemented against the shared contracts in `seed-contracts`.
//!
//! [`start`] hosts all of them (and the `user_created` handler) on any transport: the
//! quickstart and the tests run them on the in-memory broker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[cfg(doctest)]
mod guide;

use contracts_core::{
    CallError, RpcClient, RunningServices, ServiceRunner, SharedTransport, TransportError,
};
use seed_contracts::*;
use tokio::sync::watch;

/// `my_service`.
#[derive(Debug, Default)]
pub struct Greeter;

impl MyService for Greeter {
    async fn hello(&self, name: String) -> String {
        format!("Hello, {name}!")
    }
}

/// `user_service`: an in-memory user store that publishes `user_created`.
#[derive(Debug)]
pub struct Users {
    users: Mutex<HashMap<u64, UserData>>,
    events: UserServicePublisher,
}

impl Users {
    /// A store publishing its events on `transport`.
    pub fn new(transport: SharedTransport) -> Self {
        Self {
            users: Mutex::default(),
            events: UserServicePublisher::new(transport),
        }
    }
}

impl UserService for Users {
    async fn create_user(&self, user_data: UserData) -> Result<Created, UserError> {
        let user_id = user_data.user_id;
        let event = UserCreated {
            user_id,
            name: user_data.name.clone(),
        };
        {
            let mut users = self.users.lock().expect("users lock");
            if users.contains_key(&user_id) {
                return Err(UserError::UserAlreadyExists { user_id });
            }
            users.insert(user_id, user_data);
        }
        if let Err(e) = self.events.user_created(&event).await {
            tracing::error!(error = %contracts_core::error::Report(&e), user_id, "user_created not published");
        }
        Ok(Created {
            status: Success::Success,
            user_id,
        })
    }
}

/// `another_service`: calls `my_service` from its handler.
#[derive(Debug)]
pub struct Another {
    my_service: MyServiceClient,
}

impl Another {
    /// Calls go through `rpc`.
    pub fn new(rpc: RpcClient) -> Self {
        Self {
            my_service: MyServiceClient::new(rpc),
        }
    }
}

impl AnotherService for Another {
    async fn do_something_with_hello(&self) -> Result<String, DependencyFailed> {
        self.my_service
            .hello("Alice".to_owned())
            .await
            .map_err(|e| DependencyFailed {
                service: "my_service".to_owned(),
                message: e.to_string(),
            })
    }
}

/// `my_client_service`: reports `user_service` failures instead of raising them.
#[derive(Debug)]
pub struct ClientService {
    users: UserServiceClient,
}

impl ClientService {
    /// Calls go through `rpc`.
    pub fn new(rpc: RpcClient) -> Self {
        Self {
            users: UserServiceClient::new(rpc),
        }
    }
}

impl MyClientService for ClientService {
    async fn try_create_user(&self, user_data: UserData) -> TryCreateOutcome {
        match self.users.create_user(user_data).await {
            Ok(data) => TryCreateOutcome::Success { data },
            // Decide by the error's type, as the article does with RemoteError.
            Err(CallError::Service(UserError::UserAlreadyExists { user_id })) => {
                TryCreateOutcome::Failed {
                    error: format!("user {user_id} already exists"),
                }
            }
            Err(other) => TryCreateOutcome::Failed {
                error: other.to_string(),
            },
        }
    }
}

/// What `notification_service` did with the `user_created` events it got. Its handler is
/// idempotent: a redelivered event welcomes nobody twice. Tests read
/// [`Welcomes::deliveries`], which counts every event that reached the handler, to prove an
/// event was delivered once, not merely that its effect happened once.
#[derive(Clone, Debug)]
pub struct Welcomes {
    deliveries: Arc<Mutex<Vec<UserCreated>>>,
    changed: watch::Sender<usize>,
}

impl Default for Welcomes {
    fn default() -> Self {
        Self {
            deliveries: Arc::default(),
            changed: watch::Sender::new(0),
        }
    }
}

impl Welcomes {
    /// Handle one delivery: welcome the user unless they had a welcome already.
    pub fn welcome(&self, event: UserCreated) {
        let mut deliveries = self.deliveries.lock().expect("welcomes lock");
        if deliveries.iter().all(|d| d.user_id != event.user_id) {
            tracing::info!(user_id = event.user_id, name = %event.name, "welcome sent");
        }
        deliveries.push(event);
        self.changed.send_replace(deliveries.len());
    }

    /// Everyone welcomed so far, once each, in the order of their first event.
    pub fn all(&self) -> Vec<UserCreated> {
        let mut welcomed: Vec<UserCreated> = Vec::new();
        for event in self.deliveries() {
            if welcomed.iter().all(|w| w.user_id != event.user_id) {
                welcomed.push(event);
            }
        }
        welcomed
    }

    /// Every event that reached the handler, duplicates included, in arrival order.
    pub fn deliveries(&self) -> Vec<UserCreated> {
        self.deliveries.lock().expect("welcomes lock").clone()
    }

    /// Wait until at least `n` events have reached the handler.
    pub async fn wait_for(&self, n: usize) {
        let mut changed = self.changed.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = changed.wait_for(|count| *count >= n).await;
    }
}

impl NotificationService for Welcomes {
    async fn on_user_created(&self, event: UserCreated) {
        self.welcome(event);
    }
}

/// The HTTP gateway to the seed services' methods (`POST /<service>/<method>`, OpenAPI at
/// `/openapi.json`), calling them through `rpc`. A taken user id answers `409 Conflict`.
pub fn gateway(rpc: RpcClient) -> contracts_http::Gateway {
    contracts_http::Gateway::new(rpc)
        .service::<MyServiceContract>()
        .service::<UserServiceContract>()
        .service::<AnotherServiceContract>()
        .service::<MyClientServiceContract>()
        .error_status(
            "user_service.UserError",
            contracts_http::axum::http::StatusCode::CONFLICT,
        )
}

/// Serve [`gateway`] on `port` (the config's `WEB_SERVER_PORT`; 0 for any free one) in the
/// background, for as long as the process runs; the address it listens on.
pub async fn serve_gateway(rpc: RpcClient, port: u16) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    let addr = listener.local_addr()?;
    let router = gateway(rpc).router();
    tokio::spawn(async move { contracts_http::axum::serve(listener, router).await });
    tracing::info!(%addr, "HTTP gateway: POST /<service>/<method>, GET /openapi.json");
    Ok(addr)
}

/// Every seed service, running.
#[derive(Debug)]
pub struct SeedServices {
    /// The running services; stop them with [`RunningServices::stop`].
    pub running: RunningServices,
    /// What `notification_service` handled.
    pub welcomes: Welcomes,
}

/// Serve `my_service`, `user_service`, `another_service` and `my_client_service`, and the
/// `notification_service` handler of `user_created`, on `runner`'s transport.
pub async fn start(runner: ServiceRunner) -> Result<SeedServices, TransportError> {
    let transport = runner.transport().clone();
    let another_rpc = RpcClient::connect(transport.clone(), "another_service").await?;
    let client_rpc = RpcClient::connect(transport.clone(), "my_client_service").await?;
    let welcomes = Welcomes::default();
    let running = runner
        .serve(MyServiceServer::new(Greeter))
        .serve(UserServiceServer::new(Users::new(transport.clone())))
        .serve(AnotherServiceServer::new(Another::new(another_rpc)))
        .serve(MyClientServiceServer::new(ClientService::new(client_rpc)))
        .serve(NotificationServiceServer::new(welcomes.clone()))
        .start()
        .await?;
    Ok(SeedServices { running, welcomes })
}

/// The seed example's whole `main` (`cargo run --example seed_services [config.yaml]`): the
/// config file named by the first argument, else none, every key overridable from the
/// environment (`AMQP_URI`, `METRICS_PORT`, `WEB_SERVER_PORT`, …); telemetry as its keys say;
/// the seed services and, with `WEB_SERVER_PORT`, their HTTP gateway, served until SIGTERM.
pub async fn main() -> contracts_amqp::Exit {
    match contracts_amqp::Config::from_args_or_env() {
        Ok(config) => run(&config).await,
        Err(error) => contracts_amqp::config_error(&error),
    }
}

/// [`main`] once the config is read.
pub async fn run(config: &contracts_amqp::Config) -> contracts_amqp::Exit {
    let keys = match contracts_telemetry::TelemetryConfig::from_settings(&config.settings) {
        Ok(keys) => keys,
        Err(error) => return contracts_amqp::config_error(&error),
    };
    let web_port = match config.settings.port(&contracts_http::WEB_SERVER_PORT) {
        Ok(port) => port,
        Err(error) => return contracts_amqp::config_error(&error),
    };
    let telemetry = match contracts_telemetry::install(&keys).await {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("telemetry: {}", contracts_core::error::Report(&error));
            return contracts_amqp::Exit::Unavailable;
        }
    };
    let code = contracts_amqp::run(config, |runner| async move {
        let transport = runner.transport().clone();
        let seed = start(runner).await?;
        if let Some(port) = web_port {
            let rpc = RpcClient::connect(transport, "http_gateway").await?;
            serve_gateway(rpc, port)
                .await
                .map_err(|e| TransportError::closed_by(format!("WEB_SERVER_PORT {port}"), e))?;
        }
        Ok(seed.running)
    })
    .await;
    telemetry.shutdown();
    code
}
