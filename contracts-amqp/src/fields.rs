//! AMQP field tables ⇄ JSON headers.
//!
//! Encoded as py-amqp encodes Python values (book/src/wire.md, "Context headers"), so a Nameko peer decodes
//! exactly what it would have sent: strings as long strings (`S`), integers as `I` or `L` by
//! size, floats as `d`, lists as `A`, dicts as `F`, `None` as `V`.

use contracts_core::transport::Headers;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use serde_json::{Number, Value};

/// JSON headers as an AMQP field table.
pub(crate) fn to_table(headers: &Headers) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in headers {
        table.insert(ShortString::from(key.as_str()), to_amqp(value));
    }
    table
}

fn to_amqp(value: &Value) -> AMQPValue {
    match value {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                match i32::try_from(i) {
                    Ok(small) => AMQPValue::LongInt(small),
                    Err(_) => AMQPValue::LongLongInt(i),
                }
            } else if let Some(u) = n.as_u64() {
                // Beyond i64: AMQP has no wider integer; a decimal string keeps every digit.
                AMQPValue::LongString(LongString::from(u.to_string()))
            } else {
                AMQPValue::Double(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_str())),
        Value::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(to_amqp).collect::<Vec<_>>(),
        )),
        Value::Object(map) => AMQPValue::FieldTable(to_table(map)),
    }
}

/// An AMQP field table as JSON headers.
pub(crate) fn from_table(table: &FieldTable) -> Headers {
    table
        .inner()
        .iter()
        .map(|(key, value)| (key.as_str().to_owned(), from_amqp(value)))
        .collect()
}

fn from_amqp(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(i) => Value::from(*i),
        AMQPValue::ShortShortUInt(u) => Value::from(*u),
        AMQPValue::ShortInt(i) => Value::from(*i),
        AMQPValue::ShortUInt(u) => Value::from(*u),
        AMQPValue::LongInt(i) => Value::from(*i),
        AMQPValue::LongUInt(u) => Value::from(*u),
        AMQPValue::LongLongInt(i) => Value::from(*i),
        AMQPValue::Timestamp(t) => Value::from(*t),
        AMQPValue::Float(f) => float(f64::from(*f)),
        AMQPValue::Double(d) => float(*d),
        AMQPValue::DecimalValue(d) => float(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        // py-amqp decodes a non-UTF-8 `S` to bytes; JSON has no bytes, so keep what decodes.
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::ByteArray(b) => Value::String(String::from_utf8_lossy(b.as_slice()).into()),
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(from_amqp).collect())
        }
        AMQPValue::FieldTable(t) => Value::Object(from_table(t)),
        AMQPValue::Void => Value::Null,
    }
}

/// JSON cannot hold NaN or infinities; they become null rather than failing the message.
fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nameko_header_shapes_round_trip() {
        let headers = json!({
            "nameko.call_id_stack": ["standalone_rpc_proxy.call.1", "svc.m.2"],
            "nameko.user_id": 7,
            "nameko.big": 1_i64 << 40,
            "nameko.flag": true,
            "nameko.ratio": 0.5,
            "nameko.nested": {"a": [1, "x", null]},
            "nameko.none": null,
        });
        let Value::Object(headers) = headers else {
            unreachable!()
        };
        assert_eq!(from_table(&to_table(&headers)), headers);
    }

    #[test]
    fn integers_use_py_amqp_widths() {
        let table =
            to_table(&serde_json::from_str(r#"{"small": 7, "large": 4294967296}"#).unwrap());
        assert!(matches!(
            table.inner().get("small"),
            Some(AMQPValue::LongInt(7))
        ));
        assert!(matches!(
            table.inner().get("large"),
            Some(AMQPValue::LongLongInt(4294967296))
        ));
    }

    #[test]
    fn strings_are_long_strings() {
        let table = to_table(&serde_json::from_str(r#"{"s": "héllo"}"#).unwrap());
        assert!(matches!(
            table.inner().get("s"),
            Some(AMQPValue::LongString(_))
        ));
    }
}
