//! The OpenAPI 3.1 document of a gateway's routes, made from the contracts' own schemas.
//!
//! Every method is `POST /<service>/<method>`: its request schema is the body, its reply
//! schema the `200` answer, its declared error the `400` one (or the status the gateway maps
//! it to), and the gateway's own answers (`422` with a validation error's failures, `4xx` and
//! `5xx` problems) are shared components. Message schemas' `$defs` move to
//! `components.schemas` as `<service>_<Name>`, since OpenAPI 3.1 resolves a `$ref` against
//! the whole document ([`Components`], which the AsyncAPI document uses too). The problems
//! the gateway answers with are [`Problem`]'s kinds, each with its own status and description.

use std::collections::HashMap;

use contracts_core::ValidationError;
use contracts_core::contract::ServiceContract;
use contracts_core::wire::topology;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::components::Components;
use crate::problem::Problem;

/// The statuses every operation may answer with besides its reply, its declared error and
/// `400`: the gateway's own problems and `422` (405 is for other verbs than `POST`).
const GATEWAY_STATUSES: [u16; 7] = [404, 413, 415, 422, 502, 503, 504];

/// The status of a body that breaks the method's request schema, answered with a
/// [`ValidationError`].
pub const INVALID_REQUEST_STATUS: u16 = 422;

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
            let mut description = describe(400);
            if bad_request.len() > 1 {
                description.push_str(" Or the method's declared error, its value as the body.");
            }
            let bad_request = match bad_request.len() {
                1 => problem,
                _ => json!({"anyOf": bad_request}),
            };
            responses.insert(
                "400".into(),
                json!({"description": description, "content": content(bad_request)}),
            );
            for status in GATEWAY_STATUSES {
                responses.insert(
                    status.to_string(),
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
    json!({ topology::CONTENT_TYPE_JSON: {"schema": schema} })
}

/// What the kinds of problem answered with `status` mean, one sentence each.
fn describe(status: u16) -> String {
    let sentences: Vec<&str> = Problem::with_status(status)
        .map(Problem::description)
        .collect();
    sentences.join(" ")
}

fn problem_schema() -> Value {
    let kinds: Vec<&str> = Problem::ALL.iter().map(|p| p.name()).collect();
    json!({
        "description": "Why the gateway answered without a reply.",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {"description": "The kind of problem.", "enum": kinds},
                    "message": {"type": "string"},
                },
            },
        },
    })
}

/// The schema of [`ValidationError`], from the type itself.
fn validation_error_schema() -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
        .into_root_schema_for::<ValidationError>()
        .to_value();
    if let Some(schema) = schema.as_object_mut() {
        schema.remove("$schema");
    }
    schema
}

fn gateway_responses() -> Value {
    let responses: Map<String, Value> = GATEWAY_STATUSES
        .iter()
        .map(|&status| {
            let response = if status == INVALID_REQUEST_STATUS {
                json!({
                    "description": "The body breaks the method's request schema: every failure, with its JSON pointer.",
                    "content": content(json!({"$ref": "#/components/schemas/ValidationError"})),
                })
            } else {
                json!({
                    "description": describe(status),
                    "content": content(json!({"$ref": "#/components/schemas/Problem"})),
                })
            };
            (status.to_string(), response)
        })
        .collect();
    Value::Object(responses)
}
