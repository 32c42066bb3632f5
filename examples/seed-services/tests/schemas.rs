//! The schemas: committed files match the code, every example message passes its own schema,
//! and known-bad messages are rejected by it.

mod lab;

use std::path::PathBuf;

use contracts_core::ServiceContract;
use contracts_core::contract::schema_files;
use lab::{Contact, LabContract, RelayContract, Small, Tier};
use seed_contracts::*;
use serde::Serialize;
use serde_json::{Value, json};

fn seed_contracts() -> Vec<&'static ServiceContract> {
    vec![
        MyServiceContract::contract(),
        UserServiceContract::contract(),
        AnotherServiceContract::contract(),
        MyClientServiceContract::contract(),
        NotificationServiceContract::contract(),
    ]
}

#[test]
fn committed_schema_files_match_the_contracts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    if let Err(drift) = schema_files::check_or_bless(&dir, &seed_contracts()) {
        panic!("{drift}");
    }
}

/// Reading schema files is the exact inverse of writing them: every contract here, written
/// and read back, is the contract it was (subscriptions, docs and declared errors included),
/// and the committed `schemas/` read back are the seed contracts.
#[test]
fn schema_files_read_back_as_the_contracts_they_were_written_from() {
    let by_name = |mut contracts: Vec<ServiceContract>| {
        contracts.sort_by(|a, b| a.name.cmp(&b.name));
        contracts
    };
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let seed: Vec<ServiceContract> = seed_contracts().into_iter().cloned().collect();
    assert_eq!(
        schema_files::read(&committed).unwrap(),
        by_name(seed.clone())
    );

    let dir = std::env::temp_dir().join(format!("contracts-read-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut all = seed;
    all.extend([
        LabContract::contract().clone(),
        RelayContract::contract().clone(),
    ]);
    let written: Vec<&ServiceContract> = all.iter().collect();
    schema_files::write(&dir, &written).unwrap();
    let read = schema_files::read(&dir).unwrap();
    assert!(read.iter().any(|c| !c.subscriptions.is_empty()));
    assert_eq!(read, by_name(all));
    // A subscription whose publisher's files are missing cannot be read: its payload lives
    // there.
    std::fs::remove_dir_all(dir.join("user_service")).unwrap();
    let error = schema_files::read(&dir).unwrap_err();
    assert!(
        error.to_string().contains("user_created.event.json"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every committed `service.json` is what `service.schema.json` describes, and reads back
/// as the manifest the code writes.
#[test]
fn manifests_match_their_own_schema() {
    use contracts_core::contract::manifest::Manifest;
    use contracts_core::validate::MessageValidator;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(schema_files::MANIFEST_SCHEMA_FILE)).unwrap(),
    )
    .unwrap();
    let validator = MessageValidator::new(&schema).unwrap();
    for contract in seed_contracts() {
        let path = dir.join(&contract.name).join("service.json");
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if let Err(failures) = validator.check(&on_disk) {
            panic!("{}: {failures:?}", path.display());
        }
        assert_eq!(Manifest::read(&path).unwrap(), Manifest::of(contract));
    }
    // The schema can say no: a handler type Nameko does not know.
    let mut bad =
        serde_json::to_value(Manifest::of(NotificationServiceContract::contract())).unwrap();
    bad["subscriptions"][0]["handler_type"] = json!("fanout");
    let failures = validator.check(&bad).unwrap_err();
    assert_eq!(failures[0].pointer, "/subscriptions/0/handler_type");
}

#[test]
fn drift_is_reported_file_by_file() {
    let dir = std::env::temp_dir().join(format!("contracts-drift-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let contracts = [UserServiceContract::contract()];
    let drift = schema_files::check(&dir, &contracts).unwrap();
    assert!(
        drift
            .missing
            .contains(&PathBuf::from("user_service/service.json"))
    );
    schema_files::write(&dir, &contracts).unwrap();
    assert!(schema_files::check(&dir, &contracts).unwrap().is_empty());
    std::fs::write(dir.join("user_service/create_user.request.json"), "{}\n").unwrap();
    std::fs::write(dir.join("user_service/old.request.json"), "{}\n").unwrap();
    let drift = schema_files::check(&dir, &contracts).unwrap();
    assert_eq!(
        drift.changed,
        vec![PathBuf::from("user_service/create_user.request.json")]
    );
    assert_eq!(
        drift.stale,
        vec![PathBuf::from("user_service/old.request.json")]
    );
    let message = schema_files::verify(&dir, &contracts)
        .unwrap_err()
        .to_string();
    assert!(message.contains("CONTRACTS_BLESS=1"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("generated schemas compile")
}

fn request_schema(contract: &ServiceContract, method: &str) -> Value {
    contract.method(method).unwrap().request.schema.clone()
}

fn reply_schema(contract: &ServiceContract, method: &str) -> Value {
    contract.method(method).unwrap().reply.schema.clone()
}

fn assert_passes<T: Serialize>(schema: &Value, value: &T) {
    let json = serde_json::to_value(value).unwrap();
    let v = validator(schema);
    let errors: Vec<String> = v.iter_errors(&json).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{json} fails its own schema: {errors:?}");
}

fn assert_rejects(schema: &Value, json: Value) {
    assert!(
        !validator(schema).is_valid(&json),
        "{json} should be rejected"
    );
}

#[test]
fn constraints_on_the_types_appear_in_the_schema() {
    let schema = &request_schema(UserServiceContract::contract(), "create_user");
    let user = &schema["$defs"]["UserData"]["properties"];
    assert_eq!(user["user_id"]["minimum"], json!(1));
    assert_eq!(user["name"]["minLength"], json!(1));
    assert_eq!(user["name"]["maxLength"], json!(100));
    assert_eq!(
        schema["$schema"],
        json!("https://json-schema.org/draft/2020-12/schema")
    );
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(
        schema["description"],
        json!("Create a user; fails with `UserAlreadyExists` if the id is taken.")
    );

    let contact =
        &request_schema(LabContract::contract(), "register")["$defs"]["Contact"]["properties"];
    assert_eq!(contact["email"]["format"], json!("email"));
    assert_eq!(contact["handle"]["pattern"], json!("^[a-z]+$"));
}

#[test]
fn seed_messages_pass_their_own_schemas() {
    let users = UserServiceContract::contract();
    let ada = UserData {
        user_id: 1,
        name: "Ada".into(),
    };
    assert_passes(
        &request_schema(users, "create_user"),
        &json!({ "user_data": ada }),
    );
    let created = Created {
        status: Success::Success,
        user_id: 1,
    };
    assert_passes(&reply_schema(users, "create_user"), &created);
    let error = &users.method("create_user").unwrap().error.as_ref().unwrap();
    assert_eq!(error.exc_path, "user_service.UserError");
    assert_passes(
        &error.message.schema,
        &UserError::UserAlreadyExists { user_id: 1 },
    );
    assert_passes(
        &users.event("user_created").unwrap().payload.schema,
        &UserCreated {
            user_id: 1,
            name: "Ada".into(),
        },
    );
    let hello = MyServiceContract::contract();
    assert_passes(&request_schema(hello, "hello"), &json!({"name": "World"}));
    assert_passes(&reply_schema(hello, "hello"), &"Hello, World!");
    let another = AnotherServiceContract::contract();
    assert_passes(
        &request_schema(another, "do_something_with_hello"),
        &json!({}),
    );
    let client = MyClientServiceContract::contract();
    for outcome in [
        TryCreateOutcome::Success { data: created },
        TryCreateOutcome::Failed {
            error: "user 1 already exists".into(),
        },
    ] {
        assert_passes(&reply_schema(client, "try_create_user"), &outcome);
    }
    assert_eq!(
        serde_json::to_value(TryCreateOutcome::Failed { error: "x".into() }).unwrap(),
        json!({"status": "failed", "error": "x"})
    );
    let lab = LabContract::contract();
    assert_passes(
        &request_schema(lab, "register"),
        &json!({ "contact": Contact { email: "a@b.io".into(), handle: "ab".into(), tier: Tier::Pro } }),
    );
    assert_passes(&reply_schema(lab, "small"), &Small { value: 10 });
}

#[test]
fn known_bad_messages_are_rejected() {
    let users = UserServiceContract::contract();
    let create = request_schema(users, "create_user");
    for bad in [
        json!({}),
        json!({"user_data": {"user_id": 0, "name": "Ada"}}),
        json!({"user_data": {"user_id": 1, "name": ""}}),
        json!({"user_data": {"user_id": 1, "name": "x".repeat(101)}}),
        json!({"user_data": {"user_id": "1", "name": "Ada"}}),
        json!({"user_data": {"user_id": 1}}),
        json!({"user_data": {"user_id": 1, "name": "Ada", "admin": true}}),
        json!({"user_data": {"user_id": 1, "name": "Ada"}, "extra": 1}),
    ] {
        assert_rejects(&create, bad);
    }
    assert_rejects(
        &reply_schema(users, "create_user"),
        json!({"status": "ok", "user_id": 1}),
    );
    let outcome = reply_schema(MyClientServiceContract::contract(), "try_create_user");
    assert_rejects(&outcome, json!({"status": "maybe"}));
    assert_rejects(&outcome, json!({"status": "failed"}));
    let lab = LabContract::contract();
    let register = request_schema(lab, "register");
    assert_rejects(
        &register,
        json!({"contact": {"email": "nope", "handle": "ab", "tier": "pro"}}),
    );
    assert_rejects(
        &register,
        json!({"contact": {"email": "a@b.io", "handle": "AB", "tier": "pro"}}),
    );
    assert_rejects(
        &register,
        json!({"contact": {"email": "a@b.io", "handle": "ab", "tier": "gold"}}),
    );
    assert_rejects(&reply_schema(lab, "small"), json!({"value": 11}));
}

#[test]
fn every_subscription_names_a_published_event_and_its_schema_file() {
    let contracts = seed_contracts();
    let mut checked = 0;
    for subscriber in &contracts {
        for sub in &subscriber.subscriptions {
            let source = contracts
                .iter()
                .find(|c| c.name == sub.source)
                .unwrap_or_else(|| {
                    panic!("{} subscribes to unknown {}", subscriber.name, sub.source)
                });
            let event = source
                .events
                .iter()
                .find(|e| e.name == sub.event)
                .unwrap_or_else(|| panic!("{} publishes no {}", sub.source, sub.event));
            assert_eq!(
                event.payload, sub.payload,
                "{}.{}",
                subscriber.name, sub.method
            );
            let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../schemas")
                .join(&sub.source)
                .join(format!("{}.event.json", sub.event));
            assert!(file.exists(), "{} is missing", file.display());
            checked += 1;
        }
    }
    assert_eq!(
        checked, 1,
        "notification_service.on_user_created is recorded"
    );
}
