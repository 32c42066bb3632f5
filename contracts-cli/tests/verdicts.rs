//! One verdict per message: the schema is the contract, so a payload it accepts is accepted by
//! every check and decoder we generate, and one it refuses is refused by all.
//!
//! hypothesis-jsonschema draws valid payloads from every message schema of the repository's
//! contracts (the seed services, whose schema files are `schemas/`) and of `shapes`, a contract
//! written for this test with the shapes users write; each is then mutated (whole floats,
//! fractions, unknown and missing fields, wrong types, strings and numbers past their bounds).
//! Every payload is judged by the schema itself (Python's jsonschema, an implementation
//! independent of ours), the generated Pydantic model, our validator, and the Rust decoders:
//! a request goes through a real generated server (binding, validation and decoding, as a call
//! arrives), a reply, declared error or event through both decoders the runtime reads them
//! with (from a `Value`, and from a view of the JSON text) after the validator. All must agree
//! with the schema.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use contracts_cli::catalog::Catalog;
use contracts_core::validate::{self, View};
use contracts_core::{CallError, CompiledService, RpcClient, ServiceContract};
use contracts_testkit::nameko::NAMEKO2;
use seed_contracts::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How many valid payloads hypothesis draws per message, before mutating each.
const EXAMPLES: usize = 60;

mod shapes {
    //! Every shape of type the contracts in the wild are made of.

    use std::collections::BTreeMap;
    use std::fmt;

    use contracts_core::prelude::*;
    /// A closed struct with bounds and a pattern.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Address {
        #[schemars(length(min = 1, max = 40))]
        pub(crate) street: String,
        #[schemars(regex(pattern = r"^[0-9]{5}$"))]
        pub(crate) zip: String,
    }

    /// A unit-only enum, renamed.
    #[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    pub(crate) enum Tier {
        #[default]
        Basic,
        PremiumPlus,
    }

    /// An externally tagged enum with unit, newtype, tuple-free struct variants.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub(crate) enum Shape {
        Point,
        Square(u32),
        Circle {
            #[schemars(range(min = 0.0))]
            radius: f64,
        },
    }

    /// Why a stop happened: the payload of a newtype variant.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Reason {
        pub(crate) code: u16,
        pub(crate) detail: Option<String>,
    }

    /// An internally tagged enum with struct, newtype and unit variants.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub(crate) enum Change {
        Started { at: u64 },
        Stopped(Reason),
        Paused,
    }

    /// An open struct (unknown fields allowed), camelCase, with defaults.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Names {
        pub(crate) first_name: String,
        pub(crate) last_name: Option<String>,
        #[serde(default)]
        pub(crate) nick_names: Vec<String>,
        #[serde(default)]
        pub(crate) preferred: Tier,
    }

    /// Everything at once, nested.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Profile {
        #[schemars(range(min = 1, max = 1000))]
        pub(crate) id: u32,
        pub(crate) small: u8,
        pub(crate) signed: i16,
        pub(crate) big: i64,
        #[schemars(range(min = -5.5, max = 99.5))]
        pub(crate) ratio: f64,
        pub(crate) names: Names,
        pub(crate) address: Option<Address>,
        #[schemars(length(max = 4))]
        pub(crate) tags: Vec<String>,
        pub(crate) scores: BTreeMap<String, i32>,
        pub(crate) tier: Tier,
        pub(crate) shapes: Vec<Shape>,
        pub(crate) last_change: Change,
        #[serde(default)]
        pub(crate) active: bool,
        #[schemars(regex(pattern = r"^[a-z]+$"))]
        pub(crate) code: String,
    }

    /// A declared error with data.
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub(crate) enum ShapeError {
        Full { capacity: u32 },
        Refused(String),
    }

    impl fmt::Display for ShapeError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    /// A service whose messages are these shapes.
    #[service(name = "shapes")]
    pub(crate) trait Shapes {
        /// Store a profile.
        async fn store(
            &self,
            profile: Profile,
            names: Names,
            limit: Option<u16>,
        ) -> Result<Tier, ShapeError>;

        /// List shapes of some tiers.
        async fn list(
            &self,
            tiers: Vec<Tier>,
            #[schemars(range(min = 1, max = 50))] page: u32,
            filter: BTreeMap<String, Shape>,
        ) -> Vec<Shape>;

        /// A change happened.
        #[event]
        fn changed(event: Change);

        /// A profile was stored.
        #[event]
        fn profiled(event: Profile);
    }

    /// Answers every request it is given with a fixed value: what this test judges is whether
    /// a request gets to it.
    pub(crate) struct Fixed;

    impl Shapes for Fixed {
        async fn store(
            &self,
            _profile: Profile,
            _names: Names,
            _limit: Option<u16>,
        ) -> Result<Tier, ShapeError> {
            Ok(Tier::Basic)
        }

        async fn list(
            &self,
            _tiers: Vec<Tier>,
            _page: u32,
            _filter: BTreeMap<String, Shape>,
        ) -> Vec<Shape> {
            vec![Shape::Point]
        }
    }
}

/// The seed services, answering with fixed values.
struct Fixed;

impl MyService for Fixed {
    async fn hello(&self, _name: String) -> String {
        "hello".to_owned()
    }
}

impl UserService for Fixed {
    async fn create_user(&self, _user_data: UserData) -> Result<Created, UserError> {
        Ok(Created {
            status: Success::Success,
            user_id: 1,
        })
    }
}

impl AnotherService for Fixed {
    async fn do_something_with_hello(&self) -> Result<String, DependencyFailed> {
        Ok("hello".to_owned())
    }
}

impl MyClientService for Fixed {
    async fn try_create_user(&self, _user_data: UserData) -> TryCreateOutcome {
        TryCreateOutcome::Failed {
            error: "fixed".to_owned(),
        }
    }
}

/// A reader of one message type: both decoders the runtime uses, after the validator.
type Decoder = fn(&Value) -> Result<(), String>;

fn decoder<T: DeserializeOwned>() -> Decoder {
    fn read<T: DeserializeOwned>(value: &Value) -> Result<(), String> {
        validate::decode::<T>(value).map_err(|f| format!("from a Value: {f:?}"))?;
        let text = serde_json::to_vec(value).unwrap();
        let view = View::parse(&text).map_err(|e| format!("view: {e}"))?;
        validate::decode_view::<T>(&view).map_err(|f| format!("from a view: {f:?}"))?;
        Ok(())
    }
    read::<T>
}

/// The Rust type of every reply, declared error and event, by (service, kind, name).
fn decoders() -> HashMap<(&'static str, &'static str, &'static str), Decoder> {
    HashMap::from([
        (("my_service", "REPLIES", "hello"), decoder::<String>()),
        (
            ("user_service", "REPLIES", "create_user"),
            decoder::<Created>(),
        ),
        (
            ("user_service", "ERRORS", "create_user"),
            decoder::<UserError>(),
        ),
        (
            ("user_service", "EVENTS", "user_created"),
            decoder::<UserCreated>(),
        ),
        (
            ("another_service", "REPLIES", "do_something_with_hello"),
            decoder::<String>(),
        ),
        (
            ("another_service", "ERRORS", "do_something_with_hello"),
            decoder::<DependencyFailed>(),
        ),
        (
            ("my_client_service", "REPLIES", "try_create_user"),
            decoder::<TryCreateOutcome>(),
        ),
        (("shapes", "REPLIES", "store"), decoder::<shapes::Tier>()),
        (
            ("shapes", "ERRORS", "store"),
            decoder::<shapes::ShapeError>(),
        ),
        (
            ("shapes", "REPLIES", "list"),
            decoder::<Vec<shapes::Shape>>(),
        ),
        (("shapes", "EVENTS", "changed"), decoder::<shapes::Change>()),
        (
            ("shapes", "EVENTS", "profiled"),
            decoder::<shapes::Profile>(),
        ),
    ])
}

fn contracts() -> Vec<ServiceContract> {
    vec![
        MyServiceContract::contract().clone(),
        UserServiceContract::contract().clone(),
        AnotherServiceContract::contract().clone(),
        MyClientServiceContract::contract().clone(),
        NotificationServiceContract::contract().clone(),
        shapes::ShapesContract::contract().clone(),
    ]
}

/// A message of one service, as the Python script takes it.
struct Message {
    service: String,
    kind: &'static str,
    name: String,
    schema: Value,
}

fn messages(contracts: &[ServiceContract]) -> Vec<Message> {
    let mut out = Vec::new();
    for contract in contracts {
        let message = |kind, name: &str, schema: &Value| Message {
            service: contract.name.clone(),
            kind,
            name: name.to_owned(),
            schema: schema.clone(),
        };
        for method in &contract.methods {
            out.push(message("REQUESTS", &method.name, &method.request.schema));
            out.push(message("REPLIES", &method.name, &method.reply.schema));
            if let Some(error) = &method.error {
                out.push(message("ERRORS", &method.name, &error.message.schema));
            }
        }
        for event in &contract.events {
            out.push(message("EVENTS", &event.name, &event.payload.schema));
        }
    }
    out
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// One judged payload, from the script.
#[derive(serde::Deserialize)]
struct Case {
    message: usize,
    payload: Value,
    schema: bool,
    pydantic: bool,
}

fn judged_in_python(contracts: &[ServiceContract], messages: &[Message]) -> Vec<Case> {
    let dir = std::env::temp_dir().join(format!("contracts-verdicts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let catalog = Catalog::of(contracts.iter().cloned());
    for (path, text) in contracts_cli::python::package(&catalog, "verdicts") {
        let to = dir.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, text).unwrap();
    }
    let listed: Vec<Value> = messages
        .iter()
        .map(|m| json!({"service": m.service, "kind": m.kind, "name": m.name, "schema": m.schema}))
        .collect();
    let messages_file = dir.join("messages.json");
    std::fs::write(&messages_file, serde_json::to_vec(&listed).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/verdicts.py");
    let out = Command::new(NAMEKO2.python())
        .arg(&script)
        .arg(&dir)
        .arg("verdicts")
        .arg(&messages_file)
        .arg(EXAMPLES.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Hypothesis keeps a folder where it runs.
        .current_dir(&dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "verdicts.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases = serde_json::from_slice(&out.stdout).expect("verdicts.py prints JSON");
    // The package these verdicts came from is one a team can type-check.
    let mypy = Command::new(NAMEKO2.python())
        .args(["-m", "mypy", "--strict", "--no-incremental", "--cache-dir"])
        .arg(dir.join("mypy-cache"))
        .arg(dir.join("verdicts"))
        .env("MYPYPATH", &dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&dir)
        .output()
        .expect("mypy runs");
    assert!(
        mypy.status.success(),
        "mypy --strict on the generated package:\n{}{}",
        String::from_utf8_lossy(&mypy.stdout),
        String::from_utf8_lossy(&mypy.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    cases
}

/// The verdict of a real generated server on a request: bound, validated and decoded as a
/// call arriving over the broker is.
async fn served(rpc: &RpcClient, message: &Message, payload: &Value) -> Option<bool> {
    // A call's arguments travel as an object; anything else cannot be sent as one.
    let Value::Object(kwargs) = payload else {
        return None;
    };
    let reply = rpc
        .call(&message.service, &message.name, Vec::new(), kwargs.clone())
        .await;
    Some(match reply {
        Ok(_) => true,
        Err(CallError::Validation(e)) if e.direction == validate::Direction::Request => false,
        Err(CallError::Remote(e))
            if [
                contracts_core::wire::INCORRECT_SIGNATURE,
                contracts_core::wire::MALFORMED_REQUEST,
            ]
            .contains(&e.exc_path.as_deref().unwrap_or_default()) =>
        {
            false
        }
        Err(other) => panic!(
            "{}.{} answered {payload} with {other}",
            message.service, message.name
        ),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_check_and_decoder_agrees_with_the_schema() {
    let contracts = contracts();
    // Every schema in the repository: the committed schema files are these contracts'.
    let committed = Catalog::load(&workspace().join("schemas")).unwrap();
    for (name, contract) in &committed.services {
        assert!(
            contracts.contains(contract),
            "schemas/{name} is not among this test's contracts: add its contract to `contracts()`"
        );
    }
    let messages = messages(&contracts);
    let compiled: BTreeMap<String, CompiledService> = contracts
        .iter()
        .map(|c| (c.name.clone(), CompiledService::compile(c.clone())))
        .collect();
    let cases = judged_in_python(&contracts, &messages);
    let decoders = decoders();

    let mut disagreements = Vec::new();
    let mut counted: BTreeMap<(String, &str, String), (usize, usize)> = BTreeMap::new();
    let servers = servers();
    for case in &cases {
        let message = &messages[case.message];
        let label = format!("{}.{} ({})", message.service, message.name, message.kind);
        let tally = counted
            .entry((message.service.clone(), message.kind, message.name.clone()))
            .or_default();
        if case.schema {
            tally.0 += 1;
        } else {
            tally.1 += 1;
        }
        let mut disagree = |who: &str, verdict: bool, why: String| {
            if verdict != case.schema {
                disagreements.push(format!(
                    "{label}: the schema says {}, {who} says {verdict}{why} for {}",
                    case.schema, case.payload
                ));
            }
        };
        disagree("Pydantic", case.pydantic, String::new());
        let service = &compiled[&message.service];
        let validator = match message.kind {
            "REQUESTS" => service.method_by_name(&message.name).unwrap().request(),
            "REPLIES" => service.method_by_name(&message.name).unwrap().reply(),
            "ERRORS" => {
                service
                    .method_by_name(&message.name)
                    .unwrap()
                    .error()
                    .unwrap()
                    .0
            }
            _ => service.event_by_name(&message.name).unwrap().payload(),
        };
        let checked = validator.check(&case.payload);
        disagree(
            "our validator",
            checked.is_ok(),
            checked.err().map_or(String::new(), |f| format!(" ({f:?})")),
        );
        if message.kind == "REQUESTS" {
            let rpc = &servers[message.service.as_str()];
            if let Some(verdict) = served(rpc, message, &case.payload).await {
                disagree("the generated server", verdict, String::new());
            }
        } else {
            let decode = decoders
                .get(&(
                    message.service.as_str(),
                    message.kind,
                    message.name.as_str(),
                ))
                .unwrap_or_else(|| panic!("no Rust type listed for {label}"));
            let read = validator
                .check(&case.payload)
                .map_err(|f| format!("{f:?}"))
                .and_then(|()| decode(&case.payload));
            disagree(
                "the Rust decoders",
                read.is_ok(),
                read.err().map_or(String::new(), |e| format!(" ({e})")),
            );
        }
    }
    let report = std::env::temp_dir().join("contracts-verdicts.txt");
    std::fs::write(&report, disagreements.join("\n")).unwrap();
    let shown: Vec<String> = disagreements
        .iter()
        .take(30)
        .map(|line| line.chars().take(400).collect())
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} payloads judged differently (all of them in {}):\n{}",
        disagreements.len(),
        cases.len(),
        report.display(),
        shown.join("\n")
    );
    // The test judged something on both sides of every message's schema.
    assert_eq!(counted.len(), messages.len(), "{counted:?}");
    for (message, (valid, invalid)) in &counted {
        assert!(
            *valid >= 1 && *invalid >= 1,
            "{message:?}: {valid} valid and {invalid} invalid payloads"
        );
    }
    eprintln!("{} payloads, one verdict each: {counted:?}", cases.len());
}

/// A local client of each service above, served by its generated server.
fn servers() -> HashMap<&'static str, RpcClient> {
    HashMap::from([
        (
            "my_service",
            RpcClient::local("verdicts", [MyServiceServer::new(Fixed)]),
        ),
        (
            "user_service",
            RpcClient::local("verdicts", [UserServiceServer::new(Fixed)]),
        ),
        (
            "another_service",
            RpcClient::local("verdicts", [AnotherServiceServer::new(Fixed)]),
        ),
        (
            "my_client_service",
            RpcClient::local("verdicts", [MyClientServiceServer::new(Fixed)]),
        ),
        (
            "shapes",
            RpcClient::local("verdicts", [shapes::ShapesServer::new(shapes::Fixed)]),
        ),
    ])
}
