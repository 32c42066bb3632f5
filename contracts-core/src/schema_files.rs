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

use serde_json::Value;

use crate::contract::ServiceContract;
use crate::manifest::{self, Manifest};

/// The environment variable that makes [`check_or_bless`] rewrite the files.
pub const BLESS_ENV: &str = "CONTRACTS_BLESS";

/// The JSON Schema of every `service.json`, at the top of the schemas directory.
pub const MANIFEST_SCHEMA_FILE: &str = "service.schema.json";

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always encode");
    text.push('\n');
    text
}

/// Every file of `contract`, keyed by its path relative to the schemas directory.
pub fn render(contract: &ServiceContract) -> BTreeMap<PathBuf, String> {
    let dir = PathBuf::from(&contract.name);
    let mut files = BTreeMap::new();
    for m in &contract.methods {
        files.insert(
            dir.join(manifest::request_file(&m.name)),
            pretty(&m.request.schema),
        );
        files.insert(
            dir.join(manifest::reply_file(&m.name)),
            pretty(&m.reply.schema),
        );
        if let Some(e) = &m.error {
            files.insert(
                dir.join(manifest::error_file(&m.name)),
                pretty(&e.message.schema),
            );
        }
    }
    for e in &contract.events {
        files.insert(
            dir.join(manifest::event_file(&e.name)),
            pretty(&e.payload.schema),
        );
    }
    files.insert(
        dir.join(manifest::FILE_NAME),
        Manifest::of(contract).to_json_text(),
    );
    files
}

/// The files shared by every service: the manifest's own schema.
fn render_shared() -> BTreeMap<PathBuf, String> {
    BTreeMap::from([(
        PathBuf::from(MANIFEST_SCHEMA_FILE),
        pretty(&Manifest::json_schema()),
    )])
}

/// Write every contract's files under `dir`, removing files of those services that are no
/// longer generated.
pub fn write(dir: &Path, contracts: &[&ServiceContract]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (path, text) in render_shared() {
        std::fs::write(dir.join(path), text)?;
    }
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
    compare(dir, render_shared(), &mut drift)?;
    for contract in contracts {
        let files = render(contract);
        for stale in existing(&dir.join(&contract.name))? {
            let path = PathBuf::from(&contract.name).join(stale);
            if !files.contains_key(&path) {
                drift.stale.push(path);
            }
        }
        compare(dir, files, &mut drift)?;
    }
    Ok(drift)
}

fn compare(dir: &Path, files: BTreeMap<PathBuf, String>, drift: &mut Drift) -> io::Result<()> {
    for (path, text) in files {
        match std::fs::read_to_string(dir.join(&path)) {
            Ok(on_disk) if on_disk == text => {}
            Ok(_) => drift.changed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => drift.missing.push(path),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether the drift tests should rewrite what they check: `CONTRACTS_BLESS=1` exactly, so a
/// stray `CONTRACTS_BLESS=0` or empty value never blesses by accident.
pub fn blessing() -> bool {
    std::env::var_os(BLESS_ENV).is_some_and(|v| v == "1")
}

/// For a test: with `CONTRACTS_BLESS=1` in the environment, (re)write the files; otherwise
/// fail with the list of differences and how to re-bless.
pub fn check_or_bless(dir: &Path, contracts: &[&ServiceContract]) -> Result<(), String> {
    if blessing() {
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
