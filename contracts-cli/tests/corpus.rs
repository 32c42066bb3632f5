//! The compatibility corpus: schema changes with the verdict each reader should get.
//! `server` reads requests (narrowing breaks), `clients` read replies, errors and events
//! (widening breaks).

use contracts_cli::compat::{Reader, compare};
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    reader: Reader,
    old: Value,
    new: Value,
    breaking: bool,
    /// A word the breaking (or, if none, the first) change must mention.
    mentions: &'static str,
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

fn strict(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn corpus() -> Vec<Case> {
    use Reader::{Clients, Server};
    let name = json!({"type": "string"});
    let id = json!({"type": "integer", "minimum": 1});
    vec![
        // --- read by the server: narrowing breaks ---
        Case {
            name: "request: new required field",
            reader: Server,
            old: obj(json!({"name": name}), &["name"]),
            new: obj(json!({"name": name, "id": id}), &["name", "id"]),
            breaking: true,
            mentions: "now required",
        },
        Case {
            name: "request: new optional field",
            reader: Server,
            old: obj(json!({"name": name}), &["name"]),
            new: obj(json!({"name": name, "id": id}), &["name"]),
            breaking: false,
            mentions: "property added",
        },
        Case {
            name: "request: field no longer required",
            reader: Server,
            old: obj(json!({"name": name}), &["name"]),
            new: obj(json!({"name": name}), &[]),
            breaking: false,
            mentions: "no longer required",
        },
        Case {
            name: "request: type narrowed number -> integer",
            reader: Server,
            old: json!({"type": "number"}),
            new: json!({"type": "integer"}),
            breaking: true,
            mentions: "no longer admits",
        },
        Case {
            name: "request: type widened integer -> number",
            reader: Server,
            old: json!({"type": "integer"}),
            new: json!({"type": "number"}),
            breaking: false,
            mentions: "also admits",
        },
        Case {
            name: "request: nullable removed",
            reader: Server,
            old: json!({"type": ["string", "null"]}),
            new: json!({"type": "string"}),
            breaking: true,
            mentions: "null",
        },
        Case {
            name: "request: enum value removed",
            reader: Server,
            old: json!({"enum": ["free", "pro"]}),
            new: json!({"enum": ["free"]}),
            breaking: true,
            mentions: "removed",
        },
        Case {
            name: "request: enum value added",
            reader: Server,
            old: json!({"enum": ["free"]}),
            new: json!({"enum": ["free", "pro"]}),
            breaking: false,
            mentions: "added",
        },
        Case {
            name: "request: maxLength tightened",
            reader: Server,
            old: json!({"type": "string", "maxLength": 100}),
            new: json!({"type": "string", "maxLength": 50}),
            breaking: true,
            mentions: "maxLength tightened",
        },
        Case {
            name: "request: maxLength relaxed",
            reader: Server,
            old: json!({"type": "string", "maxLength": 50}),
            new: json!({"type": "string", "maxLength": 100}),
            breaking: false,
            mentions: "relaxed",
        },
        Case {
            name: "request: minimum added",
            reader: Server,
            old: json!({"type": "integer"}),
            new: json!({"type": "integer", "minimum": 1}),
            breaking: true,
            mentions: "minimum",
        },
        Case {
            name: "request: minimum removed",
            reader: Server,
            old: json!({"type": "integer", "minimum": 1}),
            new: json!({"type": "integer"}),
            breaking: false,
            mentions: "minimum",
        },
        Case {
            name: "request: pattern added",
            reader: Server,
            old: json!({"type": "string"}),
            new: json!({"type": "string", "pattern": "^[a-z]+$"}),
            breaking: true,
            mentions: "pattern",
        },
        Case {
            name: "request: pattern changed",
            reader: Server,
            old: json!({"type": "string", "pattern": "^[a-z]+$"}),
            new: json!({"type": "string", "pattern": "^[0-9]+$"}),
            breaking: true,
            mentions: "pattern changed",
        },
        Case {
            name: "request: property removed, unknown denied",
            reader: Server,
            old: strict(json!({"name": name, "nick": name}), &["name"]),
            new: strict(json!({"name": name}), &["name"]),
            breaking: true,
            mentions: "unknown properties are denied",
        },
        Case {
            name: "request: property removed, unknown allowed",
            reader: Server,
            old: obj(json!({"name": name, "nick": name}), &["name"]),
            new: obj(json!({"name": name}), &["name"]),
            breaking: false,
            mentions: "property removed",
        },
        Case {
            name: "request: unknown properties now denied",
            reader: Server,
            old: obj(json!({"name": name}), &[]),
            new: strict(json!({"name": name}), &[]),
            breaking: true,
            mentions: "now denied",
        },
        Case {
            name: "request: nested field through $ref tightened",
            reader: Server,
            old: json!({"type": "object", "properties": {"user": {"$ref": "#/$defs/User"}},
                "$defs": {"User": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 100}}}}}),
            new: json!({"type": "object", "properties": {"user": {"$ref": "#/$defs/User"}},
                "$defs": {"User": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}}}),
            breaking: true,
            mentions: "maxLength",
        },
        Case {
            name: "request: array items narrowed",
            reader: Server,
            old: json!({"type": "array", "items": {"type": "number"}}),
            new: json!({"type": "array", "items": {"type": "integer"}}),
            breaking: true,
            mentions: "no longer admits",
        },
        Case {
            name: "request: format added",
            reader: Server,
            old: json!({"type": "string"}),
            new: json!({"type": "string", "format": "email"}),
            breaking: true,
            mentions: "format",
        },
        Case {
            name: "request: doc comment changed only",
            reader: Server,
            old: json!({"type": "string", "description": "old"}),
            new: json!({"type": "string", "description": "new"}),
            breaking: false,
            mentions: "",
        },
        // --- read by clients and subscribers: widening breaks ---
        Case {
            name: "reply: enum value added",
            reader: Clients,
            old: json!({"enum": ["success"]}),
            new: json!({"enum": ["success", "partial"]}),
            breaking: true,
            mentions: "added",
        },
        Case {
            name: "reply: enum value removed",
            reader: Clients,
            old: json!({"enum": ["success", "partial"]}),
            new: json!({"enum": ["success"]}),
            breaking: false,
            mentions: "removed",
        },
        Case {
            name: "reply: oneOf const branch added (schemars enum)",
            reader: Clients,
            old: json!({"oneOf": [{"const": "a"}, {"const": "b"}]}),
            new: json!({"oneOf": [{"const": "a"}, {"const": "b"}, {"const": "c"}]}),
            breaking: true,
            mentions: "added",
        },
        Case {
            name: "reply: oneOf object branch added",
            reader: Clients,
            old: json!({"oneOf": [obj(json!({"a": name}), &["a"])]}),
            new: json!({"oneOf": [obj(json!({"a": name}), &["a"]), obj(json!({"b": name}), &["b"])]}),
            breaking: true,
            mentions: "branch",
        },
        Case {
            name: "reply: field no longer required",
            reader: Clients,
            old: obj(json!({"user_id": id}), &["user_id"]),
            new: obj(json!({"user_id": id}), &[]),
            breaking: true,
            mentions: "no longer required",
        },
        Case {
            name: "reply: field now required",
            reader: Clients,
            old: obj(json!({"user_id": id}), &[]),
            new: obj(json!({"user_id": id}), &["user_id"]),
            breaking: false,
            mentions: "now required",
        },
        Case {
            name: "reply: type widened",
            reader: Clients,
            old: json!({"type": "integer"}),
            new: json!({"type": ["integer", "null"]}),
            breaking: true,
            mentions: "also admits",
        },
        Case {
            name: "reply: type narrowed",
            reader: Clients,
            old: json!({"type": ["integer", "null"]}),
            new: json!({"type": "integer"}),
            breaking: false,
            mentions: "no longer admits",
        },
        Case {
            name: "event: property added where the old schema denied unknown ones",
            reader: Clients,
            old: strict(json!({"user_id": id}), &["user_id"]),
            new: strict(json!({"user_id": id, "email": name}), &["user_id"]),
            breaking: true,
            mentions: "were denied",
        },
        Case {
            name: "event: optional property added, unknown allowed",
            reader: Clients,
            old: obj(json!({"user_id": id}), &["user_id"]),
            new: obj(json!({"user_id": id, "email": name}), &["user_id"]),
            breaking: false,
            mentions: "property added",
        },
        Case {
            name: "event: maximum relaxed",
            reader: Clients,
            old: json!({"type": "integer", "maximum": 10}),
            new: json!({"type": "integer", "maximum": 100}),
            breaking: true,
            mentions: "relaxed",
        },
        Case {
            name: "event: minLength tightened",
            reader: Clients,
            old: json!({"type": "string"}),
            new: json!({"type": "string", "minLength": 1}),
            breaking: false,
            mentions: "minLength",
        },
        Case {
            name: "error: unknown properties now allowed",
            reader: Clients,
            old: strict(json!({"user_id": id}), &[]),
            new: obj(json!({"user_id": id}), &[]),
            breaking: true,
            mentions: "now allowed",
        },
    ]
}

#[test]
fn every_case_gets_its_verdict() {
    let cases = corpus();
    assert!(cases.len() >= 25, "the corpus holds {} cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let changes = compare(&case.old, &case.new, case.reader);
        let breaking = changes.iter().any(|c| c.breaking);
        let relevant = changes
            .iter()
            .find(|c| c.breaking == case.breaking)
            .or(changes.first());
        let mentioned =
            case.mentions.is_empty() || relevant.is_some_and(|c| c.what.contains(case.mentions));
        if breaking != case.breaking || !mentioned {
            wrong.push(format!(
                "{}: expected breaking={} mentioning {:?}, got {changes:?}",
                case.name, case.breaking, case.mentions
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} case(s) wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn an_unchanged_schema_has_no_changes() {
    for case in corpus() {
        assert_eq!(
            compare(&case.old, &case.old, case.reader),
            vec![],
            "{}",
            case.name
        );
    }
}
