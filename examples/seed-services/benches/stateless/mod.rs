//! The service both benchmarks call: `create_user`'s messages without its side effects, so
//! every call succeeds.

use contracts_core::prelude::*;
use seed_contracts::{Created, Success, UserData};

/// `create_user`'s messages without its side effects.
#[service(name = "bench")]
pub trait Bench {
    /// Same request and reply types as `user_service.create_user`.
    async fn create_user(&self, user_data: UserData) -> Created;
}

/// Answers every call.
pub(crate) struct Stateless;

impl Bench for Stateless {
    async fn create_user(&self, user_data: UserData) -> Created {
        Created {
            status: Success::Success,
            user_id: user_data.user_id,
        }
    }
}

/// The request both benchmarks send.
pub(crate) fn user() -> UserData {
    UserData {
        user_id: 42,
        name: "Ada Lovelace".into(),
    }
}
