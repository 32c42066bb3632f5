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
