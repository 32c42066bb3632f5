//! Testing a service without a broker, as Nameko's testing helpers do: the service under test
//! calls a local implementation of the trait it depends on (`RpcClient::local`, Nameko's
//! `replace_dependencies`), through the whole encode, check and decode path, so a double
//! that breaks the contract fails the test; and a test waits until an event has been
//! handled (`RunningServices::waiter`, Nameko's `entrypoint_waiter`).

use std::collections::HashSet;
use std::sync::Mutex;

use contracts_core::observe::HandleOutcome;
use contracts_core::validate::Direction;
use contracts_core::{CallError, MemoryBroker, RpcClient, ServiceRunner};
use seed_contracts::{
    Created, MyClientService, Success, TryCreateOutcome, UserData, UserError, UserService,
    UserServiceClient, UserServiceServer,
};
use seed_services::ClientService;

fn user(user_id: u64, name: &str) -> UserData {
    UserData {
        user_id,
        name: name.into(),
    }
}

/// A `user_service` double: remembers ids, refuses a taken one with the declared error.
#[derive(Default)]
struct FakeUsers {
    taken: Mutex<HashSet<u64>>,
}

impl UserService for FakeUsers {
    async fn create_user(&self, user_data: UserData) -> Result<Created, UserError> {
        let user_id = user_data.user_id;
        if !self.taken.lock().unwrap().insert(user_id) {
            return Err(UserError::UserAlreadyExists { user_id });
        }
        Ok(Created {
            status: Success::Success,
            user_id,
        })
    }
}

#[tokio::test]
async fn a_service_is_tested_against_a_local_double_of_what_it_calls() {
    let users = RpcClient::local(
        "my_client_service",
        [UserServiceServer::new(FakeUsers::default())],
    );
    let service = ClientService::new(users);

    let created = service.try_create_user(user(1, "Ada")).await;
    assert!(
        matches!(&created, TryCreateOutcome::Success { data } if data.user_id == 1),
        "{created:?}"
    );
    // The double's declared error reaches the service as the typed error it decides on.
    let again = service.try_create_user(user(1, "Ada")).await;
    assert!(
        matches!(&again, TryCreateOutcome::Failed { error } if error == "user 1 already exists"),
        "{again:?}"
    );
    // What the service sends is checked on its way out, as over a broker.
    let invalid = service.try_create_user(user(0, "")).await;
    assert!(
        matches!(&invalid, TryCreateOutcome::Failed { error } if error.contains("/user_data/user_id")),
        "{invalid:?}"
    );
}

/// A double that answers what the contract forbids: a user id of 0.
struct Careless;

impl UserService for Careless {
    async fn create_user(&self, _user_data: UserData) -> Result<Created, UserError> {
        Ok(Created {
            status: Success::Success,
            user_id: 0,
        })
    }
}

#[tokio::test]
async fn a_double_that_breaks_the_contract_fails_the_call() {
    let users = UserServiceClient::new(RpcClient::local(
        "tests",
        [UserServiceServer::new(Careless)],
    ));
    match users.create_user(user(1, "Ada")).await {
        Err(CallError::Validation(rejected)) => {
            assert_eq!(rejected.direction, Direction::Reply);
            assert_eq!(rejected.failures[0].pointer, "/user_id");
        }
        other => panic!("the double's reply passed: {other:?}"),
    }
    // A service the local client does not hold is unknown, as an unbound one over a broker.
    let other = contracts_core::RpcClient::local("tests", [UserServiceServer::new(Careless)]);
    let unknown = other.call("nobody", "m", vec![], Default::default()).await;
    assert!(matches!(unknown, Err(CallError::UnknownService(ref s)) if s == "nobody"));
}

#[tokio::test]
async fn a_test_waits_until_an_event_was_handled() {
    let broker = MemoryBroker::shared();
    let seed = seed_services::start(ServiceRunner::new(broker.clone()))
        .await
        .unwrap();
    let mut welcomed = seed
        .running
        .waiter("notification_service", "on_user_created")
        .expect("notification_service handles user_created");
    assert!(
        seed.running
            .waiter("notification_service", "nope")
            .is_none()
    );
    let users = UserServiceClient::new(RpcClient::connect(broker, "tests").await.unwrap());
    users.create_user(user(7, "Ada")).await.unwrap();
    assert_eq!(welcomed.wait().await, Some(HandleOutcome::Handled));
    // The handler had run when the wait ended: nothing else to wait for.
    assert_eq!(
        seed.welcomes.all(),
        vec![seed_contracts::UserCreated {
            user_id: 7,
            name: "Ada".into()
        }]
    );
    seed.running.stop().await;
}

/// JSON Schema counts `5.0` as an integer, so the service does too, whether its arguments
/// come by name (decoded as read) or by position (decoded from values); `5.5` is refused by
/// the schema and the service alike.
#[tokio::test]
async fn a_whole_number_written_with_a_fraction_is_an_integer_to_every_check() {
    use serde_json::json;
    let rpc = RpcClient::local("tests", [UserServiceServer::new(FakeUsers::default())]);
    let schema = &seed_contracts::UserServiceContract::contract()
        .method("create_user")
        .unwrap()
        .request
        .schema;
    let validator = contracts_core::validate::MessageValidator::new(schema).unwrap();
    for (user_id, id) in [(json!(5.0), 5), (json!(6e0), 6)] {
        let user_data = json!({"user_id": user_id, "name": "Ada"});
        let request = json!({ "user_data": user_data });
        assert!(validator.check(&request).is_ok(), "{request}");
        let Some(kwargs) = request.as_object().cloned() else {
            unreachable!()
        };
        let by_name = rpc
            .call("user_service", "create_user", vec![], kwargs)
            .await;
        assert_eq!(
            by_name.unwrap(),
            json!({"status": "success", "user_id": id})
        );
    }
    let user_data = json!({"user_id": 7.000, "name": "Ada"});
    let by_position = rpc
        .call(
            "user_service",
            "create_user",
            vec![user_data],
            Default::default(),
        )
        .await;
    assert_eq!(
        by_position.unwrap(),
        json!({"status": "success", "user_id": 7})
    );

    let fraction = json!({"user_data": {"user_id": 5.5, "name": "Ada"}});
    assert!(validator.check(&fraction).is_err());
    let Some(kwargs) = fraction.as_object().cloned() else {
        unreachable!()
    };
    match rpc
        .call("user_service", "create_user", vec![], kwargs)
        .await
    {
        Err(CallError::Validation(e)) => {
            assert_eq!(e.direction, Direction::Request);
            assert_eq!(e.failures[0].pointer, "/user_data/user_id");
        }
        other => panic!("expected the request refused, got {other:?}"),
    }
}
