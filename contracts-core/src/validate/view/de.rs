//! Decoding a checked [`View`] into a Rust type with serde, without reading its text again.
//!
//! It behaves as decoding a `serde_json::Value` does (the runtime did that before views),
//! method for method and error for error: numbers that fit `u64` or `i64` are handed over as
//! such, any other to serde_json's own `Number`, so wide integers and floats decode exactly
//! as before, and a failure reads the same.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, Error as _, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde_json::{Error, Number};

use super::View;
use crate::validate::whole::integer_digits;

/// A number read as the type asked for, as serde_json's `Number` reads its digits (and with
/// its words when they do not fit); anything else as it is.
macro_rules! number {
    ($method:ident $visit:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self {
                View::Number(digits) => visitor.$visit(
                    digits
                        .parse()
                        .ok()
                        // `5.0` is a whole number to the schema: to an integer type too.
                        .or_else(|| integer_digits(digits)?.parse().ok())
                        .ok_or_else(|| Error::custom("invalid number"))?,
                ),
                _ => self.deserialize_any(visitor),
            }
        }
    };
}

impl<'de, 'a: 'de> Deserializer<'de> for &'de View<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::Null => visitor.visit_unit(),
            View::Bool(b) => visitor.visit_bool(*b),
            View::Number(digits) => {
                if let Ok(u) = digits.parse::<u64>() {
                    visitor.visit_u64(u)
                } else if let Ok(i) = digits.parse::<i64>() {
                    visitor.visit_i64(i)
                } else {
                    digits
                        .parse::<Number>()
                        .map_err(|_| Error::custom("a number serde_json cannot read"))?
                        .deserialize_any(visitor)
                }
            }
            View::String(s) => visitor.visit_borrowed_str(s),
            View::Array(items) => {
                let mut seq = Items(items.iter());
                let value = visitor.visit_seq(&mut seq)?;
                match seq.0.len() {
                    0 => Ok(value),
                    _ => Err(Error::invalid_length(
                        items.len(),
                        &"fewer elements in array",
                    )),
                }
            }
            View::Object(members) => {
                let mut map = Members {
                    members: members.iter(),
                    value: None,
                };
                let value = visitor.visit_map(&mut map)?;
                match map.members.len() {
                    0 => Ok(value),
                    _ => Err(Error::invalid_length(
                        members.len(),
                        &"fewer elements in map",
                    )),
                }
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::Bool(b) => visitor.visit_bool(*b),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::String(s) => visitor.visit_borrowed_str(s),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::String(_) | View::Array(_) => self.deserialize_any(visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::Null => visitor.visit_unit(),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::Array(_) => self.deserialize_any(visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::Object(_) => self.deserialize_any(visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            View::Array(_) | View::Object(_) => self.deserialize_any(visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            View::String(variant) => visitor.visit_enum(variant.as_ref().into_deserializer()),
            View::Object(members) if members.len() == 1 => {
                let (variant, value) = &members[0];
                visitor.visit_enum(Variant { variant, value })
            }
            View::Object(_) => Err(Error::invalid_value(
                Unexpected::Map,
                &"map with a single key",
            )),
            other => Err(Error::invalid_type(other.unexpected(), &"string or map")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    number!(deserialize_i8 visit_i8);
    number!(deserialize_i16 visit_i16);
    number!(deserialize_i32 visit_i32);
    number!(deserialize_i64 visit_i64);
    number!(deserialize_i128 visit_i128);
    number!(deserialize_u8 visit_u8);
    number!(deserialize_u16 visit_u16);
    number!(deserialize_u32 visit_u32);
    number!(deserialize_u64 visit_u64);
    number!(deserialize_u128 visit_u128);
    number!(deserialize_f32 visit_f32);
    number!(deserialize_f64 visit_f64);
}

impl View<'_> {
    fn invalid_type(&self, expected: &dyn serde::de::Expected) -> Error {
        Error::invalid_type(self.unexpected(), expected)
    }

    /// As serde_json names a `Value` it did not expect (a number is "number" whatever its
    /// digits, as with `arbitrary_precision`).
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            View::Null => Unexpected::Unit,
            View::Bool(b) => Unexpected::Bool(*b),
            View::Number(_) => Unexpected::Other("number"),
            View::String(s) => Unexpected::Str(s),
            View::Array(_) => Unexpected::Seq,
            View::Object(_) => Unexpected::Map,
        }
    }
}

struct Items<'de, 'a>(std::slice::Iter<'de, View<'a>>);

impl<'de, 'a: 'de> SeqAccess<'de> for Items<'de, 'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Members<'de, 'a> {
    members: std::slice::Iter<'de, (std::borrow::Cow<'a, str>, View<'a>)>,
    value: Option<&'de View<'a>>,
}

impl<'de, 'a: 'de> MapAccess<'de> for Members<'de, 'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.members.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| Error::custom("a map value asked for before its key"))?;
        seed.deserialize(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

struct Variant<'de, 'a> {
    variant: &'de str,
    value: &'de View<'a>,
}

impl<'de, 'a: 'de> EnumAccess<'de> for Variant<'de, 'a> {
    type Error = Error;
    type Variant = &'de View<'a>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::<Error>::new(self.variant))?;
        Ok((variant, self.value))
    }
}

impl<'de, 'a: 'de> VariantAccess<'de> for &'de View<'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self {
            View::Null => Ok(()),
            other => Err(Error::invalid_type(other.unexpected(), &"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self {
            View::Array(_) => self.deserialize_any(visitor),
            other => Err(Error::invalid_type(other.unexpected(), &"tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            View::Object(_) => self.deserialize_any(visitor),
            other => Err(Error::invalid_type(other.unexpected(), &"struct variant")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct User {
        id: u64,
        name: String,
        nick: Option<String>,
        ratio: f32,
        tags: Vec<String>,
        extra: BTreeMap<String, Value>,
        kind: Kind,
        pair: (u8, i64),
        wrapped: Wrapped,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        Tagged(u8),
        Shaped { side: u8 },
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Wrapped(String);

    /// A view decodes to what a `Value` of the same text decodes to, or fails with the
    /// same message.
    fn same<T: DeserializeOwned + PartialEq + std::fmt::Debug>(text: &str) {
        let view = View::parse(text.as_bytes()).unwrap();
        let value: Value = serde_json::from_str(text).unwrap();
        let ours = T::deserialize(&view).map_err(|e| e.to_string());
        let theirs = T::deserialize(&value).map_err(|e| e.to_string());
        assert_eq!(ours, theirs, "{text}");
    }

    #[test]
    fn decodes_as_a_value_does() {
        let user = |kind: &str, id: &str| {
            format!(
                r#"{{"id": {id}, "name": "Ada", "nick": null, "ratio": 0.5, "tags": ["a"],
                "extra": {{"big": 123456789012345678901234567890, "f": 1.5, "n": -3}},
                "kind": {kind}, "pair": [7, -1], "wrapped": "w"}}"#
            )
        };
        same::<User>(&user(r#""plain""#, "42"));
        same::<User>(&user(r#"{"tagged": 3}"#, "42"));
        same::<User>(&user(r#"{"shaped": {"side": 4}}"#, "42"));
        // Failures: a wide integer, a negative one, a float, the wrong shapes.
        same::<User>(&user(r#""plain""#, "123456789012345678901234567890"));
        same::<User>(&user(r#""plain""#, "-1"));
        same::<User>(&user(r#""plain""#, "1.5"));
        same::<User>(&user(r#""round""#, "1"));
        same::<User>(&user(r#"{"tagged": 3, "plain": null}"#, "1"));
        same::<User>(&user(r#"[1]"#, "1"));
        same::<User>(r#"{"id": 1}"#);
        same::<User>(r#"{"id": 1, "unknown": 2}"#);
        same::<Vec<u8>>("[1, 2, 300]");
        same::<(u8, u8)>("[1, 2, 3]");
        same::<Value>(r#"{"a": [1, 2.5, -3, 123456789012345678901234567890, null, true, "s"]}"#);
        same::<f64>("1e400");
        same::<Option<u8>>("null");
        same::<char>(r#""x""#);
        // Each kind where another is expected.
        for text in [
            "2",
            "-2",
            "1.5",
            "true",
            "null",
            r#""s""#,
            "[1]",
            r#"{"a": 1}"#,
        ] {
            same::<User>(text);
            same::<Vec<u8>>(text);
            same::<BTreeMap<String, u8>>(text);
            same::<String>(text);
            same::<bool>(text);
            same::<()>(text);
            same::<(u8,)>(text);
            same::<Kind>(text);
            same::<Wrapped>(text);
        }
        same::<BTreeMap<String, u8>>(r#"{"a": 1, "b": 300}"#);
    }
}
