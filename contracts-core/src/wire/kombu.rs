//! kombu's JSON type envelopes (`{"__type__": …, "__value__": …}`, kombu ≥ 5.3), turned into
//! the plain JSON the schemas describe (book/src/wire.md, "Messages and properties").
//!
//! A Python caller passing a `datetime`, `date`, `time`, `Decimal` or `UUID` sends an envelope;
//! the Rust types for these (chrono, `rust_decimal`, `uuid`) read the ISO or decimal string
//! inside it. An envelope of any other type is refused with its JSON pointer, where kombu
//! would drop the whole message without a word.

use serde_json::Value;

const TYPE: &str = "__type__";
const VALUE: &str = "__value__";

/// Whether a body might hold an envelope: a byte search, so bodies without one (nearly all)
/// are never walked.
pub(crate) fn may_contain_envelope(body: &[u8]) -> bool {
    body.windows(TYPE.len()).any(|w| w == TYPE.as_bytes())
}

/// Replace every envelope under `value` by its plain form; `pointer` is where `value` sits,
/// for the error.
pub(crate) fn unwrap_envelopes(value: &mut Value, pointer: &str) -> Result<(), String> {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .try_for_each(|(i, item)| unwrap_envelopes(item, &format!("{pointer}/{i}"))),
        Value::Object(map)
            if map.len() == 2 && map.contains_key(TYPE) && map.contains_key(VALUE) =>
        {
            let kind = map[TYPE].as_str().unwrap_or_default().to_owned();
            let inner = map.remove(VALUE).unwrap_or_default();
            *value = plain(&kind, inner).ok_or_else(|| {
                format!(
                    "unsupported kombu type envelope `{kind}` at {}",
                    if pointer.is_empty() { "/" } else { pointer }
                )
            })?;
            Ok(())
        }
        Value::Object(map) => map.iter_mut().try_for_each(|(key, item)| {
            let key = key.replace('~', "~0").replace('/', "~1");
            unwrap_envelopes(item, &format!("{pointer}/{key}"))
        }),
        _ => Ok(()),
    }
}

fn plain(kind: &str, inner: Value) -> Option<Value> {
    match (kind, inner) {
        ("datetime" | "date" | "time" | "decimal", Value::String(s)) => Some(Value::String(s)),
        // kombu encodes a UUID as {"hex": "<32 hex digits>"}.
        ("uuid", Value::Object(fields)) => {
            let hex = fields.get("hex")?.as_str()?;
            let id = uuid::Uuid::try_parse(hex).ok()?;
            Some(Value::String(id.hyphenated().to_string()))
        }
        ("uuid", Value::String(s)) => Some(Value::String(s)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_envelopes_become_strings() {
        let mut v = json!({
            "when": {"__type__": "datetime", "__value__": "2020-01-02T03:04:05"},
            "day": {"__type__": "date", "__value__": "2020-01-02"},
            "price": [{"__type__": "decimal", "__value__": "1.50"}],
            "id": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}},
        });
        unwrap_envelopes(&mut v, "").unwrap();
        assert_eq!(
            v,
            json!({
                "when": "2020-01-02T03:04:05",
                "day": "2020-01-02",
                "price": ["1.50"],
                "id": "12345678-1234-5678-1234-567812345678",
            })
        );
    }

    #[test]
    fn unknown_envelope_names_its_pointer() {
        let mut v = json!({"a": [{"__type__": "pickle", "__value__": "x"}]});
        assert_eq!(
            unwrap_envelopes(&mut v, "/kwargs").unwrap_err(),
            "unsupported kombu type envelope `pickle` at /kwargs/a/0"
        );
    }

    #[test]
    fn a_body_without_the_marker_is_not_walked() {
        assert!(!may_contain_envelope(br#"{"args": [], "kwargs": {}}"#));
        assert!(may_contain_envelope(br#"{"__type__": "x"}"#));
    }
}
