//! The `contracts` command-line tool's library: it works from the committed `schemas/` files
//! alone, so it serves services written in any language.
//!
//! - [`catalog`] reads a schemas directory back into contracts;
//! - [`catalog_page`] writes the HTML catalog (`contracts docs`, with the AsyncAPI and OpenAPI
//!   documents of `contracts-docs`);
//! - [`compat`] tells whether a schema change breaks the message's readers;
//! - [`check`] compares two catalogs (`contracts check`);
//! - [`baseline`] finds the catalog to compare with (a directory or a git revision);
//! - [`validate`] checks payloads against a message's schema (`contracts validate`);
//! - [`python`] writes a typed Python package from the schemas (`contracts codegen python`);
//! - [`infer`] writes contracts (schema files and a Rust crate) from recorded samples
//!   (`contracts infer`);
//! - [`record`] copies a running fleet's Nameko traffic into sample files (`contracts record`),
//!   which [`recording`] reads back;
//! - [`conform`] tells how much of a recording the committed contracts would refuse
//!   (`contracts conform`);
//! - [`remote`] calls methods and dispatches events over RabbitMQ (`contracts call`,
//!   `contracts dispatch`).

pub mod baseline;
pub mod catalog;
pub mod catalog_page;
pub mod check;
pub mod compat;
pub mod conform;
pub mod infer;
pub mod python;
pub mod record;
pub mod recording;
pub mod remote;
pub mod validate;

/// `error` with each of its sources, joined by `: ` into one line, as the tool prints it:
/// each error in the chain says only what it adds.
pub fn report(error: &dyn std::error::Error) -> String {
    contracts_core::error::Report(error).to_string()
}

// The crate's README (its registry page) is tested as documentation: its examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
