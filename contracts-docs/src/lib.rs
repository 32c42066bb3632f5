//! The documents of a set of contracts services, made from their [`ServiceContract`]s alone
//! (compiled in, or read back from `schemas/` with
//! [`schema_files::read`](contracts_core::contract::schema_files::read)), with no web server or broker:
//!
//! - [`asyncapi::document`]: AsyncAPI 3.0 of every RPC method and event on Nameko's AMQP wire;
//! - [`openapi::document`]: OpenAPI 3.1 of the HTTP gateway's routes (`contracts-http` serves
//!   it at `/openapi.json`), whose error answers are [`Problem`]'s kinds;
//! - [`Components`]: the `$defs` of many message schemas gathered into one document.
//!
//! ```
//! use contracts_core::prelude::*;
//!
//! #[service(name = "greeter")]
//! pub trait Greeter {
//!     /// Greet someone.
//!     async fn hello(&self, name: String) -> String;
//! }
//!
//! let contract = GreeterContract::contract();
//! let asyncapi = contracts_docs::asyncapi::document([contract], "Greeter");
//! assert_eq!(asyncapi["channels"]["rpc_greeter_hello"]["address"], "greeter.hello");
//! let openapi = contracts_docs::openapi::document([contract], &Default::default());
//! assert_eq!(openapi["paths"]["/greeter/hello"]["post"]["operationId"], "greeter.hello");
//! ```
//!
//! [`ServiceContract`]: contracts_core::ServiceContract

pub mod asyncapi;
mod components;
pub mod openapi;
mod problem;

pub use components::{Components, component_key};
pub use problem::Problem;

// The crate's README (its registry page) is tested as documentation: its examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
