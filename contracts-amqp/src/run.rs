//! A service binary's `main` in one call, as `nameko run` is a service's: connect as the
//! config says, start the services, serve until SIGTERM or Ctrl-C, stop gracefully, and say
//! how it ended with an exit code a supervisor acts on.
//!
//! ```no_run
//! use contracts_amqp::{Config, Exit};
//! # use contracts_core::{ServiceRunner, RunningServices, TransportError};
//! # async fn my_services(runner: ServiceRunner) -> Result<RunningServices, TransportError> {
//! #     runner.start().await
//! # }
//!
//! #[tokio::main]
//! async fn main() -> Exit {
//!     // `service config.yaml`, or no argument: the environment's AMQP_URI and friends.
//!     let config = match Config::from_args_or_env() {
//!         Ok(config) => config,
//!         Err(error) => return contracts_amqp::config_error(&error),
//!     };
//!     contracts_amqp::run(&config, my_services).await
//! }
//! ```

use std::future::Future;
use std::process::{ExitCode, Termination};

use contracts_core::{RunningServices, ServiceRunner, TransportError};

use crate::config::{Config, ConfigError};
use crate::shutdown::shutdown_signal;

/// How a service process ended, and the exit code that tells its supervisor (sysexits'
/// codes). `main` can return it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Stopped on a signal, every call in flight answered: 0.
    Stopped,
    /// A consumer ended for good while serving (its queue was deleted, or reconnection gave
    /// up): restart it to serve again. 75, `EX_TEMPFAIL`.
    Lost,
    /// The services could not start: no broker answered, or declaring a queue failed.
    /// Restarting later may help. 69, `EX_UNAVAILABLE`.
    Unavailable,
    /// The configuration could not be read: restarting will not help. 78, `EX_CONFIG`.
    Config,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Stopped => 0,
            Self::Lost => 75,
            Self::Unavailable => 69,
            Self::Config => 78,
        }
    }
}

impl Termination for Exit {
    fn report(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

/// Log why the configuration could not be read, with its sources; [`Exit::Config`].
pub fn config_error(error: &(dyn std::error::Error + '_)) -> Exit {
    let error = contracts_core::error::Report(error);
    tracing::error!(%error, "configuration refused");
    eprintln!("configuration refused: {error}");
    Exit::Config
}

/// Serve what `services` starts on a runner made from `config` until SIGTERM or Ctrl-C.
///
/// - Connects to the first of the config's brokers that answers, reconnecting as it says
///   (a broker restart is ridden out, calls waiting meanwhile).
/// - `services` adds the services, handlers and timers to the runner (made with the
///   config's `max_workers`, prefetch, exchange, …) and starts it.
/// - The first signal stops gracefully: no new message is taken, calls and events in
///   flight finish, reply and ack, then the connection closes and the process exits 0. A
///   second signal exits at once ([`crate::FORCED_EXIT_CODE`]).
/// - If a consumer ends for good while serving, the rest is stopped gracefully: [`Exit::Lost`],
///   since without its consumers the process would look alive and serve nothing.
/// - If the services cannot start, [`Exit::Unavailable`].
pub async fn run<F, Fut>(config: &Config, services: F) -> Exit
where
    F: FnOnce(ServiceRunner) -> Fut,
    Fut: Future<Output = Result<RunningServices, TransportError>>,
{
    let broker = match config.connect().await {
        Ok(broker) => broker,
        Err(error) => {
            tracing::error!(%error, broker = %config.amqp_uri, "no broker answered");
            return Exit::Unavailable;
        }
    };
    let mut running = match services(config.runner(broker.clone())).await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "the services could not start");
            broker.close().await;
            return Exit::Unavailable;
        }
    };
    tracing::info!(
        broker = %config.amqp_uri,
        max_workers = config.max_workers,
        "serving; SIGTERM or Ctrl-C stops"
    );
    let code = tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(?signal, "stopping: finishing calls in flight (a second signal exits at once)");
            Exit::Stopped
        }
        queue = running.ended() => {
            tracing::error!(%queue, "a consumer ended for good (queue deleted, or reconnection gave up); stopping to be restarted");
            Exit::Lost
        }
    };
    running.stop().await;
    broker.close().await;
    tracing::info!("stopped: every call in flight replied and acked");
    code
}

impl Config {
    /// The configuration a service binary is started with: the YAML file named by its first
    /// argument (`service config.yaml`, as `nameko run --config`), else the defaults; either
    /// way overridden from the environment (`AMQP_URI`, `${VAR:default}` in the file, …).
    pub fn from_args_or_env() -> Result<Self, ConfigError> {
        match std::env::args_os().nth(1) {
            Some(path) => Self::load(path),
            None => Self::from_env(),
        }
    }
}
