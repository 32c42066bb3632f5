//! What `#[service]` carries from the trait into the contract: docs, argument attributes,
//! `#[cfg]`, raw identifiers, and the shapes of returns.

use contracts_core::service;

/// A service for checking the macro.
#[service(name = "macro_probe")]
pub trait Probe {
    /// Says hello.
    ///
    /// Second paragraph.
    async fn hello(
        &self,
        /// Who to greet.
        name: String,
        #[schemars(range(max = 5))] repeat: Option<u8>,
    ) -> String;

    /// Compiled out: not part of the contract.
    #[cfg(any())]
    async fn gone(&self) -> String;

    /// A method named with a keyword.
    async fn r#type(&self) -> u32;

    /// Returns nothing.
    async fn ping(&self);

    /// Fails with a declared error.
    async fn checked(&self) -> Result<u32, String>;

    /// An event.
    #[event]
    fn happened(payload: String);
}

#[test]
fn the_contract_follows_the_trait() {
    let contract = ProbeContract::contract();
    assert_eq!(contract.name, "macro_probe");
    assert_eq!(
        contract.doc.as_deref(),
        Some("A service for checking the macro.")
    );
    let names: Vec<&str> = contract.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["hello", "type", "ping", "checked"],
        "cfg'd-out methods are left out"
    );

    let hello = contract.method("hello").unwrap();
    assert_eq!(
        hello.doc.as_deref(),
        Some("Says hello.\n\nSecond paragraph.")
    );
    assert_eq!(hello.params, ["name", "repeat"]);
    let request = &hello.request.schema;
    assert_eq!(request["title"], "HelloRequest");
    assert_eq!(
        request["properties"]["name"]["description"],
        "Who to greet."
    );
    assert_eq!(
        request["properties"]["repeat"]["maximum"], 5,
        "constraints apply: {request}"
    );
    assert_eq!(request["required"], serde_json::json!(["name"]));
    assert_eq!(hello.reply.schema["type"], "string");
    assert!(hello.error.is_none());

    assert_eq!(
        contract.method("ping").unwrap().reply.schema["type"],
        "null"
    );
    let checked = contract.method("checked").unwrap();
    assert_eq!(
        checked.error.as_ref().unwrap().exc_path,
        "macro_probe.String"
    );

    assert_eq!(contract.events[0].name, "happened");
    assert_eq!(contract.events[0].doc.as_deref(), Some("An event."));
    assert_eq!(ProbeContract::happened().name(), "happened");
    assert_eq!(ProbeContract::happened().source(), "macro_probe");
}

/// Handles the probe's event three ways.
#[service(name = "macro_listener")]
pub trait Listener {
    /// The default: a service pool.
    #[handles(ProbeContract::happened)]
    async fn on_pool(&self, payload: String);

    /// Once in the whole cluster; may fail.
    #[handles(ProbeContract::happened, handler_type = "singleton")]
    async fn on_singleton(&self, payload: String) -> Result<(), String>;

    /// Every instance, with a queue that goes with it.
    #[handles(
        ProbeContract::happened,
        handler_type = "broadcast",
        reliable_delivery = false
    )]
    async fn on_broadcast(&self, payload: String);

    /// Compiled out: no subscription.
    #[cfg(any())]
    #[handles(ProbeContract::happened)]
    async fn on_gone(&self, payload: String);
}

#[test]
fn handlers_are_recorded_as_subscriptions() {
    let contract = ListenerContract::contract();
    assert!(contract.methods.is_empty(), "handlers are not RPC methods");
    let seen: Vec<(&str, &str, &str, bool)> = contract
        .subscriptions
        .iter()
        .map(|s| {
            assert_eq!(
                (s.source.as_str(), s.event.as_str()),
                ("macro_probe", "happened")
            );
            assert_eq!(s.payload.schema["type"], "string");
            (
                s.method.as_str(),
                s.handler_type.as_str(),
                s.queue.as_str(),
                s.reliable_delivery,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "on_pool",
                "service_pool",
                "evt-macro_probe-happened--macro_listener.on_pool",
                true
            ),
            (
                "on_singleton",
                "singleton",
                "evt-macro_probe-happened",
                true
            ),
            (
                "on_broadcast",
                "broadcast",
                "evt-macro_probe-happened--macro_listener.on_broadcast-{broadcast_identifier}",
                false
            ),
        ]
    );
}

struct Recording(tokio::sync::mpsc::UnboundedSender<&'static str>);

impl Listener for Recording {
    async fn on_pool(&self, _: String) {
        self.0.send("pool").unwrap();
    }

    async fn on_singleton(&self, payload: String) -> Result<(), String> {
        self.0.send("singleton").map_err(|_| payload)
    }

    async fn on_broadcast(&self, _: String) {
        self.0.send("broadcast").unwrap();
    }
}

#[tokio::test]
async fn serving_a_service_subscribes_its_handlers() {
    use contracts_core::{MemoryBroker, ServiceRunner};
    let broker = MemoryBroker::shared();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let running = ServiceRunner::new(broker.clone())
        .serve(ListenerServer::new(Recording(tx)))
        .start()
        .await
        .unwrap();
    assert_eq!(
        broker.consumer_count("rpc-macro_listener"),
        None,
        "no RPC queue"
    );
    ProbePublisher::new(broker.clone())
        .happened(&"x".to_owned())
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(rx.recv().await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, ["broadcast", "pool", "singleton"]);
    running.stop().await;
}

/// Calls the probe and the listener.
#[service(name = "macro_caller", calls(ProbeContract, ListenerContract))]
pub trait Caller {
    /// Does it.
    async fn work(&self);
}

#[test]
fn called_services_are_recorded() {
    assert_eq!(CallerContract::NAME, "macro_caller");
    assert_eq!(
        CallerContract::contract().calls,
        ["macro_probe", "macro_listener"]
    );
    assert!(ProbeContract::contract().calls.is_empty());
}

/// A service with a secret argument.
#[service(name = "secret_probe")]
pub trait Secret {
    /// Logs in.
    async fn login(&self, user: String, #[sensitive] password: String) -> bool;
}

#[test]
fn sensitive_arguments_are_marked_in_the_schema() {
    let contract = SecretContract::contract();
    let login = contract.method("login").unwrap();
    assert_eq!(login.params, ["user", "password"]);
    let request = &login.request.schema;
    assert_eq!(request["properties"]["password"]["x-sensitive"], true);
    assert_eq!(request["properties"]["password"]["type"], "string");
    assert!(request["properties"]["user"].get("x-sensitive").is_none());
}

/// What the macro records survives the schema files: written and read back, each contract is
/// the one it was (the three handler types and `reliable_delivery` of the listener, the calls
/// of the caller, the sensitive fields of the secret probe).
#[test]
fn contracts_read_back_from_their_schema_files_unchanged() {
    let contracts = [
        ProbeContract::contract(),
        ListenerContract::contract(),
        CallerContract::contract(),
        SecretContract::contract(),
    ];
    let dir = std::env::temp_dir().join(format!("contracts-macro-read-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    contracts_core::contract::schema_files::write(&dir, &contracts).unwrap();
    let mut read = contracts_core::contract::schema_files::read(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let mut expected: Vec<_> = contracts.into_iter().cloned().collect();
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    read.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(read, expected);
}
