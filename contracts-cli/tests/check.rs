//! `contracts check` on whole contracts, written by the macro and read back from schema files
//! as a user's CI does: removed methods, reordered parameters and removed trailing parameters
//! break callers (Nameko callers pass arguments by position or by name, and the server refuses
//! arguments it does not know).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use contracts_cli::catalog::Catalog;
use contracts_cli::check::{Finding, check};
use contracts_core::ServiceContract;
use contracts_core::contract::schema_files;

mod v1 {
    #[contracts_core::service(name = "greeter")]
    pub trait Greeter {
        async fn greet(&self, name: String, greeting: String) -> String;
        async fn retired(&self) -> u32;
    }
}

mod reordered {
    #[contracts_core::service(name = "greeter")]
    pub trait Greeter {
        async fn greet(&self, greeting: String, name: String) -> String;
        async fn retired(&self) -> u32;
    }
}

mod trimmed {
    #[contracts_core::service(name = "greeter")]
    pub trait Greeter {
        async fn greet(&self, name: String) -> String;
        async fn retired(&self) -> u32;
    }
}

mod without_retired {
    #[contracts_core::service(name = "greeter")]
    pub trait Greeter {
        async fn greet(&self, name: String, greeting: String) -> String;
    }
}

/// The contract as `contracts check` sees it: written to files, read back.
fn catalog(label: &str, contract: &ServiceContract) -> Catalog {
    // Tests run in parallel: every call gets its own directory.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "contracts-check-{label}-{}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    schema_files::write(&dir, &[contract]).unwrap();
    let catalog = Catalog::load(&dir).unwrap();
    std::fs::remove_dir_all(PathBuf::from(&dir)).unwrap();
    // What the tool reads is the contract that was written, exactly.
    assert_eq!(catalog.services[&contract.name], *contract);
    catalog
}

fn breaking(findings: &[Finding]) -> Vec<(String, String, String)> {
    findings
        .iter()
        .filter(|f| f.change.breaking)
        .map(|f| (f.item.clone(), f.change.at.clone(), f.change.what.clone()))
        .collect()
}

#[test]
fn a_removed_method_breaks() {
    let old = catalog("v1", v1::GreeterContract::contract());
    let new = catalog("without", without_retired::GreeterContract::contract());
    let found = breaking(&check(&old, &new));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "greeter.retired");
    assert_eq!(found[0].2, "method removed");
}

#[test]
fn reordered_parameters_break_positional_callers() {
    let old = catalog("v1", v1::GreeterContract::contract());
    let new = catalog("reordered", reordered::GreeterContract::contract());
    let found = breaking(&check(&old, &new));
    assert_eq!(found.len(), 1, "{found:?}");
    let (item, _, what) = &found[0];
    assert_eq!(item, "greeter.greet");
    assert!(
        what.contains("[\"name\", \"greeting\"]")
            && what.contains("[\"greeting\", \"name\"]")
            && what.contains("positional callers bind differently"),
        "{what}"
    );
}

#[test]
fn a_removed_trailing_parameter_breaks_callers_still_sending_it() {
    let old = catalog("v1", v1::GreeterContract::contract());
    let new = catalog("trimmed", trimmed::GreeterContract::contract());
    let findings = check(&old, &new);
    let found = breaking(&findings);
    assert_eq!(found.len(), 1, "{findings:?}");
    let (item, at, what) = &found[0];
    assert_eq!((item.as_str(), at.as_str()), ("greeter.greet", "/greeting"));
    assert!(what.contains("unknown properties are denied"), "{what}");
    // The parameter list change itself is listed, as a non-breaking note: positions of the
    // parameters that remain did not move.
    assert!(
        findings
            .iter()
            .any(|f| !f.change.breaking && f.change.what.starts_with("parameters changed")),
        "{findings:?}"
    );
}

#[test]
fn an_unchanged_contract_has_no_findings() {
    let old = catalog("v1a", v1::GreeterContract::contract());
    let new = catalog("v1b", v1::GreeterContract::contract());
    assert!(check(&old, &new).is_empty());
}
