//! A [`Ty`] as a JSON Schema, written as the generated Rust type's schema comes out of
//! schemars (integers as `int64` with their range, numbers as `double`, a nullable named
//! type as `anyOf` with `null`, other nullables with `null` among their types), so that
//! `contracts check` finds the inferred schemas and the crate's own equal, both ways.

use serde_json::{Map, Value, json};

use super::InferredError;
use super::ty::{Field, Ty};

/// The schema of `ty`, every type inline.
pub(crate) fn of(ty: &Ty) -> Value {
    match ty {
        Ty::Any => Value::Bool(true),
        Ty::Null => json!({"type": "null"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::Int => json!({
            "type": "integer", "format": "int64",
            "minimum": i64::MIN, "maximum": i64::MAX
        }),
        Ty::Float => json!({"type": "number", "format": "double"}),
        Ty::Str(None) => json!({"type": "string"}),
        Ty::Str(Some(format)) => json!({"type": "string", "format": format}),
        Ty::Enum { values, .. } => json!({"type": "string", "enum": values}),
        Ty::Nullable(inner) => nullable(inner),
        Ty::List(items) => json!({"type": "array", "items": of(items)}),
        Ty::Map(values) => json!({"type": "object", "additionalProperties": of(values)}),
        Ty::Record { fields, .. } => object(fields, None),
        Ty::Union { tag, variants, .. } => json!({
            "oneOf": variants
                .iter()
                .map(|v| object(&v.fields, Some((tag, &v.value))))
                .collect::<Vec<_>>()
        }),
    }
}

fn nullable(inner: &Ty) -> Value {
    // Named types, formatted strings (newtypes) among them, are `$ref`s: schemars offers
    // `null` beside the reference rather than among its types.
    if inner.name().is_some() || matches!(inner, Ty::Str(Some(_))) {
        return json!({"anyOf": [of(inner), {"type": "null"}]});
    }
    let mut schema = of(inner);
    if let Some(Value::String(t)) = schema.get("type").cloned() {
        schema["type"] = json!([t, "null"]);
    }
    schema
}

/// A closed object of `fields`, with the tag of its variant first if it is one.
fn object(fields: &[Field], tag: Option<(&String, &String)>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    if let Some((tag, value)) = tag {
        properties.insert(tag.clone(), json!({"type": "string", "const": value}));
        required.push(tag.clone());
    }
    for field in fields {
        properties.insert(field.key.clone(), of(&field.ty));
        // A nullable field is declared `Option<T>`, which the reader may also omit.
        if field.required && !matches!(field.ty, Ty::Nullable(_)) {
            required.push(field.key.clone());
        }
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A whole message's schema: the dialect, a title, a description.
pub(crate) fn message(ty: &Ty, title: &str, description: &str) -> Value {
    let mut schema = match of(ty) {
        Value::Bool(true) => json!({}),
        schema => schema,
    };
    let map = schema.as_object_mut().expect("an object schema");
    map.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    map.insert("title".into(), json!(title));
    map.insert("description".into(), json!(description));
    schema
}

/// A declared error's schema: one `{"<exc_type>": "<message>"}` branch per `exc_type`, as
/// schemars writes an enum of newtype variants.
pub(crate) fn error(error: &InferredError, description: &str) -> Value {
    let branches: Vec<Value> = error
        .variants
        .keys()
        .map(|variant| {
            json!({
                "type": "object",
                "properties": { variant: {"type": "string"} },
                "required": [variant],
                "additionalProperties": false,
            })
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": error.name,
        "description": description,
        "oneOf": branches,
    })
}
