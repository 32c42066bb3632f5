//! An HTTP face for contracts services, made from the same contracts: one line turns a set
//! of them into an axum router.
//!
//! - `POST /<service>/<method>` with the request object (the method's arguments by name) as
//!   the JSON body. The body is checked against the method's request schema before anything
//!   is sent; the call goes over the broker to whichever instance serves the service, in
//!   Nameko's wire form, so Python Nameko services are served the same way.
//! - The answer: `200` with the reply; the method's declared error with its typed value as
//!   the body (`400` unless [`Gateway::error_status`] says otherwise); `422` with the JSON
//!   pointers of every failure for a request that breaks the contract; `504` when no reply
//!   came in time; `503` when the broker is unreachable or nothing serves the service; `502`
//!   for anything else the service raised or a reply that breaks the contract. Malformed
//!   HTTP gets `400` (not JSON), `415` (not `application/json`), `413` (too large), `404` (no
//!   such service or method) and `405` (not `POST`). Every error body is JSON.
//! - `GET /openapi.json`: an OpenAPI 3.1 document of those routes, made from the same
//!   schemas ([`contracts_docs::openapi::document`]).
//!
//! ```no_run
//! # async fn demo(rpc: contracts_core::RpcClient) -> std::io::Result<()> {
//! # use contracts_core::prelude::*;
//! # #[service(name = "greeter")]
//! # trait Greeter { async fn hello(&self, name: String) -> String; }
//! let app = contracts_http::Gateway::new(rpc).service::<GreeterContract>().router();
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod answer;
mod gateway;

use contracts_core::config::Key;

/// `WEB_SERVER_PORT`: the port the gateway serves on (the key of Nameko's own web entrypoint),
/// read like every key ([`contracts_core::config`]): the variable over the file.
pub const WEB_SERVER_PORT: Key = Key::new("WEB_SERVER_PORT", "the port the HTTP gateway serves on");

/// Every key this crate reads.
pub const KEYS: [Key; 1] = [WEB_SERVER_PORT];

pub use axum;
pub use gateway::Gateway;

// The crate's README (its registry page) is tested as documentation: its examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
