//! A `schemas/` directory read back: services, their methods' request, reply and error
//! schemas, their events' payload schemas, and what they subscribe to. Only the files are
//! read, so the tool serves contracts written in any language.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use contracts_core::contract::{
    DeclaredErrorSchema, EventContract, MessageSchema, MethodContract, ServiceContract,
};
use contracts_core::manifest::{self, Manifest, ManifestError, MessageFile};
use serde_json::Value;

/// Every service of a schemas directory, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// Services by name.
    pub services: BTreeMap<String, Service>,
}

/// One service's contract.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// Its `service.json`, as read.
    pub manifest: Manifest,
    /// Nameko service name.
    pub name: String,
    /// The service's doc comment.
    pub doc: String,
    /// RPC methods by name.
    pub methods: BTreeMap<String, Method>,
    /// Event payload schemas by event name.
    pub events: BTreeMap<String, Value>,
    /// Event doc comments by event name.
    pub event_docs: BTreeMap<String, String>,
    /// `(source, event)` pairs this service handles, with the handling method.
    pub subscriptions: Vec<Subscription>,
    /// Services this one calls.
    pub calls: Vec<String>,
}

/// One RPC method's messages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Method {
    /// The method's doc comment.
    pub doc: String,
    /// Parameter names, in order.
    pub params: Vec<String>,
    /// Request schema: what the server reads.
    pub request: Value,
    /// Reply schema: what clients read.
    pub reply: Value,
    /// Declared error schema, if any: what clients read.
    pub error: Option<Value>,
}

/// An event handler recorded in a contract.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Subscription {
    /// The publishing service.
    pub source: String,
    /// The event.
    pub event: String,
    /// The handling method.
    pub method: String,
}

/// Why a schemas directory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A schema file is not JSON.
    #[error("{path} is not JSON: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What the JSON parser found.
        #[source]
        source: serde_json::Error,
    },
    /// A `service.json` is not a manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

fn read_json(path: &Path) -> Result<Value, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| CatalogError::Invalid {
        path: path.to_owned(),
        source,
    })
}

impl Catalog {
    /// Read every `<service>/service.json` under `dir`, with the schema files it names.
    pub fn load(dir: &Path) -> Result<Self, CatalogError> {
        let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let mut catalog = Self::default();
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("service.json").is_file())
            .collect();
        dirs.sort();
        for service_dir in dirs {
            let service = Service::load(&service_dir)?;
            catalog.services.insert(service.name.clone(), service);
        }
        Ok(catalog)
    }

    /// The schema of a message named `service.method[.request|.reply|.error]` or
    /// `service.event`, with what it is, for messages.
    pub fn message(&self, name: &str) -> Result<(String, &Value), String> {
        let mut parts = name.splitn(3, '.');
        let (Some(service), Some(item)) = (parts.next(), parts.next()) else {
            return Err(format!(
                "`{name}`: name a message as service.method, service.method.reply, \
                 service.method.error or service.event"
            ));
        };
        let part = parts.next();
        let known: Vec<&String> = self.services.keys().collect();
        let svc = self
            .services
            .get(service)
            .ok_or_else(|| format!("no service `{service}` in the schemas (have: {known:?})"))?;
        if let Some(method) = svc.methods.get(item) {
            return match part.unwrap_or("request") {
                "request" => Ok((format!("{service}.{item} request"), &method.request)),
                "reply" => Ok((format!("{service}.{item} reply"), &method.reply)),
                "error" => method
                    .error
                    .as_ref()
                    .map(|e| (format!("{service}.{item} error"), e))
                    .ok_or_else(|| format!("{service}.{item} declares no error")),
                other => Err(format!(
                    "`{other}`: a method's messages are request, reply and error"
                )),
            };
        }
        if let (Some(payload), None) = (svc.events.get(item), part) {
            return Ok((format!("{service}.{item} event"), payload));
        }
        Err(format!(
            "`{service}` has no method or event `{item}` (methods: {:?}, events: {:?})",
            svc.methods.keys().collect::<Vec<_>>(),
            svc.events.keys().collect::<Vec<_>>()
        ))
    }
}

impl Service {
    /// The service's contract as the runtime models it, its methods and events in declaration
    /// order (what is needed to serve or document it; subscriptions are left out).
    pub fn contract(&self) -> ServiceContract {
        let schema = |file: &MessageFile, schema: &Value| MessageSchema {
            type_name: file.type_name.clone(),
            schema: schema.clone(),
        };
        let methods = self
            .manifest
            .methods
            .iter()
            .filter_map(|m| {
                let method = self.methods.get(&m.name)?;
                Some(MethodContract {
                    name: m.name.clone(),
                    doc: m.doc.clone(),
                    params: m.params.clone(),
                    request: schema(&m.request, &method.request),
                    reply: schema(&m.reply, &method.reply),
                    error: m
                        .error
                        .as_ref()
                        .zip(method.error.as_ref())
                        .map(|(e, value)| DeclaredErrorSchema {
                            exc_path: e.exc_path.clone(),
                            message: schema(&e.message, value),
                        }),
                })
            })
            .collect();
        let events = self
            .manifest
            .events
            .iter()
            .filter_map(|e| {
                Some(EventContract {
                    name: e.name.clone(),
                    doc: e.doc.clone(),
                    payload: schema(&e.payload, self.events.get(&e.name)?),
                })
            })
            .collect();
        ServiceContract {
            name: self.name.clone(),
            doc: self.manifest.doc.clone(),
            methods,
            events,
            subscriptions: Vec::new(),
            calls: self.calls.clone(),
        }
    }

    fn load(dir: &Path) -> Result<Self, CatalogError> {
        let manifest = Manifest::read(&dir.join(manifest::FILE_NAME))?;
        let schema = |file: &MessageFile| read_json(&dir.join(&file.schema));
        let mut service = Self {
            name: manifest.name.clone(),
            doc: manifest.doc.clone().unwrap_or_default(),
            methods: BTreeMap::new(),
            events: BTreeMap::new(),
            event_docs: BTreeMap::new(),
            subscriptions: Vec::new(),
            calls: manifest.calls.clone(),
            manifest: manifest.clone(),
        };
        for m in &manifest.methods {
            let method = Method {
                doc: m.doc.clone().unwrap_or_default(),
                params: m.params.clone(),
                request: schema(&m.request)?,
                reply: schema(&m.reply)?,
                error: m.error.as_ref().map(|e| schema(&e.message)).transpose()?,
            };
            service.methods.insert(m.name.clone(), method);
        }
        for e in &manifest.events {
            service.events.insert(e.name.clone(), schema(&e.payload)?);
            service
                .event_docs
                .insert(e.name.clone(), e.doc.clone().unwrap_or_default());
        }
        service.subscriptions = manifest
            .subscriptions
            .iter()
            .map(|s| Subscription {
                source: s.source.clone(),
                event: s.event.clone(),
                method: s.method.clone(),
            })
            .collect();
        Ok(service)
    }
}
