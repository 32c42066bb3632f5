//! What the fuzz targets share: a contract with every kind of parameter the binding and the
//! schemas handle (optional, nested, constrained, formatted, wide integers, maps), services
//! that answer at once, and the checks every outcome must pass.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use contracts_core::prelude::*;
use contracts_core::wire::{ErrorDict, ReplyEnvelope, encode_reply};
use seed_contracts::{Created, MyService, Success, UserData, UserError, UserService};

/// A tier, as an enum the schema lists.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Free.
    Free,
    /// Paying.
    Pro,
}

/// Nested, constrained and formatted fields.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// An e-mail address.
    #[schemars(email)]
    pub email: String,
    /// Lower-case letters.
    #[schemars(regex(pattern = r"^[a-z]+$"))]
    pub handle: String,
    /// A tier.
    pub tier: Tier,
    /// When, as kombu's `datetime` envelope unwraps to.
    #[schemars(extend("format" = "date-time"))]
    pub at: String,
    /// Up to ten scores.
    #[schemars(length(max = 10))]
    pub scores: Vec<f64>,
}

/// Every kind of parameter.
#[service(name = "fuzzed")]
pub trait Fuzzed {
    /// Optional and defaulted arguments.
    async fn add(&self, a: i64, b: Option<i64>) -> i64;
    /// A nested, constrained struct.
    async fn register(&self, profile: Profile, tags: BTreeMap<String, u8>) -> String;
    /// Wide and small integers, floats, booleans.
    async fn mix(&self, wide: u64, small: u8, ratio: f32, flag: bool) -> bool;
    /// No parameters at all.
    async fn ping(&self);
}

/// Answers every call at once.
pub struct Instant;

impl Fuzzed for Instant {
    async fn add(&self, a: i64, b: Option<i64>) -> i64 {
        a.wrapping_add(b.unwrap_or(0))
    }
    async fn register(&self, profile: Profile, _tags: BTreeMap<String, u8>) -> String {
        profile.handle
    }
    async fn mix(&self, _wide: u64, _small: u8, _ratio: f32, flag: bool) -> bool {
        flag
    }
    async fn ping(&self) {}
}

impl MyService for Instant {
    async fn hello(&self, name: String) -> String {
        format!("Hello, {name}!")
    }
}

impl UserService for Instant {
    async fn create_user(&self, user_data: UserData) -> Result<Created, UserError> {
        if user_data.user_id == 1 {
            return Err(UserError::UserAlreadyExists { user_id: 1 });
        }
        Ok(Created {
            status: Success::Success,
            user_id: user_data.user_id,
        })
    }
}

/// Run a future that never waits (the services above) to its end.
pub fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the services here never wait"),
    }
}

/// An error must reach the caller as a Nameko error dict that reads back as one.
pub fn assert_replyable(error: &ErrorDict) {
    let body = encode_reply(serde_json::value::RawValue::NULL, Some(error));
    let reply: ReplyEnvelope = serde_json::from_slice(&body).expect("an error reply is JSON");
    let back = reply.error.expect("the reply carries the error");
    assert_eq!(back.exc_type, error.exc_type);
    assert!(back.exc_path.is_some(), "every error names its exc_path");
}
