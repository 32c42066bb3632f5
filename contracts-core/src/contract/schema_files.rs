//! Schema files under `schemas/<service>/`: written from contracts, never by hand, and
//! checked for drift in tests.
//!
//! Layout per service: `service.json` (the manifest: methods, parameters, events and which
//! file holds each message's schema), `<method>.request.json`, `<method>.reply.json`,
//! `<method>.error.json` (when the method declares an error) and `<event>.event.json`.
//!
//! [`render`] turns a [`ServiceContract`] into those files and [`read`] turns them back into
//! the same contract, so the `contracts` tool, the docs writers and the gateway all work from
//! one model whether the contract was compiled in or read from disk.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::contract::manifest::{self, Manifest, ManifestError, MessageFile};
use crate::contract::{
    DeclaredErrorSchema, EventContract, MessageSchema, MethodContract, ServiceContract,
    Subscription,
};

/// Why schema files could not be read, written or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaFilesError {
    /// A file or directory could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A schema file is not JSON.
    #[error("{path} is not JSON")]
    NotJson {
        /// The file.
        path: PathBuf,
        /// What the JSON parser found, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A `service.json` is not a manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The files differ from what the contracts generate ([`verify`]).
    #[error(
        "the schema files under {} differ from the contracts in the code:\n{drift}\
         If the contract change is intended, regenerate them with {BLESS_ENV}=1 and commit the \
         result.",
        dir.display()
    )]
    Drift {
        /// The schemas directory.
        dir: PathBuf,
        /// Each file that differs.
        drift: Drift,
    },
}

fn read_text(path: &Path) -> Result<String, SchemaFilesError> {
    std::fs::read_to_string(path).map_err(|source| SchemaFilesError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_json(path: &Path) -> Result<Value, SchemaFilesError> {
    serde_json::from_str(&read_text(path)?).map_err(|source| SchemaFilesError::NotJson {
        path: path.to_owned(),
        source,
    })
}

/// Every service under `dir` (each folder holding a `service.json`), read back into the
/// contract [`render`] wrote it from, in the order of the services' folder names.
///
/// A subscription's payload is its publisher's event file (`../<source>/<event>.event.json`),
/// so the publisher's files must be in `dir` too.
pub fn read(dir: &Path) -> Result<Vec<ServiceContract>, SchemaFilesError> {
    let unreadable = |source| SchemaFilesError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let folder = entry.map_err(unreadable)?.path();
        if folder.join(manifest::FILE_NAME).is_file() {
            folders.push(folder);
        }
    }
    folders.sort();
    folders.iter().map(|folder| read_service(folder)).collect()
}

/// One service's folder (`schemas/<service>/`) read back into its contract: the inverse of
/// [`render`].
pub fn read_service(folder: &Path) -> Result<ServiceContract, SchemaFilesError> {
    let manifest = Manifest::read(&folder.join(manifest::FILE_NAME))?;
    let message = |file: &MessageFile| -> Result<MessageSchema, SchemaFilesError> {
        Ok(MessageSchema {
            type_name: file.type_name.clone(),
            schema: read_json(&folder.join(&file.schema))?,
        })
    };
    let methods = manifest
        .methods
        .iter()
        .map(|m| {
            Ok(MethodContract {
                name: m.name.clone(),
                doc: m.doc.clone(),
                params: m.params.clone(),
                request: message(&m.request)?,
                reply: message(&m.reply)?,
                error: match &m.error {
                    Some(e) => Some(DeclaredErrorSchema {
                        exc_path: e.exc_path.clone(),
                        message: message(&e.message)?,
                    }),
                    None => None,
                },
            })
        })
        .collect::<Result<_, SchemaFilesError>>()?;
    let events = manifest
        .events
        .iter()
        .map(|e| {
            Ok(EventContract {
                name: e.name.clone(),
                doc: e.doc.clone(),
                payload: message(&e.payload)?,
            })
        })
        .collect::<Result<_, SchemaFilesError>>()?;
    let subscriptions = manifest
        .subscriptions
        .iter()
        .map(|s| {
            Ok(Subscription {
                source: s.source.clone(),
                event: s.event.clone(),
                method: s.method.clone(),
                handler_type: s.handler_type,
                queue: s.queue.clone(),
                reliable_delivery: s.reliable_delivery,
                payload: message(&s.payload)?,
            })
        })
        .collect::<Result<_, SchemaFilesError>>()?;
    Ok(ServiceContract {
        name: manifest.name,
        doc: manifest.doc,
        methods,
        events,
        subscriptions,
        calls: manifest.calls,
    })
}

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
pub fn write(dir: &Path, contracts: &[&ServiceContract]) -> Result<(), SchemaFilesError> {
    let written = |path: &Path| {
        let path = path.to_owned();
        move |source| SchemaFilesError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(written(dir))?;
    let files = contracts.iter().flat_map(|contract| render(contract));
    for (path, text) in render_shared().into_iter().chain(files) {
        let path = dir.join(path);
        if let Some(service_dir) = path.parent() {
            std::fs::create_dir_all(service_dir).map_err(written(service_dir))?;
        }
        std::fs::write(&path, text).map_err(written(&path))?;
    }
    for contract in contracts {
        let files = render(contract);
        let service_dir = dir.join(&contract.name);
        for stale in existing(&service_dir)? {
            if !files.contains_key(&PathBuf::from(&contract.name).join(&stale)) {
                let path = service_dir.join(stale);
                std::fs::remove_file(&path).map_err(written(&path))?;
            }
        }
    }
    Ok(())
}

fn existing(service_dir: &Path) -> Result<Vec<String>, SchemaFilesError> {
    let unreadable = |source| SchemaFilesError::Read {
        path: service_dir.to_owned(),
        source,
    };
    if !service_dir.exists() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(service_dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if entry.file_type().map_err(unreadable)?.is_file() {
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
pub fn check(dir: &Path, contracts: &[&ServiceContract]) -> Result<Drift, SchemaFilesError> {
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

fn compare(
    dir: &Path,
    files: BTreeMap<PathBuf, String>,
    drift: &mut Drift,
) -> Result<(), SchemaFilesError> {
    for (path, text) in files {
        let on_disk = dir.join(&path);
        match std::fs::read_to_string(&on_disk) {
            Ok(on_disk) if on_disk == text => {}
            Ok(_) => drift.changed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => drift.missing.push(path),
            Err(source) => {
                return Err(SchemaFilesError::Read {
                    path: on_disk,
                    source,
                });
            }
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
pub fn check_or_bless(dir: &Path, contracts: &[&ServiceContract]) -> Result<(), SchemaFilesError> {
    if blessing() {
        return write(dir, contracts);
    }
    verify(dir, contracts)
}

/// Fail with the list of differences and how to re-bless ([`SchemaFilesError::Drift`]), if
/// the files under `dir` differ from what `contracts` generate.
pub fn verify(dir: &Path, contracts: &[&ServiceContract]) -> Result<(), SchemaFilesError> {
    let drift = check(dir, contracts)?;
    if drift.is_empty() {
        Ok(())
    } else {
        Err(SchemaFilesError::Drift {
            dir: dir.to_owned(),
            drift,
        })
    }
}
