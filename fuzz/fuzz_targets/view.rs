//! Message texts read as views: the reader accepts exactly what serde_json accepts and reads
//! the same value, refuses with serde_json's words, decodes into types as a `Value` does, and
//! a schema gives a view the verdict and failing places it gives the `Value`.
#![no_main]

use contracts_core::validate::{Envelope, MessageValidator, View};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::LazyLock;

/// The keywords contracts generate: closed objects, bounds, formats, patterns, enums.
static SCHEMA: LazyLock<MessageValidator> = LazyLock::new(|| {
    MessageValidator::new(&json!({
        "type": "object",
        "properties": {
            "user_id": {"type": "integer", "minimum": 1, "format": "uint64"},
            "name": {"type": "string", "minLength": 1, "maxLength": 8, "pattern": "^[A-Za-z ]+$"},
            "email": {"type": "string", "format": "email"},
            "tier": {"enum": ["free", "pro"]},
            "scores": {"type": "array", "items": {"type": "number"}, "maxItems": 3, "uniqueItems": true},
            "nested": {"$ref": "#/$defs/Nested"}
        },
        "required": ["user_id"],
        "additionalProperties": false,
        "$defs": {"Nested": {"type": ["object", "null"], "properties": {"at": {"type": "string", "format": "date-time"}}}}
    }))
    .expect("the schema compiles")
});

/// A type to decode into: what a request struct looks like.
#[derive(Debug, PartialEq, Deserialize)]
#[allow(dead_code)]
struct Shape {
    user_id: u64,
    name: Option<String>,
    scores: Option<Vec<f64>>,
    nested: Option<Value>,
}

fuzz_target!(|text: &[u8]| {
    let ours = View::parse(text);
    let theirs = serde_json::from_slice::<Value>(text);
    let (view, value) = match (ours, theirs) {
        (Ok(view), Ok(value)) => (view, value),
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string());
            return;
        }
        (ours, theirs) => panic!("reader {ours:?}, serde_json {theirs:?}"),
    };
    assert_eq!(view.to_value(), value);
    assert_eq!(
        Value::deserialize(&view).map_err(|e| e.to_string()),
        Value::deserialize(&value).map_err(|e| e.to_string())
    );
    // Decoding agrees on the value, or both fail. (With several faults, serde names the first
    // it meets: members come in the message's order from a view, in key order from a `Value`.
    // The wording of each single fault is compared kind by kind in `view/de.rs`'s tests.)
    match (Shape::deserialize(&view), Shape::deserialize(&value)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        (ours, theirs) => panic!("view {ours:?}, value {theirs:?}"),
    }
    // The same verdict, failing at the same places. (A reason that lists members lists
    // them as the message has them for a view, in key order for a `Value`.)
    let pointers = |failures: Vec<contracts_core::validate::Failure>| {
        let mut pointers: Vec<String> = failures.into_iter().map(|f| f.pointer).collect();
        pointers.sort();
        pointers
    };
    assert_eq!(
        SCHEMA.check_view(&view).map_err(pointers),
        SCHEMA.check(&value).map_err(pointers)
    );
    // An envelope keeps each member's own text.
    if let Ok(Envelope::Object { parts, .. }) = Envelope::parse(text) {
        for part in parts {
            let alone: Value = serde_json::from_str(part.text).expect("a member's text is JSON");
            assert_eq!(alone, part.view.to_value());
        }
    }
});
