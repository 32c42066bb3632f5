//! The services of the seed article (Nameko's "my_service", "user_service", …) as contracts.
//!
//! This is the crate a team shares: services implement these traits, callers use the generated
//! clients, and both validate every message against the same schemas.

use std::fmt;

use contracts_core::prelude::*;

/// The article's first service.
#[service(name = "my_service")]
pub trait MyService {
    /// Greet someone: `hello("World")` is `"Hello, World!"`.
    async fn hello(&self, name: String) -> String;
}

/// A user to create, checked on both sides (the article validates it with Pydantic).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserData {
    /// The user's id: 1 or more.
    #[schemars(range(min = 1))]
    pub user_id: u64,
    /// Display name, 1 to 100 characters.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
}

/// Always `"success"` in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Success {
    /// The call succeeded.
    Success,
}

/// `{"status": "success", "user_id": <id>}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Created {
    /// Always `"success"`.
    pub status: Success,
    /// The id of the new user.
    #[schemars(range(min = 1))]
    pub user_id: u64,
}

/// Why `create_user` refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UserError {
    /// A user with this id exists already.
    UserAlreadyExists {
        /// The id asked for.
        user_id: u64,
    },
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserAlreadyExists { user_id } => write!(f, "user {user_id} already exists"),
        }
    }
}

/// Published once a user exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserCreated {
    /// The new user's id.
    #[schemars(range(min = 1))]
    pub user_id: u64,
    /// The new user's name.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
}

/// Users, with an event on each creation.
#[service(name = "user_service")]
pub trait UserService {
    /// Create a user; fails with `UserAlreadyExists` if the id is taken.
    async fn create_user(&self, user_data: UserData) -> Result<Created, UserError>;

    /// Published after a user is created.
    #[event]
    fn user_created(event: UserCreated);
}

/// A call this service depends on failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DependencyFailed {
    /// The service that failed.
    pub service: String,
    /// What it said.
    pub message: String,
}

impl fmt::Display for DependencyFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.service, self.message)
    }
}

/// Calls `my_service` from inside a handler.
#[service(name = "another_service", calls(MyServiceContract))]
pub trait AnotherService {
    /// Returns `my_service.hello("Alice")`.
    async fn do_something_with_hello(&self) -> Result<String, DependencyFailed>;
}

/// What `try_create_user` reports: `{"status": "success", "data": ...}` or
/// `{"status": "failed", "error": "<message>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TryCreateOutcome {
    /// `user_service` created the user.
    Success {
        /// Its reply.
        data: Created,
    },
    /// The remote call failed; the error as text.
    Failed {
        /// The error message.
        error: String,
    },
}

/// Catches remote failures and decides by their type (the article's `RemoteError` example).
#[service(name = "my_client_service", calls(UserServiceContract))]
pub trait MyClientService {
    /// Create a user through `user_service`, reporting failure instead of raising it.
    async fn try_create_user(&self, user_data: UserData) -> TryCreateOutcome;
}

/// Reacts to `user_service`'s events (the article's notification service).
#[service(name = "notification_service")]
pub trait NotificationService {
    /// Welcome a new user, once: an event can be delivered more than once, so the handler
    /// must be idempotent.
    #[handles(UserServiceContract::user_created)]
    async fn on_user_created(&self, event: UserCreated);
}
