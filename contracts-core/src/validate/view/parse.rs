//! Reading JSON text into a [`View`].
//!
//! A reader of its own rather than serde's: serde_json checks each string's UTF-8 and hands
//! every number to a visitor as an owned `String` (its `arbitrary_precision` form), which
//! made reading a small message cost more than checking it. Here the text's UTF-8 is checked
//! once, strings and numbers are slices of it, and the only allocations are one vector per
//! object or array. What it accepts is exactly what serde_json accepts (the tests and the
//! `view` fuzz target compare the two); when it refuses, serde_json reads the text again
//! to say why in its usual words.

use std::borrow::Cow;

use super::{Envelope, Part, View};

/// serde_json's own nesting limit: at most this many containers, less one, inside each other.
const MAX_DEPTH: usize = 128;

/// Objects up to this many members find a duplicate key by scanning.
const SCAN_MEMBERS: usize = 32;

pub(super) fn parse(text: &[u8]) -> Result<View<'_>, serde_json::Error> {
    read(text, |reader| reader.value(0))
}

pub(super) fn envelope(text: &[u8]) -> Result<Envelope<'_>, serde_json::Error> {
    read(text, Reader::envelope)
}

/// Run `what` over the whole of `text`; on a refusal, serde_json's account of it.
fn read<'a, T>(
    text: &'a [u8],
    what: impl FnOnce(&mut Reader<'a>) -> Option<T>,
) -> Result<T, serde_json::Error> {
    let refused = || {
        serde_json::from_slice::<serde_json::Value>(text)
            .err()
            .unwrap_or_else(|| serde::de::Error::custom("JSON nested too deeply"))
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return Err(refused());
    };
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
        repeated_keys: false,
    };
    let read = what(&mut reader).filter(|_| {
        reader.skip_whitespace();
        reader.at == reader.bytes.len()
    });
    read.ok_or_else(refused)
}

/// The bytes that end a run of plain characters in a string: the closing quote, an escape,
/// and the control characters JSON forbids there.
const STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        stops[b] = true;
        b += 1;
    }
    stops[b'"' as usize] = true;
    stops[b'\\' as usize] = true;
    stops
};

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Some object had a key twice.
    repeated_keys: bool,
}

impl<'a> Reader<'a> {
    /// A top-level object's members with their texts, every one kept (repeats too), or
    /// any other value.
    fn envelope(&mut self) -> Option<Envelope<'a>> {
        self.skip_whitespace();
        if self.peek() != Some(b'{') {
            return self.value(0).map(Envelope::Other);
        }
        self.at += 1;
        let mut parts = Vec::with_capacity(2);
        if self.eat(b'}') {
            return Some(Envelope::Object {
                parts,
                repeated_keys: false,
            });
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            self.skip_whitespace();
            let start = self.at;
            let view = self.value(1)?;
            let text = &self.text[start..self.at];
            parts.push(Part { key, view, text });
            if self.eat(b'}') {
                return Some(Envelope::Object {
                    parts,
                    repeated_keys: self.repeated_keys,
                });
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        // Machine-written JSON mostly has none.
        if !matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            return;
        }
        let rest = &self.bytes[self.at..];
        self.at += rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            .unwrap_or(rest.len());
    }

    /// Consume `byte` after any whitespace.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn literal(&mut self, word: &str, view: View<'a>) -> Option<View<'a>> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word.as_bytes()).then(|| {
            self.at = end;
            view
        })
    }

    fn value(&mut self, depth: usize) -> Option<View<'a>> {
        self.skip_whitespace();
        match self.peek()? {
            b'n' => self.literal("null", View::Null),
            b't' => self.literal("true", View::Bool(true)),
            b'f' => self.literal("false", View::Bool(false)),
            b'"' => self.string().map(View::String),
            b'-' | b'0'..=b'9' => self.number(),
            b'[' if depth + 1 < MAX_DEPTH => self.array(depth + 1),
            b'{' if depth + 1 < MAX_DEPTH => self.object(depth + 1),
            _ => None,
        }
    }

    fn array(&mut self, depth: usize) -> Option<View<'a>> {
        self.at += 1;
        if self.eat(b']') {
            return Some(View::Array(Vec::new()));
        }
        let mut items = Vec::with_capacity(4);
        loop {
            items.push(self.value(depth)?);
            if self.eat(b']') {
                return Some(View::Array(items));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    // Its member loop repeats `envelope`'s: one loop taking a closure for the member cost
    // about 600 instructions per round trip (measured), on the hottest path there is.
    fn object(&mut self, depth: usize) -> Option<View<'a>> {
        self.at += 1;
        if self.eat(b'}') {
            return Some(View::Object(Vec::new()));
        }
        let mut members: Vec<(Cow<'a, str>, View<'a>)> = Vec::with_capacity(4);
        let mut index: Option<std::collections::HashMap<Cow<'a, str>, usize>> = None;
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            let value = self.value(depth)?;
            // A repeated key keeps its last value, as serde_json's map (and Python's dict)
            // do, so a view and a `Value` of one text always agree.
            let earlier = match &mut index {
                Some(index) => index.get(&key).copied(),
                None => members.iter().position(|(k, _)| *k == key),
            };
            match earlier {
                Some(i) => {
                    self.repeated_keys = true;
                    members[i].1 = value;
                }
                None => {
                    if let Some(index) = &mut index {
                        index.insert(key.clone(), members.len());
                    }
                    members.push((key, value));
                    if index.is_none() && members.len() > SCAN_MEMBERS {
                        index = Some(
                            members
                                .iter()
                                .enumerate()
                                .map(|(i, (k, _))| (k.clone(), i))
                                .collect(),
                        );
                    }
                }
            }
            if self.eat(b'}') {
                return Some(View::Object(members));
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// A string at the opening quote: borrowed from the text unless it has escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at + 1;
        let end = start
            + self.bytes[start..]
                .iter()
                .position(|&b| STOPS[usize::from(b)])?;
        if self.bytes[end] == b'"' {
            self.at = end + 1;
            return Some(Cow::Borrowed(&self.text[start..end]));
        }
        self.at = end;
        self.escaped(start).map(Cow::Owned)
    }

    /// The rest of a string that has an escape (or a control character) at `self.at`.
    #[cold]
    fn escaped(&mut self, start: usize) -> Option<String> {
        let mut owned = String::from(&self.text[start..self.at]);
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(owned);
                }
                b'\\' => {
                    self.at += 1;
                    let escaped = self.peek()?;
                    self.at += 1;
                    owned.push(match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    });
                }
                _ => return None,
            }
            let run = self.at;
            self.skip_plain_chars();
            owned.push_str(&self.text[run..self.at]);
        }
    }

    /// Up to the next quote, backslash or control character.
    fn skip_plain_chars(&mut self) {
        let rest = &self.bytes[self.at..];
        self.at += rest
            .iter()
            .position(|&b| STOPS[usize::from(b)])
            .unwrap_or(rest.len());
    }

    /// The character of a `\u` escape (after the `u`), joining a surrogate pair; a lone
    /// surrogate is refused, as serde_json refuses it.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.at..self.at + 2)? != b"\\u" {
                    return None;
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            0xDC00..=0xDFFF => None,
            _ => char::from_u32(first),
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, kept as written.
    fn number(&mut self) -> Option<View<'a>> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(View::Number(Cow::Borrowed(&self.text[start..self.at])))
    }

    fn digits(&mut self) {
        let rest = &self.bytes[self.at..];
        self.at += rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The view of `text` and serde_json's `Value` of it: both refuse it, or both read the
    /// same value.
    fn agrees(text: &str) {
        let ours = parse(text.as_bytes()).map(|v| v.to_value());
        let theirs = serde_json::from_str::<Value>(text);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text:?}"),
            _ => panic!("{text:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            "null",
            " true ",
            "false",
            "0",
            "-0",
            "42",
            "-7",
            "1.5",
            "1e3",
            "1E-3",
            "2.5e+10",
            "123456789012345678901234567890",
            r#""""#,
            r#""plain""#,
            r#""tab\tnew\nline \"quoted\" back\\slash \/ \b\f\r""#,
            r#""\u00e9\u0041 \ud83e\udd80""#,
            "\"héllo 🦀\"",
            "[]",
            "[1, [2, [3]], {}]",
            r#"{"a": 1, "b": [true, null], "c": {"d": "e"}}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"k\u0065y": "v"}"#,
            " \n\t{ \"a\" : [ 1 , 2 ] } \r\n",
        ] {
            agrees(text);
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            " ",
            "nul",
            "nulls",
            "True",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "0x10",
            r#""unterminated"#,
            "\"control \u{1} char\"",
            r#""bad \x escape""#,
            r#""\u12""#,
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\udc00""#,
            "[1, 2",
            "[1 2]",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\": 1,}",
            "{a: 1}",
            "{\"a\": 1} x",
            "[] []",
        ] {
            agrees(text);
        }
        // Not UTF-8.
        assert!(parse(b"\"\xff\"").is_err());
    }

    #[test]
    fn nesting_stops_where_serde_jsons_does() {
        agrees(&format!("{}{}", "[".repeat(127), "]".repeat(127)));
        agrees(&format!("{}{}", "[".repeat(128), "]".repeat(128)));
        agrees(&format!("{}{}", "[".repeat(129), "]".repeat(129)));
        agrees(&format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200)));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_in_a_large_object_too() {
        let members: Vec<String> = (0..100).map(|i| format!("\"k{}\": {i}", i % 60)).collect();
        agrees(&format!("{{{}}}", members.join(", ")));
    }
}
