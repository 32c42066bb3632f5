//! The README's and the guide's code blocks, compiled: each file below is the documentation of
//! one item here, so `cargo test -p seed-services --doc` builds every Rust block in it (and
//! runs those not marked `no_run`). `tests/guide.rs` checks that every chapter is listed and
//! that no block is a Rust block left out of the build.

/// `README.md`.
#[doc = include_str!("../../../README.md")]
pub struct Readme;

/// `BENCHMARKS.md` (the guide's last chapter includes it).
#[doc = include_str!("../../../BENCHMARKS.md")]
pub struct Benchmarks;

/// `book/src/introduction.md`.
#[doc = include_str!("../../../book/src/introduction.md")]
pub struct Introduction;

/// `book/src/getting-started.md`.
#[doc = include_str!("../../../book/src/getting-started.md")]
pub struct GettingStarted;

/// `book/src/nameko.md`.
#[doc = include_str!("../../../book/src/nameko.md")]
pub struct Nameko;

/// `book/src/events.md`.
#[doc = include_str!("../../../book/src/events.md")]
pub struct Events;

/// `book/src/http.md`.
#[doc = include_str!("../../../book/src/http.md")]
pub struct Http;

/// `book/src/reliability.md`.
#[doc = include_str!("../../../book/src/reliability.md")]
pub struct Reliability;

/// `book/src/fault-suite.md`.
#[doc = include_str!("../../../book/src/fault-suite.md")]
pub struct FaultSuite;

/// `book/src/observability.md`.
#[doc = include_str!("../../../book/src/observability.md")]
pub struct Observability;

/// `book/src/python.md`.
#[doc = include_str!("../../../book/src/python.md")]
pub struct Python;

/// `book/src/ci.md`.
#[doc = include_str!("../../../book/src/ci.md")]
pub struct Ci;

/// `book/src/adopting.md`.
#[doc = include_str!("../../../book/src/adopting.md")]
pub struct Adopting;

/// `book/src/wire.md`.
#[doc = include_str!("../../../book/src/wire.md")]
pub struct Wire;
