//! Schema files under `schemas/<service>/`: written from contracts, never by hand, and
//! checked for drift in tests.
//!
//! Layout per service: `service.json` (the manifest: methods, parameters, events and which
//! file holds each message's schema), `<method>.request.json`, `<method>.reply.json`,
//! `<method>.error.json` (when the method declares an error) and `<event>.event.json`.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::contract::ServiceContract;

/// The environment variable that makes [`check_or_bless`] rewrite the files.
pub const BLESS_ENV: &str = "CONTRACTS_BLESS";

/// Every file of `contract`, keyed by its path relative to the schemas directory.
pub fn render(contract: &ServiceContract) -> BTreeMap<PathBuf, String> {
    let dir = PathBuf::from(&contract.name);
    let mut files = BTreeMap::new();
    let mut put = |name: String, value: &Value| {
        let mut text = serde_json::to_string_pretty(value).expect("JSON values always encode");
        text.push('\n');
        files.insert(dir.join(&name), text);
        name
    };
    let methods: Vec<Value> = contract
        .methods
        .iter()
        .map(|m| {
            let request = put(format!("{}.request.json", m.name), &m.request.schema);
            let reply = put(format!("{}.reply.json", m.name), &m.reply.schema);
            let error = m.error.as_ref().map(|e| {
                let file = put(format!("{}.error.json", m.name), &e.message.schema);
                json!({ "exc_path": e.exc_path, "type": e.message.type_name, "schema": file })
            });
            json!({
                "name": m.name,
                "doc": m.doc,
                "params": m.params,
                "request": { "type": m.request.type_name, "schema": request },
                "reply": { "type": m.reply.type_name, "schema": reply },
                "error": error,
            })
        })
        .collect();
    let events: Vec<Value> = contract
        .events
        .iter()
        .map(|e| {
            let payload = put(format!("{}.event.json", e.name), &e.payload.schema);
            json!({
                "name": e.name,
                "doc": e.doc,
                "payload": { "type": e.payload.type_name, "schema": payload },
            })
        })
        .collect();
    // A subscription points at the publisher's event file rather than copying its schema:
    // one schema per message, whoever reads it.
    let subscriptions: Vec<Value> = contract
        .subscriptions
        .iter()
        .map(|s| {
            json!({
                "source": s.source,
                "event": s.event,
                "method": s.method,
                "handler_type": s.handler_type,
                "queue": s.queue,
                "reliable_delivery": s.reliable_delivery,
                "payload": {
                    "type": s.payload.type_name,
                    "schema": format!("../{}/{}.event.json", s.source, s.event),
                },
            })
        })
        .collect();
    let mut manifest = json!({
        "name": contract.name,
        "doc": contract.doc,
        // A service that only handles events has no RPC queue, as in Nameko.
        "rpc": (!contract.methods.is_empty()).then(|| json!({
            "exchange": crate::wire::RPC_EXCHANGE,
            "queue": format!("rpc-{}", contract.name),
        })),
        "events_exchange": format!("{}.events", contract.name),
        "methods": methods,
        "events": events,
    });
    if !subscriptions.is_empty() {
        manifest["subscriptions"] = Value::Array(subscriptions);
    }
    if !contract.calls.is_empty() {
        manifest["calls"] = json!(contract.calls);
    }
    put("service.json".to_owned(), &manifest);
    files
}

/// Write every contract's files under `dir`, removing files of those services that are no
/// longer generated.
pub fn write(dir: &Path, contracts: &[&ServiceContract]) -> io::Result<()> {
    for contract in contracts {
        let files = render(contract);
        let service_dir = dir.join(&contract.name);
        std::fs::create_dir_all(&service_dir)?;
        for stale in existing(&service_dir)? {
            if !files.contains_key(&PathBuf::from(&contract.name).join(&stale)) {
                std::fs::remove_file(service_dir.join(stale))?;
            }
        }
        for (path, text) in files {
            std::fs::write(dir.join(path), text)?;
        }
    }
    Ok(())
}

fn existing(service_dir: &Path) -> io::Result<Vec<String>> {
    if !service_dir.exists() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(service_dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

/// How the files on disk differ from what the contracts generate.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// Generated but not on disk.
    pub missing: Vec<PathBuf>,
    /// On disk with other content.
    pub changed: Vec<PathBuf>,
    /// On disk but no longer generated.
    pub stale: Vec<PathBuf>,
}

impl Drift {
    /// No difference.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.changed.is_empty() && self.stale.is_empty()
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (label, paths) in [
            ("missing", &self.missing),
            ("changed", &self.changed),
            ("stale", &self.stale),
        ] {
            for path in paths {
                writeln!(f, "  {label}: {}", path.display())?;
            }
        }
        Ok(())
    }
}

/// Compare the files under `dir` with what `contracts` generate.
pub fn check(dir: &Path, contracts: &[&ServiceContract]) -> io::Result<Drift> {
    let mut drift = Drift::default();
    for contract in contracts {
        let files = render(contract);
        for stale in existing(&dir.join(&contract.name))? {
            let path = PathBuf::from(&contract.name).join(stale);
            if !files.contains_key(&path) {
                drift.stale.push(path);
            }
        }
        for (path, text) in files {
            match std::fs::read_to_string(dir.join(&path)) {
                Ok(on_disk) if on_disk == text => {}
                Ok(_) => drift.changed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => drift.missing.push(path),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(drift)
}

/// For a test: with `CONTRACTS_BLESS=1` in the environment, (re)write the files; otherwise
/// fail with the list of differences and how to re-bless.
pub fn check_or_bless(dir: &Path, contracts: &[&ServiceContract]) -> Result<(), String> {
    if std::env::var_os(BLESS_ENV).is_some_and(|v| v == "1") {
        return write(dir, contracts).map_err(|e| format!("writing {}: {e}", dir.display()));
    }
    verify(dir, contracts)
}

/// Fail with the list of differences and how to re-bless, if the files under `dir` differ from
/// what `contracts` generate.
pub fn verify(dir: &Path, contracts: &[&ServiceContract]) -> Result<(), String> {
    let drift = check(dir, contracts).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    if drift.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the schema files under {} differ from the contracts in the code:\n{drift}\
             If the contract change is intended, regenerate them with {BLESS_ENV}=1 and commit \
             the result.",
            dir.display()
        ))
    }
}
