//! Message schemas gathered into one document: each message's `$defs` become shared
//! components, since AsyncAPI and OpenAPI resolve a `$ref` against the whole document.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A name usable as a component key (`^[a-zA-Z0-9._-]+$`).
pub fn component_key(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// Message schemas made fit for a document that holds many: each schema's `$defs` move to
/// `#/components/schemas/<service>_<Name>` (a name two messages define differently is
/// numbered), its `$ref`s rewritten to point there, `$schema` dropped.
#[derive(Debug, Default)]
pub struct Components {
    /// The moved definitions, by component name.
    pub schemas: Map<String, Value>,
    /// Each component's definition as first seen, before its `$ref`s were rewritten.
    raw: BTreeMap<String, Value>,
}

impl Components {
    /// `schema` of a message of `service`, its definitions moved here.
    pub fn adopt(&mut self, service: &str, schema: &Value) -> Value {
        let mut schema = schema.clone();
        let mut renames = BTreeMap::new();
        if let Some(Value::Object(defs)) = schema.as_object_mut().and_then(|s| s.remove("$defs")) {
            for (name, def) in &defs {
                let mut component = component_key(&[service, name]);
                let mut n = 2;
                while self.raw.get(&component).is_some_and(|seen| seen != def) {
                    component = format!("{}_{n}", component_key(&[service, name]));
                    n += 1;
                }
                self.raw.insert(component.clone(), def.clone());
                renames.insert(name.clone(), component);
            }
            for (name, mut def) in defs {
                rewrite(&mut def, &renames);
                self.schemas.insert(renames[&name].clone(), def);
            }
        }
        rewrite(&mut schema, &renames);
        schema
    }
}

fn rewrite(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref")
                && let Some(name) = target.strip_prefix("#/$defs/")
                && let Some(component) = renames.get(name)
            {
                *target = format!("#/components/schemas/{component}");
            }
            map.remove("$schema");
            for v in map.values_mut() {
                rewrite(v, renames);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, renames)),
        _ => {}
    }
}
