//! The OpenAPI 3.1 document of a gateway's routes, made from the contracts' own schemas.
//!
//! Every method is `POST /<service>/<method>`: its request schema is the body, its reply
//! schema the `200` answer, its declared error the `400` one (or the status the gateway maps
//! it to), and the gateway's own answers (`422` with a validation error's failures, `4xx` and
//! `5xx` problems) are shared components. Message schemas' `$defs` move to
//! `components.schemas` as `<service>_<Name>`, since OpenAPI 3.1 resolves a `$ref` against
//! the whole document ([`Components`], which the AsyncAPI document uses too).

use std::collections::{BTreeMap, HashMap};

use contracts_core::contract::ServiceContract;
use serde_json::{Map, Value, json};

/// The document for `services`, each declared error answered with `400` unless
/// `statuses` maps its `exc_path` to another status code.
pub fn document<'a>(
    services: impl IntoIterator<Item = &'a ServiceContract>,
    statuses: &HashMap<String, u16>,
) -> Value {
    let mut components = Components::default();
    let mut paths = Map::new();
    let mut tags = Vec::new();
    for service in services {
        let name = &service.name;
        tags.push(json!({
            "name": name,
            "description": service.doc.clone().unwrap_or_else(|| format!("The `{name}` service.")),
        }));
        for method in &service.methods {
            let doc = method.doc.clone().unwrap_or_default();
            let summary = doc.lines().next().unwrap_or_default().to_owned();
            let mut responses = Map::new();
            responses.insert(
                "200".into(),
                json!({
                    "description": "The method's reply.",
                    "content": content(components.adopt(name, &method.reply.schema)),
                }),
            );
            let problem = json!({"$ref": "#/components/schemas/Problem"});
            let mut bad_request = vec![problem.clone()];
            if let Some(error) = &method.error {
                let status = statuses.get(&error.exc_path).copied().unwrap_or(400);
                let schema = components.adopt(name, &error.message.schema);
                let description = format!(
                    "The method's declared error (`{}`), its value as the body.",
                    error.exc_path
                );
                if status == 400 {
                    bad_request.insert(0, schema);
                } else {
                    responses.insert(
                        status.to_string(),
                        json!({"description": description, "content": content(schema)}),
                    );
                }
            }
            let bad_request = match bad_request.len() {
                1 => problem,
                _ => json!({"anyOf": bad_request}),
            };
            responses.insert(
                "400".into(),
                json!({
                    "description": "The body is not JSON, or the service refused the arguments; with a declared error on 400, that error's value.",
                    "content": content(bad_request),
                }),
            );
            for status in ["404", "413", "415", "422", "502", "503", "504"] {
                responses.insert(
                    status.into(),
                    json!({"$ref": format!("#/components/responses/{status}")}),
                );
            }
            let mut operation = json!({
                "tags": [name],
                "operationId": format!("{name}.{}", method.name),
                "requestBody": {
                    "required": true,
                    "content": content(components.adopt(name, &method.request.schema)),
                },
                "responses": responses,
            });
            if !doc.is_empty() {
                operation["summary"] = summary.into();
                operation["description"] = doc.into();
            }
            paths.insert(
                format!("/{name}/{}", method.name),
                json!({"post": operation}),
            );
        }
    }
    let mut schemas = components.schemas;
    schemas.insert("Problem".into(), problem_schema());
    schemas.insert("ValidationError".into(), validation_error_schema());
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "contracts HTTP gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Each method of each service is POST /<service>/<method>, its arguments by name as the JSON body, called over the broker in Nameko's wire form. Bodies are checked against the same JSON Schemas the services check.",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": gateway_responses(),
        },
    })
}

fn content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn problem_schema() -> Value {
    json!({
        "description": "Why the gateway answered without a reply.",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {
                        "description": "not_found, method_not_allowed, unsupported_media_type, bad_json, bad_body, bad_request, method_not_found, invalid_reply, remote_error, timeout, unknown_service, unavailable or protocol_error.",
                        "type": "string",
                    },
                    "message": {"type": "string"},
                },
            },
        },
    })
}

fn validation_error_schema() -> Value {
    json!({
        "description": "A message that breaks its contract: the one the services send.",
        "type": "object",
        "required": ["service", "method", "direction", "failures"],
        "properties": {
            "service": {"type": "string"},
            "method": {"type": "string"},
            "direction": {"enum": ["request", "reply", "error", "event"]},
            "failures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pointer", "reason"],
                    "properties": {
                        "pointer": {"description": "A JSON pointer into the body.", "type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    })
}

fn gateway_responses() -> Value {
    let problem = |description: &str| {
        json!({
            "description": description,
            "content": content(json!({"$ref": "#/components/schemas/Problem"})),
        })
    };
    json!({
        "404": problem("No such service or method here."),
        "413": problem("The body is larger than the gateway accepts."),
        "415": problem("The body is not application/json."),
        "422": {
            "description": "The body breaks the method's request schema: every failure, with its JSON pointer.",
            "content": content(json!({"$ref": "#/components/schemas/ValidationError"})),
        },
        "502": problem("The service raised an error it does not declare, or its reply breaks the contract."),
        "503": problem("The broker is unreachable, or no instance serves the service."),
        "504": problem("No reply within the gateway's deadline."),
    })
}

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
