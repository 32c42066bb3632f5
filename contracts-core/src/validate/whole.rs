//! Whole numbers written with a fraction or an exponent (`5.0`, `1e3`): JSON Schema counts
//! them as integers, so the decoders must too, or a payload the schema accepts would be
//! refused by the Rust types it decodes into (a Python caller's id that went through a float,
//! say).

use std::borrow::Cow;

use serde_json::{Number, Value};

/// The most digits a whole number's text may grow to: more than any integer type holds
/// (`u128::MAX` has 39), so `1e1000000` is not spelled out to be refused.
const MAX_DIGITS: usize = 40;

/// `digits` (a JSON number's text) as plain integer digits when it is a whole number written
/// with a fraction or an exponent; `None` when it is not whole, or already plain, or too long
/// for any integer type.
pub(crate) fn integer_digits(digits: &str) -> Option<String> {
    if !digits.contains(['.', 'e', 'E']) {
        return None;
    }
    let (negative, unsigned) = match digits.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, digits),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut significant: String = [whole, fraction].concat();
    // The value is `significant × 10^shift`.
    let shift = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    if shift < 0 {
        let dropped = usize::try_from(-shift).ok()?;
        let kept = significant.len().checked_sub(dropped);
        let tail = kept.map_or(significant.as_str(), |kept| &significant[kept..]);
        if tail.bytes().any(|b| b != b'0') {
            return None;
        }
        significant.truncate(kept.unwrap_or(0));
    } else {
        let zeros = usize::try_from(shift).ok()?;
        if significant.len().saturating_add(zeros) > MAX_DIGITS {
            return None;
        }
        significant.extend(std::iter::repeat_n('0', zeros));
    }
    let trimmed = significant.trim_start_matches('0');
    let magnitude = if trimmed.is_empty() { "0" } else { trimmed };
    if magnitude.len() > MAX_DIGITS {
        return None;
    }
    Some(if negative && magnitude != "0" {
        format!("-{magnitude}")
    } else {
        magnitude.to_owned()
    })
}

/// `value` with every number as serde can hand it to any type: a whole number written with a
/// fraction or an exponent as an integer, and an integer wider than 64 bits as the float
/// nearest to it (serde buffers an internally tagged enum's fields in a form with no room for
/// wider integers, and refuses the whole message for one in a field the type ignores).
/// Borrowed as it is when no number needs it.
pub(crate) fn integers(value: &Value) -> Cow<'_, Value> {
    if has_whole_fraction(value) {
        let mut owned = value.clone();
        rewrite(&mut owned);
        Cow::Owned(owned)
    } else {
        Cow::Borrowed(value)
    }
}

fn whole(number: &Number) -> Option<Number> {
    // Numbers keep their text (serde_json's `arbitrary_precision`): read it, not a float.
    let digits = integer_digits(number.as_str())
        .or_else(|| (!number.as_str().contains(['.', 'e', 'E'])).then(|| number.to_string()))?;
    if digits.parse::<u64>().is_ok() || digits.parse::<i64>().is_ok() {
        // Already plain and within 64 bits: nothing to rewrite.
        return (digits != number.as_str()).then(|| digits.parse().ok())?;
    }
    Number::from_f64(digits.parse::<f64>().ok()?)
}

fn has_whole_fraction(value: &Value) -> bool {
    match value {
        Value::Number(n) => whole(n).is_some(),
        Value::Array(items) => items.iter().any(has_whole_fraction),
        Value::Object(members) => members.values().any(has_whole_fraction),
        _ => false,
    }
}

fn rewrite(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(integer) = whole(n) {
                *n = integer;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite),
        Value::Object(members) => members.values_mut().for_each(rewrite),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_in_any_spelling() {
        let cases = [
            ("5.0", Some("5")),
            ("5.000", Some("5")),
            ("-5.0", Some("-5")),
            ("-0.0", Some("0")),
            ("0.0", Some("0")),
            ("1e3", Some("1000")),
            ("1.5E1", Some("15")),
            ("2.50e1", Some("25")),
            ("1200e-2", Some("12")),
            ("18446744073709551615.0", Some("18446744073709551615")),
            ("5", None),
            ("5.5", None),
            ("1e-3", None),
            ("1.25e1", None),
            ("1e1000000", None),
            ("1e-1000000", None),
        ];
        for (digits, expected) in cases {
            assert_eq!(integer_digits(digits).as_deref(), expected, "{digits}");
        }
    }

    #[test]
    fn values_are_rewritten_only_where_whole() {
        let value: Value =
            serde_json::from_str(r#"{"id": 5.0, "ratio": 0.5, "ids": [1, 2e0]}"#).expect("JSON");
        let rewritten = integers(&value);
        assert!(matches!(rewritten, Cow::Owned(_)));
        assert_eq!(
            *rewritten,
            serde_json::json!({"id": 5, "ratio": 0.5, "ids": [1, 2]})
        );
        let plain = serde_json::json!({"id": 5, "ratio": 0.5});
        assert!(matches!(integers(&plain), Cow::Borrowed(_)));
        let wide: Value =
            serde_json::from_str(r#"{"id": 18446744073709551616, "big": 1e30}"#).expect("JSON");
        assert_eq!(
            serde_json::to_string(&*integers(&wide)).unwrap(),
            r#"{"big":1e+30,"id":1.8446744073709552e+19}"#
        );
    }
}
