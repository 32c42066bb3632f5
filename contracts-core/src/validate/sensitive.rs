//! Values a contract marks sensitive never appear in what is said about a message.
//!
//! A schema marks a value sensitive with `"x-sensitive": true` — `#[sensitive]` on a method's
//! argument writes it, and so does `#[schemars(extend("x-sensitive" = true))]` on a struct
//! field — as Nameko's `sensitive_arguments` marks arguments. The runtime never logs or traces
//! message values; the one place they could leak is the reason a message failed its contract,
//! which quotes the offending value (`"hunter2" is shorter than 8 characters`) and travels in
//! error replies, log lines and errors. Every such reason has each sensitive value of its
//! message (strings, numbers, anything under a sensitive object or array) replaced by
//! `[REDACTED]` before it leaves the validator.

use serde_json::Value;

use super::Failure;

/// The schema keyword that marks a value sensitive.
pub const KEYWORD: &str = "x-sensitive";

/// How deep `$ref`s are followed while looking for marks: far past any real contract, short
/// of a recursive type's endless one.
const MAX_DEPTH: usize = 32;

/// One step of a path into a message: a named member, or any member or element.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Any,
}

/// Where a message's sensitive values sit, as read off its schema.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sensitive {
    paths: Vec<Vec<Step>>,
}

impl Sensitive {
    /// The sensitive locations `schema` marks.
    pub fn of(schema: &Value) -> Self {
        let mut found = Self::default();
        found.walk(schema, schema, &mut Vec::new(), 0);
        found.paths.dedup();
        found
    }

    /// Whether the schema marks nothing.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    fn walk(&mut self, schema: &Value, root: &Value, path: &mut Vec<Step>, depth: usize) {
        let Value::Object(schema) = schema else {
            return;
        };
        if depth > MAX_DEPTH {
            return;
        }
        if schema.get(KEYWORD) == Some(&Value::Bool(true)) {
            self.paths.push(path.clone());
            return;
        }
        if let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer))
        {
            self.walk(target, root, path, depth + 1);
        }
        for combined in ["allOf", "anyOf", "oneOf"] {
            for sub in schema
                .get(combined)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.walk(sub, root, path, depth + 1);
            }
        }
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, sub) in properties {
                path.push(Step::Key(name.clone()));
                self.walk(sub, root, path, depth + 1);
                path.pop();
            }
        }
        let any_member = ["additionalProperties", "items"]
            .into_iter()
            .filter_map(|k| schema.get(k))
            .chain(
                ["patternProperties", "prefixItems"]
                    .into_iter()
                    .filter_map(|k| schema.get(k))
                    .flat_map(|v| match v {
                        Value::Object(map) => map.values().collect::<Vec<_>>(),
                        Value::Array(items) => items.iter().collect(),
                        _ => Vec::new(),
                    }),
            );
        for sub in any_member.collect::<Vec<_>>() {
            path.push(Step::Any);
            self.walk(sub, root, path, depth + 1);
            path.pop();
        }
    }

    /// Every failure reason, with the sensitive values of `message` replaced.
    pub fn redact(&self, message: &Value, failures: &mut [Failure]) {
        if self.is_empty() {
            return;
        }
        let secrets = self.secrets(message);
        for failure in failures {
            for secret in &secrets {
                if failure.reason.contains(secret.as_str()) {
                    failure.reason = failure.reason.replace(secret.as_str(), "[REDACTED]");
                }
            }
        }
    }

    /// The texts under which `message`'s sensitive values could be quoted, longest first (so
    /// that a value inside another is not left half-replaced).
    fn secrets(&self, message: &Value) -> Vec<String> {
        let mut values = Vec::new();
        for path in &self.paths {
            at(message, path, &mut values);
        }
        let mut texts = Vec::new();
        for value in values {
            scalars(value, &mut texts);
        }
        texts.sort_by_key(|t| std::cmp::Reverse(t.len()));
        texts.dedup();
        texts
    }
}

/// The values at `path` in `value`.
fn at<'v>(value: &'v Value, path: &[Step], out: &mut Vec<&'v Value>) {
    let Some((step, rest)) = path.split_first() else {
        out.push(value);
        return;
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => {
            if let Some(member) = map.get(key) {
                at(member, rest, out);
            }
        }
        (Step::Any, Value::Object(map)) => map.values().for_each(|v| at(v, rest, out)),
        (Step::Any, Value::Array(items)) => items.iter().for_each(|v| at(v, rest, out)),
        _ => {}
    }
}

/// The texts a scalar (or every scalar inside a container) can be quoted as: JSON's quoting
/// (jsonschema's messages) and Rust's (serde's), and a number's digits.
fn scalars(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.is_empty() => {
            out.push(Value::String(s.clone()).to_string());
            out.push(format!("{s:?}"));
        }
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| scalars(v, out)),
        Value::Object(map) => map.values().for_each(|v| scalars(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(reason: &str) -> Failure {
        Failure {
            pointer: String::new(),
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn marks_are_found_through_refs_arrays_and_combinators() {
        let schema = json!({
            "type": "object",
            "properties": {
                "password": {"type": "string", "x-sensitive": true},
                "user": {"$ref": "#/$defs/User"},
                "keys": {"type": "array", "items": {"type": "string", "x-sensitive": true}},
                "either": {"anyOf": [{"$ref": "#/$defs/User"}, {"type": "null"}]},
            },
            "$defs": {"User": {"type": "object", "properties": {
                "name": {"type": "string"},
                "token": {"x-sensitive": true, "type": "object"},
            }}}
        });
        let sensitive = Sensitive::of(&schema);
        let message = json!({
            "password": "hunter2",
            "user": {"name": "ann", "token": {"value": "tok-123", "pin": 4321}},
            "keys": ["k-one", "k-two"],
            "either": {"name": "bob", "token": {"value": "tok-456"}},
        });
        let mut failures = vec![
            failure(r#""hunter2" is shorter than 8 characters"#),
            failure(r#"{"pin":4321,"value":"tok-123"} is not valid"#),
            failure(r#"invalid type: string "k-two", expected u64"#),
            failure(r#""tok-456" and "ann" and "bob""#),
        ];
        sensitive.redact(&message, &mut failures);
        let reasons: Vec<&str> = failures.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "[REDACTED] is shorter than 8 characters",
                r#"{"pin":[REDACTED],"value":[REDACTED]} is not valid"#,
                "invalid type: string [REDACTED], expected u64",
                r#"[REDACTED] and "ann" and "bob""#,
            ]
        );
    }

    #[test]
    fn a_recursive_schema_ends() {
        let schema = json!({"$ref": "#/$defs/Node", "$defs": {"Node": {
            "type": "object",
            "properties": {"next": {"$ref": "#/$defs/Node"}, "secret": {"x-sensitive": true}}
        }}});
        let sensitive = Sensitive::of(&schema);
        let mut failures = vec![failure(r#""deep" leaked"#)];
        sensitive.redact(&json!({"next": {"secret": "deep"}}), &mut failures);
        assert_eq!(failures[0].reason, "[REDACTED] leaked");
    }

    #[test]
    fn unmarked_schemas_change_nothing() {
        let sensitive = Sensitive::of(&json!({"properties": {"a": {"type": "string"}}}));
        assert!(sensitive.is_empty());
        let mut failures = vec![failure(r#""a" is wrong"#)];
        sensitive.redact(&json!({"a": "a"}), &mut failures);
        assert_eq!(failures[0].reason, r#""a" is wrong"#);
    }
}
