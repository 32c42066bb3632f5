//! A JSON document read straight from a message's bytes, for schema checks.
//!
//! Checking a message against its schema needs a tree of it; a `serde_json::Value` tree was
//! the costliest part of a round trip (a B-tree node and a `String` per key, every string
//! copied, all dropped again right after the check). A [`View`] borrows keys, strings and
//! numbers from the bytes and keeps each object's members in one `Vec`; jsonschema validates
//! it directly through its `Json` representation trait, and serde decodes the method's types
//! from it (`de.rs`), so a message that passes costs a couple of small allocations. A
//! `serde_json::Value` is built only to describe a failure.

mod de;
mod parse;

use std::borrow::Cow;

use jsonschema::json::{Array, Json, JsonNumber, Node, NodeIdentity, Object};
use jsonschema::types::JsonType;
use serde_json::{Map, Number, Value};

/// One JSON value, borrowing from the text it was read from where it can.
#[derive(Clone, Debug, PartialEq)]
pub enum View<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written (exact, like Python's integers).
    Number(Cow<'a, str>),
    /// A string, borrowed unless it had escapes.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<View<'a>>),
    /// An object's members, in the order they were written.
    Object(Vec<(Cow<'a, str>, View<'a>)>),
}

/// A message body read as a top-level object whose members keep their own JSON text: an
/// envelope (`{"args", "kwargs"}`, `{"result", "error"}`) whose parts are checked and
/// decoded as views.
#[derive(Debug)]
pub enum Envelope<'a> {
    /// An object: every member in order, a repeated key as often as it was written.
    Object {
        /// The members.
        parts: Vec<Part<'a>>,
        /// Some object inside a member had a key twice (the view keeps the last value).
        repeated_keys: bool,
    },
    /// Any other JSON value.
    Other(View<'a>),
}

/// One member of an [`Envelope`].
#[derive(Debug)]
pub struct Part<'a> {
    /// The member's name.
    pub key: Cow<'a, str>,
    /// Its value.
    pub view: View<'a>,
    /// Its value's JSON text, as written.
    pub text: &'a str,
}

impl<'a> Envelope<'a> {
    /// Read `text`, which must be one JSON value; errors are serde_json's.
    pub fn parse(text: &'a [u8]) -> Result<Self, serde_json::Error> {
        parse::envelope(text)
    }

    /// The members named `keys`, each `None` when absent; `None` for all if this is not an
    /// object or one of them was written twice (a message to refuse, or to read the slow way).
    pub fn into_parts<const N: usize>(self, keys: [&str; N]) -> Option<[Option<Part<'a>>; N]> {
        let Envelope::Object { parts, .. } = self else {
            return None;
        };
        let mut found = [const { None }; N];
        for part in parts {
            if let Some(slot) = keys.iter().position(|k| part.key == *k)
                && found[slot].replace(part).is_some()
            {
                return None;
            }
        }
        Some(found)
    }

    /// Whether some object inside a member had a key twice (its view keeps the last value).
    pub fn repeated_keys(&self) -> bool {
        matches!(
            self,
            Envelope::Object {
                repeated_keys: true,
                ..
            }
        )
    }
}

impl<'a> View<'a> {
    /// Read `text`, which must be one JSON value (RFC 8259, as serde_json reads it); errors
    /// are serde_json's.
    pub fn parse(text: &'a [u8]) -> Result<Self, serde_json::Error> {
        parse::parse(text)
    }

    /// The same value as a `serde_json::Value`, for error reports.
    pub fn to_value(&self) -> Value {
        match self {
            View::Null => Value::Null,
            View::Bool(b) => Value::Bool(*b),
            View::Number(n) => n
                .parse::<Number>()
                .map_or_else(|_| Value::String(n.to_string()), Value::Number),
            View::String(s) => Value::String(s.to_string()),
            View::Array(items) => Value::Array(items.iter().map(View::to_value).collect()),
            View::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// JSON equality (numbers compared as numbers) with `expected`, without building a
    /// `Value`: `enum` and `const` keywords ask this of every checked message.
    fn equals(&self, expected: &Value) -> bool {
        match (self, expected) {
            (View::Null, Value::Null) => true,
            (View::Bool(a), Value::Bool(b)) => a == b,
            (View::String(a), Value::String(b)) => a == b,
            (View::Number(_), Value::Number(_)) => {
                jsonschema::json::cmp::equal(&self.to_value(), expected)
            }
            (View::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.equals(b))
            }
            (View::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k.as_ref()).is_some_and(|b| v.equals(b)))
            }
            _ => false,
        }
    }
}

/// [`View`] as a representation jsonschema validates.
pub enum ViewJson {}

impl Json for ViewJson {
    type Node<'a> = &'a View<'a>;
    type PreparedKey = String;
    type StringBuffer = ();

    // Members are a vector: a scan is the lookup.
    const KEYS_PER_LOOKUP: usize = 1;
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>((): &mut (), string: &str, f: impl FnOnce(Self::Node<'_>) -> T) -> T {
        f(&View::String(Cow::Borrowed(string)))
    }
}

/// An object's members, for jsonschema.
#[derive(Clone, Copy)]
pub struct Members<'a>(&'a [(Cow<'a, str>, View<'a>)]);

/// A number's digits, for jsonschema.
#[derive(Clone, Copy)]
pub struct Digits<'a>(&'a str);

impl<'a> Node<'a, ViewJson> for &'a View<'a> {
    type Object = Members<'a>;
    type Array = &'a [View<'a>];
    type Number = Digits<'a>;

    fn as_object(&self) -> Option<Members<'a>> {
        match self {
            View::Object(members) => Some(Members(members)),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&'a [View<'a>]> {
        match self {
            View::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self {
            View::String(s) => Some(Cow::Borrowed(s.as_ref())),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<Digits<'a>> {
        match self {
            View::Number(n) => Some(Digits(n.as_ref())),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self {
            View::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, View::Null)
    }

    fn json_type(&self) -> JsonType {
        match self {
            View::Null => JsonType::Null,
            View::Bool(_) => JsonType::Boolean,
            View::Number(_) => JsonType::Number,
            View::String(_) => JsonType::String,
            View::Array(_) => JsonType::Array,
            View::Object(_) => JsonType::Object,
        }
    }

    fn equals_value(&self, expected: &Value) -> bool {
        self.equals(expected)
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(View::to_value(self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(
            std::ptr::from_ref::<View<'a>>(self) as usize
        ))
    }
}

impl<'a> Object<'a, ViewJson> for Members<'a> {
    type Node = &'a View<'a>;
    type MemberName = &'a str;
    type MembersIter = std::iter::Map<
        std::slice::Iter<'a, (Cow<'a, str>, View<'a>)>,
        fn(&'a (Cow<'a, str>, View<'a>)) -> (&'a str, &'a View<'a>),
    >;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, key: &String) -> Option<&'a View<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn members(&self) -> Self::MembersIter {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'a> Array<'a, ViewJson> for &'a [View<'a>] {
    type Node = &'a View<'a>;
    type ElementsIter = std::slice::Iter<'a, View<'a>>;

    fn len(&self) -> usize {
        <[View<'a>]>::len(self)
    }

    fn elements(&self) -> Self::ElementsIter {
        self.iter()
    }
}

impl JsonNumber for Digits<'_> {
    fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    fn as_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }

    fn as_str(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.0)
    }

    fn to_number(&self) -> Cow<'_, Number> {
        // The digits came from serde_json's own parser, so they always parse back.
        Cow::Owned(self.0.parse().unwrap_or_else(|_| Number::from(0)))
    }

    fn is_integer(&self) -> bool {
        // As jsonschema reads a `serde_json::Number`: `1.0` and `1e2` are integers too.
        self.as_u64().is_some()
            || self.as_i64().is_some()
            || self.as_f64().is_some_and(|f| f.fract() == 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> View<'_> {
        View::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn keys_and_strings_borrow_unless_escaped() {
        let view = parse(r#"{"name": "Ada", "esc\u0061ped": "a\nb"}"#);
        let View::Object(members) = &view else {
            panic!("an object")
        };
        assert!(matches!(members[0].0, Cow::Borrowed("name")));
        assert!(matches!(members[0].1, View::String(Cow::Borrowed("Ada"))));
        assert_eq!(members[1].0, "escaped");
        assert_eq!(members[1].1, View::String(Cow::Owned("a\nb".into())));
    }

    #[test]
    fn numbers_keep_their_digits() {
        let text = r#"[42, -7, 1.5, 123456789012345678901234567890, 1e3]"#;
        let view = parse(text);
        let View::Array(items) = &view else {
            panic!("an array")
        };
        let digits: Vec<_> = items
            .iter()
            .map(|n| match n {
                View::Number(d) => d.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            digits,
            ["42", "-7", "1.5", "123456789012345678901234567890", "1e3"]
        );
        assert_eq!(
            view.to_value(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn round_trips_to_the_same_value() {
        let value = jsonschema::json::conformance::document();
        let text = serde_json::to_vec(&value).unwrap();
        assert_eq!(View::parse(&text).unwrap().to_value(), value);
    }

    #[test]
    fn satisfies_jsonschemas_representation_contract() {
        let text = serde_json::to_vec(&jsonschema::json::conformance::document()).unwrap();
        let view = View::parse(&text).unwrap();
        jsonschema::json::conformance::assert_conformance::<ViewJson>(&&view);
    }

    #[test]
    fn equality_follows_json_not_text() {
        assert!(parse("[1, {\"a\": 2.0}]").equals(&json!([1.0, {"a": 2}])));
        assert!(parse(r#"{"a": 1, "b": 2}"#).equals(&json!({"b": 2, "a": 1})));
        assert!(!parse(r#"{"a": 1}"#).equals(&json!({"a": 1, "b": 2})));
        assert!(!parse("\"1\"").equals(&json!(1)));
    }

    #[test]
    fn integers_are_integers_however_written() {
        for (text, integer) in [("3", true), ("-3", true), ("3.0", true), ("1e2", true)] {
            let view = parse(text);
            let View::Number(d) = &view else { panic!() };
            assert_eq!(Digits(d).is_integer(), integer, "{text}");
        }
        let view = parse("3.5");
        let View::Number(d) = &view else { panic!() };
        assert!(!Digits(d).is_integer());
    }
}
