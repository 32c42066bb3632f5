//! RabbitMQ for contracts: a [`Transport`](contracts_core::transport::Transport) on lapin that
//! speaks Nameko's wire, and the process around it (config, signals).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use contracts_amqp::{AmqpTransport, BrokerUri};
//! use contracts_core::server::ServiceRunner;
//!
//! let uri: BrokerUri = std::env::var("AMQP_URI")
//!     .unwrap_or_else(|_| contracts_amqp::DEFAULT_AMQP_URI.into())
//!     .parse()?;
//! let broker = AmqpTransport::shared(&uri).await?;
//! let runner = ServiceRunner::new(broker);
//! # Ok(()) }
//! ```

mod broker_error;
mod channel;
pub mod config;
mod consumer;
mod fields;
mod link;
mod message;
mod run;
mod shutdown;
mod tls;
mod transport;
mod uri;

pub use config::{Config, ConfigError};
pub use link::ReconnectPolicy;
pub use run::{Exit, config_error, run};
pub use shutdown::{FORCED_EXIT_CODE, Signal, shutdown_signal};
pub use tls::{InvalidTls, TlsOptions};
pub use transport::AmqpTransport;
pub use uri::{BrokerUri, DEFAULT_AMQP_URI, InvalidUri};

// The crate's README (its registry page) is tested as documentation: its examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
