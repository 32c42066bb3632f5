//! Whether a schema change breaks the other side.
//!
//! Who reads a message decides which way a change breaks:
//! - a schema **read by the server** (an RPC request) breaks when it **narrows**: clients
//!   built on the old schema send what the new server refuses (a new required field, a
//!   narrower type, a removed enum value, a tighter bound or pattern, a removed property
//!   where unknown properties are denied);
//! - a schema **read by clients or subscribers** (an RPC reply, a declared error, an event
//!   payload) breaks when it **widens**: the new writer sends what old readers refuse (a new
//!   enum value or `oneOf` branch, a field no longer required, a wider type, a new property
//!   where the old schema denied unknown ones).
//!
//! The other direction is listed as a non-breaking change. The comparison walks both schemas
//! in step, resolving local `$ref`s (`#/$defs/...`) in each.

use std::collections::BTreeSet;

use contracts_core::contract::resolve_ref as resolve;
use serde::Serialize;
use serde_json::{Map, Value};

/// Who reads the message whose schema changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reader {
    /// The server reads it (RPC request): narrowing breaks.
    Server,
    /// Clients or subscribers read it (reply, error, event): widening breaks.
    Clients,
}

/// One difference between two schemas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Where in the schema, as a JSON pointer into the message (`/user_data/name`).
    pub at: String,
    /// What changed, in words.
    pub what: String,
    /// Whether it breaks the readers.
    pub breaking: bool,
}

/// Which way a change moves the set of accepted messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Narrows,
    Widens,
    /// Neither a subset nor a superset (a changed pattern, say): breaks both readers.
    Shifts,
    /// Worth listing, breaks nobody (an optional property added, say).
    Neutral,
}

struct Diff<'a> {
    reader: Reader,
    old_root: &'a Value,
    new_root: &'a Value,
    changes: Vec<Change>,
}

impl Diff<'_> {
    fn note(&mut self, at: &str, way: Way, what: String) {
        let breaking = match (way, self.reader) {
            (Way::Shifts, _) => true,
            (Way::Narrows, Reader::Server) | (Way::Widens, Reader::Clients) => true,
            (Way::Narrows | Way::Widens | Way::Neutral, _) => false,
        };
        self.changes.push(Change {
            at: if at.is_empty() { "/".into() } else { at.into() },
            what,
            breaking,
        });
    }
}

/// Every change from `old` to `new`, for a message read by `reader`.
pub fn compare(old: &Value, new: &Value, reader: Reader) -> Vec<Change> {
    let mut diff = Diff {
        reader,
        old_root: old,
        new_root: new,
        changes: Vec::new(),
    };
    walk(&mut diff, old, new, "", 0);
    diff.changes
}

/// The JSON types a schema admits; `None` when it does not restrict them.
fn types(schema: &Value) -> Option<BTreeSet<String>> {
    match schema.get("type")? {
        Value::String(t) => Some([t.clone()].into()),
        Value::Array(ts) => Some(
            ts.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

/// Whether type `t` is admitted by `set` (`integer` is within `number`).
fn admits(set: &BTreeSet<String>, t: &str) -> bool {
    set.contains(t) || (t == "integer" && set.contains("number"))
}

/// The values a schema allows when it is an enumeration: `enum`, `const`, or a `oneOf` /
/// `anyOf` whose branches are all constants (how schemars writes documented enums).
fn enumeration(root: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().map(Value::to_string).collect());
    }
    if let Some(value) = schema.get("const") {
        return Some([value.to_string()].into());
    }
    let branches = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    let mut all = BTreeSet::new();
    for branch in branches {
        all.extend(enumeration(root, resolve(root, branch))?);
    }
    Some(all)
}

fn denies_unknown(schema: &Value) -> bool {
    schema.get("additionalProperties") == Some(&Value::Bool(false))
        || schema.get("unevaluatedProperties") == Some(&Value::Bool(false))
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn properties(schema: &Value) -> Map<String, Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Compare one schema node with its baseline, then its children, in named steps. Stops at a
/// depth no generated schema reaches, in case of a cycle through `$ref`.
fn walk(diff: &mut Diff, old: &Value, new: &Value, at: &str, depth: usize) {
    if depth > 64 {
        return;
    }
    let (old, new) = (resolve(diff.old_root, old), resolve(diff.new_root, new));
    compare_types(diff, old, new, at);
    // An enumeration says everything about its values: nothing below it to compare.
    if compare_enumerations(diff, old, new, at) {
        return;
    }
    compare_bounds(diff, old, new, at);
    compare_required(diff, old, new, at);
    compare_properties(diff, old, new, at, depth);
    // Arrays: their items.
    if let (Some(o), Some(n)) = (old.get("items"), new.get("items")) {
        walk(diff, o, n, &format!("{at}/items"), depth + 1);
    }
    compare_alternatives(diff, old, new, at, depth);
}

/// The JSON types admitted: losing one narrows, gaining one widens.
fn compare_types(diff: &mut Diff, old: &Value, new: &Value, at: &str) {
    match (types(old), types(new)) {
        (Some(o), Some(n)) => {
            let lost: Vec<&String> = o.iter().filter(|t| !admits(&n, t)).collect();
            let gained: Vec<&String> = n.iter().filter(|t| !admits(&o, t)).collect();
            if !lost.is_empty() {
                diff.note(at, Way::Narrows, format!("type no longer admits {lost:?}"));
            }
            if !gained.is_empty() {
                diff.note(at, Way::Widens, format!("type now also admits {gained:?}"));
            }
        }
        (Some(o), None) => diff.note(at, Way::Widens, format!("type {o:?} no longer enforced")),
        (None, Some(n)) => diff.note(at, Way::Narrows, format!("type restricted to {n:?}")),
        (None, None) => {}
    }
}

/// Enumerated values (`enum`, `const`, or `oneOf` of constants): removing one narrows,
/// adding one widens. Whether both are enumerations, so the walk can stop there.
fn compare_enumerations(diff: &mut Diff, old: &Value, new: &Value, at: &str) -> bool {
    let (old_root, new_root) = (diff.old_root, diff.new_root);
    match (enumeration(old_root, old), enumeration(new_root, new)) {
        (Some(o), Some(n)) => {
            let removed: Vec<&String> = o.difference(&n).collect();
            let added: Vec<&String> = n.difference(&o).collect();
            if !removed.is_empty() {
                diff.note(
                    at,
                    Way::Narrows,
                    format!("enum values removed: {removed:?}"),
                );
            }
            if !added.is_empty() {
                diff.note(at, Way::Widens, format!("enum values added: {added:?}"));
            }
            return true;
        }
        (Some(_), None) => diff.note(at, Way::Widens, "no longer an enumeration".into()),
        (None, Some(_)) => diff.note(at, Way::Narrows, "now an enumeration".into()),
        (None, None) => {}
    }
    false
}

/// Numeric and length bounds (a larger minimum or a smaller maximum narrows), patterns and
/// formats (changing one shifts).
fn compare_bounds(diff: &mut Diff, old: &Value, new: &Value, at: &str) {
    // An integer's `format` already bounds it (`uint64`: 0 to 2^64 - 1): writing that bound
    // out, or dropping it, changes no reader.
    let implied = |schema: &Value, lower: bool| {
        let (min, max) = schema
            .get("format")
            .and_then(Value::as_str)
            .and_then(contracts_core::contract::integer_format_range)?;
        let value = if lower { min } else { max };
        Some(i64::try_from(value).map_or_else(|_| Value::from(value as u64), Value::from))
    };
    let effective = |schema: &Value, key: &str, lower: bool| {
        schema.get(key).cloned().or_else(|| {
            matches!(key, "minimum" | "maximum")
                .then(|| implied(schema, lower))
                .flatten()
        })
    };
    for key in [
        "minimum",
        "exclusiveMinimum",
        "minLength",
        "minItems",
        "minProperties",
    ] {
        let (o, n) = (effective(old, key, true), effective(new, key, true));
        bound(diff, at, key, o.as_ref(), n.as_ref(), true);
    }
    for key in [
        "maximum",
        "exclusiveMaximum",
        "maxLength",
        "maxItems",
        "maxProperties",
    ] {
        let (o, n) = (effective(old, key, false), effective(new, key, false));
        bound(diff, at, key, o.as_ref(), n.as_ref(), false);
    }
    for key in ["pattern", "format", "multipleOf"] {
        match (old.get(key), new.get(key)) {
            (None, Some(n)) => diff.note(at, Way::Narrows, format!("{key} {n} added")),
            (Some(o), None) => diff.note(at, Way::Widens, format!("{key} {o} removed")),
            (Some(o), Some(n)) if o != n => {
                diff.note(at, Way::Shifts, format!("{key} changed from {o} to {n}"))
            }
            _ => {}
        }
    }
}

/// Required fields: a new one narrows, a dropped one widens.
fn compare_required(diff: &mut Diff, old: &Value, new: &Value, at: &str) {
    let (old_required, new_required) = (required(old), required(new));
    for field in new_required.difference(&old_required) {
        diff.note(
            &format!("{at}/{field}"),
            Way::Narrows,
            "field now required".into(),
        );
    }
    for field in old_required.difference(&new_required) {
        diff.note(
            &format!("{at}/{field}"),
            Way::Widens,
            "field no longer required".into(),
        );
    }
}

/// Properties: each kept one compared in turn; removed and added ones matter only where
/// unknown properties are denied.
fn compare_properties(diff: &mut Diff, old: &Value, new: &Value, at: &str, depth: usize) {
    let (old_props, new_props) = (properties(old), properties(new));
    for (name, old_prop) in &old_props {
        let here = format!("{at}/{name}");
        match new_props.get(name) {
            Some(new_prop) => walk(diff, old_prop, new_prop, &here, depth + 1),
            None if denies_unknown(new) => diff.note(
                &here,
                Way::Narrows,
                "property removed, and unknown properties are denied".into(),
            ),
            // A required one is reported as "no longer required" above.
            None => diff.note(&here, Way::Neutral, "property removed".into()),
        }
    }
    for name in new_props.keys().filter(|n| !old_props.contains_key(*n)) {
        let here = format!("{at}/{name}");
        if denies_unknown(old) {
            diff.note(
                &here,
                Way::Widens,
                "property added where unknown properties were denied".into(),
            );
        } else {
            // A required one is reported as "now required" above.
            diff.note(&here, Way::Neutral, "property added".into());
        }
    }
    match (denies_unknown(old), denies_unknown(new)) {
        (false, true) => diff.note(at, Way::Narrows, "unknown properties now denied".into()),
        (true, false) => diff.note(at, Way::Widens, "unknown properties now allowed".into()),
        _ => {}
    }
}

/// Alternatives that are not plain enumerations, compared branch by branch.
fn compare_alternatives(diff: &mut Diff, old: &Value, new: &Value, at: &str, depth: usize) {
    for key in ["oneOf", "anyOf"] {
        let (o, n) = (
            old.get(key).and_then(Value::as_array),
            new.get(key).and_then(Value::as_array),
        );
        match (o, n) {
            (Some(o), Some(n)) => {
                if n.len() > o.len() {
                    diff.note(
                        at,
                        Way::Widens,
                        format!("{} {key} branch(es) added", n.len() - o.len()),
                    );
                }
                if n.len() < o.len() {
                    diff.note(
                        at,
                        Way::Narrows,
                        format!("{} {key} branch(es) removed", o.len() - n.len()),
                    );
                }
                for (i, (ob, nb)) in o.iter().zip(n).enumerate() {
                    walk(diff, ob, nb, &format!("{at}/{key}/{i}"), depth + 1);
                }
            }
            (None, Some(_)) | (Some(_), None) => {
                diff.note(at, Way::Shifts, format!("{key} added or removed"))
            }
            (None, None) => {}
        }
    }
}

fn bound(
    diff: &mut Diff,
    at: &str,
    key: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    lower: bool,
) {
    // Compared as numbers, printed as written (`18446744073709551615`, not a float).
    fn num(v: Option<&Value>) -> Option<(f64, &Value)> {
        v.and_then(|v| Some((v.as_f64()?, v)))
    }
    match (num(old), num(new)) {
        (None, Some((_, n))) => diff.note(at, Way::Narrows, format!("{key} {n} added")),
        (Some((_, o)), None) => diff.note(at, Way::Widens, format!("{key} {o} removed")),
        (Some((of, o)), Some((nf, n))) if of != nf => {
            let tighter = if lower { nf > of } else { nf < of };
            let way = if tighter { Way::Narrows } else { Way::Widens };
            let how = if tighter { "tightened" } else { "relaxed" };
            diff.note(at, way, format!("{key} {how} from {o} to {n}"));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writing out the range an integer's `format` stands for changes no reader; a bound
    /// inside it still narrows.
    #[test]
    fn a_formats_own_range_written_out_is_no_change() {
        let old = json!({"type": "integer", "format": "uint64", "minimum": 1});
        let spelled = json!({
            "type": "integer", "format": "uint64", "minimum": 1,
            "maximum": 18446744073709551615_u64
        });
        assert_eq!(compare(&old, &spelled, Reader::Server), []);
        assert_eq!(compare(&spelled, &old, Reader::Clients), []);
        let tighter = json!({"type": "integer", "format": "uint64", "minimum": 1, "maximum": 100});
        let changes = compare(&old, &tighter, Reader::Server);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].breaking);
        assert_eq!(
            changes[0].what,
            "maximum tightened from 18446744073709551615 to 100"
        );
    }
}
