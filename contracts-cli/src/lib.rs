//! The `contracts` command-line tool's library: it works from the committed `schemas/` files
//! alone, so it serves services written in any language.
//!
//! - [`catalog`] reads a schemas directory back;
//! - [`asyncapi`] and [`catalog_page`] write the docs (`contracts docs`);
//! - [`compat`] tells whether a schema change breaks the message's readers;
//! - [`check`] compares two catalogs (`contracts check`);
//! - [`baseline`] finds the catalog to compare with (a directory or a git revision);
//! - [`validate`] checks payloads against a message's schema (`contracts validate`);
//! - [`python`] writes a typed Python package from the schemas (`contracts codegen python`);
//! - [`remote`] calls methods and dispatches events over RabbitMQ (`contracts call`,
//!   `contracts dispatch`).

pub mod asyncapi;
pub mod baseline;
pub mod catalog;
pub mod catalog_page;
pub mod check;
pub mod compat;
pub mod python;
pub mod remote;
pub mod validate;
