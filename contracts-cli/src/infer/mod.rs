//! `contracts infer`: contracts written from recorded traffic (the samples of
//! [`crate::record`]).
//!
//! The samples are read one line at a time into running shapes (`shape`), so memory grows
//! with the number of distinct shapes, not of samples; each place is then given a type by
//! the rules of `ty`, and written twice: as schema files in the layout of `schemas/`
//! (`schema`) and as a Rust contract crate (`rust`) whose own schemas `contracts check`
//! finds equal to them in both directions. Every choice made on thin evidence is a [`Note`]
//! in the review, for the human who finishes the contract.

mod rust;
mod schema;
mod shape;
mod ty;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use contracts_core::contract::{
    DeclaredErrorSchema, EventContract, MessageSchema, MethodContract, ServiceContract,
    schema_files,
};
use serde_json::Value;

use crate::recording::{self, Call, Sample};
use shape::Shape;
pub use ty::Note;
use ty::{Decide, FEW, Field, Names, Place, Ty, pascal};

/// Why an inference could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// The recording could not be read.
    #[error(transparent)]
    Recording(#[from] recording::ReadError),
    /// The output could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The schema files could not be written.
    #[error("cannot write the schema files")]
    Schemas(#[from] schema_files::SchemaFilesError),
}

/// What [`infer`] made of a recording.
pub struct Inference {
    /// One contract per service seen, as schema files would hold it.
    pub contracts: Vec<ServiceContract>,
    /// The contract crate's `lib.rs`.
    pub source: String,
    /// The choices made on thin evidence, for review.
    pub review: Vec<Note>,
    /// Samples read.
    pub samples: u64,
    /// Lines that were not a sample (not JSON, or not the record format), skipped.
    pub unreadable: u64,
}

/// The tallies of one service.
#[derive(Default)]
struct ServiceSeen {
    methods: BTreeMap<String, MethodSeen>,
    events: BTreeMap<String, Shape>,
}

/// The tallies of one method.
#[derive(Default)]
struct MethodSeen {
    calls: u64,
    /// The shape of each positional argument.
    positional: Vec<Shape>,
    /// The shape of each keyword argument.
    by_name: BTreeMap<String, Shape>,
    /// For each keyword, the most positional arguments a call passed beside it: the
    /// parameter's position is at least that.
    after: BTreeMap<String, usize>,
    results: Shape,
    unreplied: u64,
    errors: BTreeMap<String, ErrorSeen>,
}

/// One `exc_type` a method failed with.
pub(crate) struct ErrorSeen {
    pub(crate) exc_path: String,
    pub(crate) count: u64,
}

impl MethodSeen {
    fn add(&mut self, call: &Call) {
        self.calls += 1;
        if self.positional.len() < call.args.len() {
            self.positional.resize_with(call.args.len(), Shape::default);
        }
        for (shape, arg) in self.positional.iter_mut().zip(&call.args) {
            shape.add(arg);
        }
        for (name, value) in &call.kwargs {
            self.by_name.entry(name.clone()).or_default().add(value);
            let after = self.after.entry(name.clone()).or_default();
            *after = (*after).max(call.args.len());
        }
        match &call.error {
            Some(error) => {
                let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or("");
                let seen = self
                    .errors
                    .entry(text("exc_type").to_owned())
                    .or_insert_with(|| ErrorSeen {
                        exc_path: text("exc_path").to_owned(),
                        count: 0,
                    });
                seen.count += 1;
            }
            None if call.replied => self.results.add(&call.result),
            None => self.unreplied += 1,
        }
    }

    /// The parameters in order, each with the shape of every value it was given and how
    /// many calls gave it one. Positions take the keyword names that fit them (a keyword
    /// passed beside `k` positional arguments sits at `k` or later; the kinds must match);
    /// the keywords never matched to a position follow, by name.
    fn params(&self, decide: &mut Decide, item: &str) -> Vec<(String, Shape)> {
        let mut unplaced: BTreeMap<&String, &Shape> = self.by_name.iter().collect();
        let mut params = Vec::new();
        for (i, position) in self.positional.iter().enumerate() {
            let fits: Vec<&String> = unplaced
                .iter()
                .filter(|(name, shape)| self.after[**name] <= i && may_be_one(position, shape))
                .map(|(name, _)| *name)
                .collect();
            let name = match fits.as_slice() {
                [] => {
                    let name = format!("arg{i}");
                    decide.notes.push(Note {
                        item: item.to_owned(),
                        message: "request".into(),
                        at: format!("/{name}"),
                        what: format!(
                            "argument {i} was only passed by position: its name is unknown"
                        ),
                    });
                    name
                }
                [one] => (*one).clone(),
                [first, ..] => {
                    decide.notes.push(Note {
                        item: item.to_owned(),
                        message: "request".into(),
                        at: format!("/{first}"),
                        what: format!(
                            "argument {i} passed by position could be any of {fits:?}: took the first"
                        ),
                    });
                    (*first).clone()
                }
            };
            let mut shape = position.clone();
            if let Some(by_name) = unplaced.remove(&name) {
                shape.merge(by_name.clone());
            }
            params.push((name, shape));
        }
        params.extend(
            unplaced
                .into_iter()
                .map(|(name, shape)| (name.clone(), shape.clone())),
        );
        params
    }
}

/// Whether the values seen at a position and under a keyword may be one parameter's: the
/// same kinds of values (nulls aside), and for strings no sign of two different sets — a
/// closed set (its values repeat) on one side and an open one on the other, two closed sets
/// with no value in common, or formats that exclude each other.
fn may_be_one(a: &Shape, b: &Shape) -> bool {
    let kinds = |s: &Shape| {
        [
            s.bools > 0,
            s.ints + s.floats > 0,
            s.strings.is_some(),
            s.arrays.is_some(),
            s.objects.is_some(),
        ]
    };
    if kinds(a) != kinds(b) {
        return false;
    }
    let (Some(a), Some(b)) = (&a.strings, &b.strings) else {
        return true;
    };
    let closed = |s: &shape::Strings| {
        s.values
            .as_ref()
            .is_some_and(|values| s.count >= 2 * values.len() as u64)
    };
    let open = |s: &shape::Strings| s.values.is_none();
    let sets_differ = (closed(a) && open(b)) || (open(a) && closed(b));
    let sets_disjoint = match (&a.values, &b.values) {
        (Some(x), Some(y)) if closed(a) && closed(b) => !x.keys().any(|k| y.contains_key(k)),
        _ => false,
    };
    let formats_exclude = a.formats != 0 && b.formats != 0 && a.formats & b.formats == 0;
    !(sets_differ || sets_disjoint || formats_exclude)
}

/// A service as inferred, ready to be written as schemas and as Rust.
pub(crate) struct InferredService {
    pub(crate) name: String,
    pub(crate) trait_name: String,
    pub(crate) doc: String,
    pub(crate) methods: Vec<InferredMethod>,
    pub(crate) events: Vec<InferredEvent>,
}

pub(crate) struct InferredMethod {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) params: Vec<Field>,
    pub(crate) reply: Ty,
    pub(crate) error: Option<InferredError>,
}

/// A method's declared error: one variant per `exc_type` seen.
pub(crate) struct InferredError {
    pub(crate) method: String,
    pub(crate) name: String,
    pub(crate) variants: BTreeMap<String, ErrorSeen>,
}

pub(crate) struct InferredEvent {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) payload: Ty,
}

/// Read every sample under `dir` (a [recording]) and infer the contracts
/// they imply.
pub fn infer(dir: &Path) -> Result<Inference, InferError> {
    let mut services: BTreeMap<String, ServiceSeen> = BTreeMap::new();
    let read = recording::read(dir, |sample| match sample {
        Sample::Call {
            service,
            method,
            call,
        } => services
            .entry(service.to_owned())
            .or_default()
            .methods
            .entry(method.to_owned())
            .or_default()
            .add(call),
        Sample::Event {
            service,
            event,
            payload,
        } => services
            .entry(service.to_owned())
            .or_default()
            .events
            .entry(event.to_owned())
            .or_default()
            .add(payload),
    })?;
    let (samples, unreadable) = (read.samples, read.unreadable);
    let mut names = Names::default();
    for name in ["DateTime", "Date", "Uuid", "Email"] {
        names.reserve(name.into());
    }
    for service in services.keys() {
        let t = pascal(service);
        for suffix in ["", "Contract", "Client", "Server"] {
            names.reserve(format!("{t}{suffix}"));
        }
    }
    let mut decide = Decide {
        names: &mut names,
        notes: Vec::new(),
        signature: |ty| schema::of(ty).to_string(),
    };
    let inferred: Vec<InferredService> = services
        .iter()
        .map(|(name, seen)| service(&mut decide, name, seen))
        .collect();
    let contracts = inferred.iter().map(contract).collect();
    let header = format!(
        "The contracts of {} service(s), inferred by `contracts infer` from {samples} recorded samples.\n\nA starting point: read the review `contracts infer` printed, then make these yours.",
        inferred.len()
    );
    let source = rust::source(&inferred, &header);
    let mut review = decide.notes;
    review.sort();
    review.dedup();
    Ok(Inference {
        contracts,
        source,
        review,
        samples,
        unreadable,
    })
}

fn service(decide: &mut Decide, name: &str, seen: &ServiceSeen) -> InferredService {
    let methods = seen
        .methods
        .iter()
        .map(|(method, seen)| self::method(decide, name, method, seen))
        .collect();
    let events = seen
        .events
        .iter()
        .map(|(event, payload)| {
            let item = format!("{name}.{event}");
            let place = Place {
                item: &item,
                message: "event",
                at: String::new(),
            };
            if payload.seen < FEW {
                decide.notes.push(Note {
                    item: item.clone(),
                    message: "event".into(),
                    at: "/".into(),
                    what: format!("only {} events seen", payload.seen),
                });
            }
            InferredEvent {
                name: event.clone(),
                doc: format!("Seen {} times.", payload.seen),
                payload: decide.ty(payload, &pascal(event), &place),
            }
        })
        .collect();
    InferredService {
        name: name.to_owned(),
        trait_name: pascal(name),
        doc: format!("`{name}`, as its recorded traffic shows it."),
        methods,
        events,
    }
}

fn method(decide: &mut Decide, service: &str, name: &str, seen: &MethodSeen) -> InferredMethod {
    let item = format!("{service}.{name}");
    let note = |decide: &mut Decide, message: &str, what: String| {
        decide.notes.push(Note {
            item: item.clone(),
            message: message.into(),
            at: "/".into(),
            what,
        })
    };
    let request = Place {
        item: &item,
        message: "request",
        at: String::new(),
    };
    let params = seen
        .params(decide, &item)
        .into_iter()
        .map(|(param, shape)| {
            let here = Place {
                at: format!("/{param}"),
                ..request.clone()
            };
            let required = shape.seen == seen.calls;
            if !required && shape.seen < FEW {
                note(
                    decide,
                    "request",
                    format!(
                        "`{param}` optional: given in {} of {} calls",
                        shape.seen, seen.calls
                    ),
                );
            }
            let ty = decide.ty(&shape, &param, &here);
            // An argument that may be left out is `Option<T>`, which also takes null.
            let ty = match ty {
                ty @ (Ty::Nullable(_) | Ty::Any) => ty,
                ty if !required => Ty::Nullable(Box::new(ty)),
                ty => ty,
            };
            Field {
                key: param,
                ty,
                required,
                seen: shape.seen,
                of: seen.calls,
            }
        })
        .collect();
    let replied = seen.results.seen;
    let failed: u64 = seen.errors.values().map(|e| e.count).sum();
    if seen.calls < FEW {
        note(
            decide,
            "contract",
            format!("only {} calls seen", seen.calls),
        );
    }
    let reply = if replied == 0 {
        note(
            decide,
            "reply",
            "no successful reply seen: the reply is left open".into(),
        );
        Ty::Any
    } else {
        let place = Place {
            item: &item,
            message: "reply",
            at: String::new(),
        };
        decide.ty(&seen.results, &format!("{}Reply", pascal(name)), &place)
    };
    let error = if seen.errors.is_empty() {
        note(
            decide,
            "error",
            "never seen failing: no declared error (declare one if it can fail)".into(),
        );
        None
    } else {
        let error_name = decide.names.claim_unique(&format!("{}Error", pascal(name)));
        note(
            decide,
            "error",
            format!(
                "declared error `{error_name}` from the exc_types seen ({}); a Rust client reads one as declared once the service raises it as `{service}.{error_name}` (a contracts runtime does), else as a remote error",
                seen.errors
                    .iter()
                    .map(|(t, e)| format!("{t} ×{}", e.count))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        Some(InferredError {
            method: name.to_owned(),
            name: error_name,
            variants: seen
                .errors
                .iter()
                .map(|(exc_type, e)| {
                    let variant = if shape::is_identifier(exc_type) {
                        exc_type.clone()
                    } else {
                        pascal(exc_type)
                    };
                    (
                        variant,
                        ErrorSeen {
                            exc_path: e.exc_path.clone(),
                            count: e.count,
                        },
                    )
                })
                .collect(),
        })
    };
    InferredMethod {
        name: name.to_owned(),
        doc: format!(
            "Seen {} calls: {replied} replied, {failed} failed, {} unanswered while recording.",
            seen.calls, seen.unreplied
        ),
        params,
        reply,
        error,
    }
}

/// The contract a service's schema files hold.
fn contract(service: &InferredService) -> ServiceContract {
    ServiceContract {
        name: service.name.clone(),
        doc: Some(service.doc.clone()),
        methods: service
            .methods
            .iter()
            .map(|m| {
                let request_type = format!("{}Request", pascal(&m.name));
                let request = Ty::Record {
                    name: request_type.clone(),
                    fields: m.params.clone(),
                };
                let reply_type = rust::type_of(&m.reply);
                MethodContract {
                    name: m.name.clone(),
                    doc: Some(m.doc.clone()),
                    params: m.params.iter().map(|p| p.key.clone()).collect(),
                    request: MessageSchema {
                        schema: schema::message(&request, &request_type, &m.doc),
                        type_name: request_type,
                    },
                    reply: MessageSchema {
                        schema: schema::message(&m.reply, &reply_type, "The reply's `result`."),
                        type_name: reply_type,
                    },
                    error: m.error.as_ref().map(|e| DeclaredErrorSchema {
                        exc_path: format!("{}.{}", service.name, e.name),
                        message: MessageSchema {
                            type_name: e.name.clone(),
                            schema: schema::error(e, &format!("How `{}` failed.", m.name)),
                        },
                    }),
                }
            })
            .collect(),
        events: service
            .events
            .iter()
            .map(|e| {
                let type_name = rust::type_of(&e.payload);
                EventContract {
                    name: e.name.clone(),
                    doc: Some(e.doc.clone()),
                    payload: MessageSchema {
                        schema: schema::message(&e.payload, &type_name, &e.doc),
                        type_name,
                    },
                }
            })
            .collect(),
        subscriptions: Vec::new(),
        calls: Vec::new(),
    }
}

/// Where the generated crate finds `contracts-core`.
pub enum CoreDependency {
    /// The released crate, at this tool's version.
    Registry,
    /// A checkout of it (`contracts-core`'s folder).
    Path(PathBuf),
}

impl Inference {
    /// Write `out/schemas/` (the layout of `schemas/`) and the contract crate
    /// `out/<crate_name>/`, a standalone crate with a test that writes its own schemas.
    pub fn write(
        &self,
        out: &Path,
        crate_name: &str,
        core: &CoreDependency,
    ) -> Result<(), InferError> {
        let schemas = out.join("schemas");
        let _ = std::fs::remove_dir_all(&schemas);
        let contracts: Vec<&ServiceContract> = self.contracts.iter().collect();
        schema_files::write(&schemas, &contracts)?;
        let krate = out.join(crate_name);
        let core = match core {
            CoreDependency::Registry => format!("\"{}\"", env!("CARGO_PKG_VERSION")),
            CoreDependency::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
        };
        let manifest = format!(
            "[package]\nname = \"{crate_name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\ndescription = \"Contracts inferred from recorded traffic.\"\npublish = false\n\n[dependencies]\ncontracts-core = {core}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\nschemars = \"1.2\"\n\n# A crate of its own until you move it into your workspace.\n[workspace]\n"
        );
        let contracts_list: Vec<String> = self
            .contracts
            .iter()
            .map(|c| format!("        {}Contract::contract(),\n", pascal(&c.name)))
            .collect();
        let lib = crate_name.replace('-', "_");
        let test = format!(
            "//! The crate's schema files (`schemas/` beside `Cargo.toml`) are what its contracts generate:\n//! `CONTRACTS_BLESS=1 cargo test` writes them, `cargo test` fails when they drift.\n\nuse contracts_core::ServiceContract;\nuse contracts_core::contract::schema_files;\nuse {lib}::*;\n\n#[test]\nfn committed_schema_files_match_the_contracts() {{\n    let dir = std::path::Path::new(env!(\"CARGO_MANIFEST_DIR\")).join(\"schemas\");\n    let contracts = [\n{}    ];\n    if let Err(drift) = schema_files::check_or_bless(&dir, &contracts) {{\n        panic!(\"{{drift}}\");\n    }}\n}}\n",
            contracts_list.concat()
        );
        for (path, text) in [
            (krate.join("Cargo.toml"), manifest),
            (krate.join("src/lib.rs"), self.source.clone()),
            (krate.join("tests/schemas.rs"), test),
        ] {
            let parent = path.parent().expect("a file in a folder");
            std::fs::create_dir_all(parent).map_err(|source| InferError::Write {
                path: parent.to_owned(),
                source,
            })?;
            std::fs::write(&path, text).map_err(|source| InferError::Write { path, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(values: impl IntoIterator<Item = Value>) -> Shape {
        let mut shape = Shape::default();
        for value in values {
            shape.add(&value);
        }
        shape
    }

    #[test]
    fn a_position_takes_the_keyword_whose_values_look_like_its_own() {
        let skus = |from: u32| shape((from..from + 40).map(|i| json!(format!("SKU-{i:06x}"))));
        let warehouses = shape((0..40).map(|i| json!(["main", "north", "south"][i % 3])));
        // Open sets on both sides, no value in common: still one parameter.
        assert!(may_be_one(&skus(0), &skus(1000)));
        // A closed set is not an open one.
        assert!(!may_be_one(&skus(0), &warehouses));
        assert!(!may_be_one(&warehouses, &skus(0)));
        // Nor are two closed sets with nothing in common, or a uuid an email.
        let sizes = shape((0..40).map(|i| json!(["s", "m", "l"][i % 3])));
        assert!(!may_be_one(&warehouses, &sizes));
        let uuids = shape([json!("4f1c2a9e-8b7d-4c3e-9f2a-1b2c3d4e5f60")]);
        let emails = shape([json!("ada@example.org")]);
        assert!(!may_be_one(&uuids, &emails));
        assert!(!may_be_one(&shape([json!(1)]), &shape([json!("1")])));
    }
}
