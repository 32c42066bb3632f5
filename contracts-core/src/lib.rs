//! # contracts
//!
//! Write a service once, as a Rust trait; get typed messages, JSON Schemas, a typed client and
//! a validating server that speak Nameko's AMQP wire protocol.
//!
//! ```
//! use contracts_core::prelude::*;
//! use contracts_core::{MemoryBroker, RpcClient, ServiceRunner};
//!
//! #[service(name = "greeter")]
//! pub trait Greeter {
//!     /// Greet someone.
//!     async fn hello(&self, name: String) -> String;
//! }
//!
//! struct Impl;
//! impl Greeter for Impl {
//!     async fn hello(&self, name: String) -> String {
//!         format!("Hello, {name}!")
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = MemoryBroker::shared();
//! let running = ServiceRunner::new(broker.clone()).serve(GreeterServer::new(Impl)).start().await?;
//! let client = GreeterClient::new(RpcClient::connect(broker, "docs").await?);
//! assert_eq!(client.hello("Ann".into()).await?, "Hello, Ann!");
//! running.stop().await;
//! # Ok(()) }
//! ```
//!
//! The crate has two halves. The **contract** half is plain data and checks; nothing in it
//! sends, receives or awaits (it names queues with the plain functions of [`wire::topology`]):
//! - [`contract`]: the service model (what `#[service]` emits), its compiled validators, and the
//!   schema files it is written to and read back from;
//! - [`validate`]: JSON Schema checks, and the decoder that reads a message once for both the
//!   check and the typed value.
//!
//! The **runtime** half moves messages, top to bottom:
//! - [`client`], [`server`] and [`events`]: typed and checked calls, the runner that hosts
//!   services, RPC methods, event handlers and timers, and publishing and handling events (with
//!   retry queues and duplicate suppression);
//! - [`wire`]: Nameko's protocol: envelopes and error dicts, queue and exchange names, call
//!   context headers, size limits and the checks every inbound message goes through;
//! - [`transport`]: the broker seam, with the embedded [`MemoryBroker`].
//!
//! Beside both: [`config`] (settings from files and the environment), [`error`] (what a call
//! fails with) and [`observe`] (the hook telemetry plugs into).

// `ErrorDict` (Nameko's four keys plus extras) is the error type of the request path. It is
// built only when a call fails, and is serialized right after; boxing it would change no
// measurable cost and make every signature noisier.
#![allow(clippy::result_large_err)]

mod catch_panic;
pub mod client;
pub mod config;
pub mod contract;
pub mod error;
pub mod events;
pub mod observe;
pub mod server;
pub mod transport;
pub mod validate;
pub mod wire;

pub use client::RpcClient;
pub use contract::{CompiledService, ServiceContract};
/// Turn a trait into a service contract.
///
/// ```
/// use contracts_core::prelude::*;
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// pub struct UserData {
///     #[schemars(range(min = 1))]
///     pub user_id: u64,
///     #[schemars(length(min = 1, max = 100))]
///     pub name: String,
/// }
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// pub struct Created {
///     pub user_id: u64,
/// }
///
/// #[derive(Debug, Serialize, Deserialize, JsonSchema)]
/// pub enum UserError {
///     UserAlreadyExists { user_id: u64 },
/// }
///
/// impl std::fmt::Display for UserError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "{self:?}")
///     }
/// }
///
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// pub struct UserCreated {
///     pub user_id: u64,
/// }
///
/// /// Users.
/// #[service(name = "user_service")]
/// pub trait UserService {
///     /// Create a user; the doc comment becomes the request schema's description.
///     async fn create_user(&self, user_data: UserData) -> Result<Created, UserError>;
///
///     /// Published after a user is created.
///     #[event]
///     fn user_created(event: UserCreated);
/// }
///
/// /// Reacts to users' events.
/// #[service(name = "notification_service")]
/// pub trait NotificationService {
///     /// Welcome a new user.
///     #[handles(UserServiceContract::user_created)]
///     async fn on_user_created(&self, event: UserCreated);
/// }
///
/// let contract = UserServiceContract::contract();
/// assert_eq!(contract.name, "user_service");
/// assert_eq!(contract.methods[0].params, ["user_data"]);
/// assert_eq!(contract.methods[0].error.as_ref().unwrap().exc_path, "user_service.UserError");
/// assert_eq!(contract.events[0].name, "user_created");
/// let subscription = &NotificationServiceContract::contract().subscriptions[0];
/// assert_eq!((subscription.source.as_str(), subscription.event.as_str()), ("user_service", "user_created"));
/// assert_eq!(subscription.queue, "evt-user_service-user_created--notification_service.on_user_created");
/// ```
///
/// `name` is the Nameko service name: one routing-key word (no `.`, `*`, `#` or whitespace).
/// `calls(OtherContract, ..)` records the services this one calls, so that the schema files
/// and `contracts docs` show who calls whom.
///
/// Each `async fn` taking `&self` is an RPC method. Its arguments (owned, named, non-generic)
/// become the fields of a request struct whose JSON Schema is the request schema; doc comments and
/// `#[schemars(..)]` constraints on an argument go onto its field (serde attributes are refused:
/// an argument's name is its wire name). It returns `T`, or
/// `Result<T, E>` with a [`DeclaredError`] `E` that travels typed. Each `#[event] fn name(payload:
/// P);` declares an event. Each `#[handles(SourceContract::event)] async fn on_event(&self,
/// event: P)` is an event handler of another service's event (or this one's), returning `()` or
/// `Result<(), E>` with `E: Display`: the contract records the subscription, the payload type
/// must be the event's (checked at compile time), and serving the service subscribes it on a
/// Nameko service-pool queue. `#[cfg]` on an item carries over to everything generated for it.
///
/// Generated next to the trait, for a trait `UserService`:
/// - `UserServiceContract`: `contract()` (the [`ServiceContract`]) and one function per event
///   returning its [`EventSpec`], the only way to subscribe to it;
/// - `UserServiceClient`: typed async methods over an [`RpcClient`];
/// - `UserServiceServer<S>`: serves any `S: UserService` in a [`ServiceRunner`];
/// - `UserServicePublisher` (if the service has events): typed, validated publishing.
///
/// The trait itself is rewritten so that each method returns a `Send` future; implement it with
/// `async fn`.
pub use contracts_macros::service;
pub use error::{CallError, Declared, DeclaredError, Never, RemoteError};
pub use events::{EventHandler, EventPublisher, EventSpec, HandlerFailure, PublishError};
pub use server::timer::Timer;
pub use server::{Dispatch, RunningServices, ServiceRunner, Waiter};
pub use transport::{MemoryBroker, SharedTransport, Transport, TransportError};
pub use validate::{ValidationError, ValidationMode};
pub use wire::context::CallContext;
pub use wire::inbound::Arguments;
pub use wire::topology::HandlerType;

/// What a contracts crate needs in scope.
pub mod prelude {
    pub use crate::service;
    pub use crate::{CallError, RemoteError, ValidationError};
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

/// A contract's descriptor type (`<Trait>Contract`), generated by `#[service]`.
pub trait Contract {
    /// The service model with every message schema.
    fn contract() -> &'static ServiceContract;
}

/// Paths generated code uses; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::server::generated::{
        decode_request, encode_result, encode_value, method_not_found,
    };

    /// Where a contract's compiled validators live: one static per service.
    pub trait Compiled {
        /// The compiled contract, built on first use.
        fn compiled() -> &'static crate::CompiledService;
    }
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use std::sync::OnceLock;
}

// The crate's README (its registry page) is tested as documentation: its examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
