//! A message schema as the page shows it: a table of fields (nested for referenced objects)
//! or, for a schema that is not an object, a one-line summary of its type.

use contracts_core::contract::resolve_ref as resolve;
use serde::Serialize;
use serde_json::Value;

/// One field of an object schema.
#[derive(Debug, Serialize)]
pub(super) struct Field {
    name: String,
    summary: String,
    required: bool,
    description: String,
    /// The fields of a referenced object, two levels deep at most.
    nested: Vec<Field>,
}

/// How deep referenced objects unfold inside a field table.
const MAX_DEPTH: usize = 2;

/// The fields of `schema` if it is an object schema, read in the context of its `root`
/// (where `$ref`s point).
pub(super) fn fields(root: &Value, schema: &Value) -> Option<Vec<Field>> {
    fields_at(root, schema, 0)
}

fn fields_at(root: &Value, schema: &Value, depth: usize) -> Option<Vec<Field>> {
    let schema = resolve(root, schema);
    let props = schema.get("properties").and_then(Value::as_object)?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    Some(
        props
            .iter()
            .map(|(name, prop)| {
                let target = resolve(root, prop);
                let description = prop
                    .get("description")
                    .or_else(|| target.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let nested = if depth < MAX_DEPTH {
                    fields_at(root, target, depth + 1).unwrap_or_default()
                } else {
                    Vec::new()
                };
                Field {
                    name: name.clone(),
                    summary: summary(root, prop),
                    required: required.contains(&name.as_str()),
                    description: description.to_owned(),
                    nested,
                }
            })
            .collect(),
    )
}

/// A short description of a schema's type: `string`, `integer, ≥ 1`, `UserData`, `one of …`.
pub(super) fn summary(root: &Value, schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    let schema = resolve(root, schema);
    let mut out = kind(root, schema);
    for (key, label) in [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("pattern", "matches"),
        ("format", "format"),
    ] {
        if let Some(v) = schema.get(key) {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            out.push_str(&format!(", {label} {v}"));
        }
    }
    if out.is_empty() { "any".into() } else { out }
}

/// The type part of [`summary`], before its bounds: the most specific of `type`, `enum`,
/// `const`, `oneOf`/`anyOf` and `items`.
fn kind(root: &Value, schema: &Value) -> String {
    let join = |parts: Vec<String>, sep: &str| parts.join(sep);
    if let Some(items) = schema.get("items") {
        return format!("array of {}", summary(root, items));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let parts = branches.iter().map(|b| summary(root, b)).collect();
            return format!("one of: {}", join(parts, "; "));
        }
    }
    if let Some(value) = schema.get("const") {
        return format!("= {value}");
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let parts = values.iter().map(Value::to_string).collect();
        return format!("one of {}", join(parts, ", "));
    }
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => {
            let parts = ts
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            join(parts, " | ")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_name_types_and_bounds() {
        let root = json!({"$defs": {"User": {"type": "object"}}});
        assert_eq!(
            summary(&root, &json!({"type": "integer", "minimum": 1})),
            "integer, ≥ 1"
        );
        assert_eq!(summary(&root, &json!({"$ref": "#/$defs/User"})), "User");
        assert_eq!(
            summary(&root, &json!({"enum": ["a", "b"]})),
            "one of \"a\", \"b\""
        );
        assert_eq!(
            summary(
                &root,
                &json!({"type": "array", "items": {"type": "string"}})
            ),
            "array of string"
        );
        assert_eq!(summary(&root, &json!({})), "any");
    }

    #[test]
    fn referenced_objects_unfold() {
        let schema = json!({
            "type": "object",
            "required": ["user"],
            "properties": {"user": {"$ref": "#/$defs/User"}},
            "$defs": {"User": {"type": "object", "properties": {"id": {"type": "integer"}}}}
        });
        let rows = fields(&schema, &schema).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].required);
        assert_eq!(rows[0].nested[0].name, "id");
        assert!(fields(&schema, &json!({"type": "string"})).is_none());
    }
}
