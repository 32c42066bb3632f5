//! What the samples at one place of a message looked like, kept as running tallies: memory
//! grows with the number of distinct shapes, never with the number of samples.
//!
//! A [`Shape`] counts each JSON kind seen at its place and keeps, per kind, just what the
//! decisions in [`super::ty`] need: the distinct strings while they are few, the string
//! formats every sample still fits, the fields of objects (or one merged value shape once an
//! object has too many keys to be a record), the items of arrays, and, for objects, the
//! sub-shapes by value of each field that may be a union's discriminator.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

/// Distinct strings remembered at one place; one more and the place is no enumeration.
pub(crate) const ENUM_VALUES_MAX: usize = 24;

/// Distinct keys an object place may have and still be a record; past it, a map.
pub(crate) const RECORD_FIELDS_MAX: usize = 64;

/// Fields tracked as possible discriminators of a tagged union at one object place.
const TAG_CANDIDATES_MAX: usize = 4;

/// Strings longer than this are text, not a discriminator or an enumeration value.
const TAG_LENGTH_MAX: usize = 64;

/// The string formats inference recognises, in the order they are tried.
pub(crate) const FORMATS: [&str; 4] = ["date-time", "date", "uuid", "email"];

/// A bit for each of [`FORMATS`]: what a place's first string may still turn out to be.
const ALL_FORMATS: u8 = (1 << FORMATS.len()) - 1;

/// One validator per format, as the runtime validates them, so a format is inferred only
/// where the runtime will accept every sample that led to it.
static FORMAT_CHECKS: LazyLock<Vec<jsonschema::Validator>> = LazyLock::new(|| {
    FORMATS
        .iter()
        .map(|format| {
            jsonschema::options()
                .should_validate_formats(true)
                .build(&serde_json::json!({ "type": "string", "format": format }))
                .expect("format schemas compile")
        })
        .collect()
});

/// Everything seen at one place.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shape {
    /// Samples that had a value here (a field's presence).
    pub(crate) seen: u64,
    pub(crate) nulls: u64,
    pub(crate) bools: u64,
    pub(crate) ints: u64,
    /// Numbers written with a point or an exponent, or too wide for 64 bits.
    pub(crate) floats: u64,
    pub(crate) strings: Option<Strings>,
    pub(crate) arrays: Option<Box<Arrays>>,
    pub(crate) objects: Option<Box<Objects>>,
}

/// The strings seen at one place.
#[derive(Clone, Debug)]
pub(crate) struct Strings {
    pub(crate) count: u64,
    /// Bit `i` set while every string fitted `FORMATS[i]`.
    pub(crate) formats: u8,
    /// Each distinct value and how often it came, while there are at most
    /// [`ENUM_VALUES_MAX`]; `None` once there were more.
    pub(crate) values: Option<BTreeMap<String, u64>>,
}

/// The arrays seen at one place.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arrays {
    pub(crate) count: u64,
    pub(crate) items: Shape,
}

/// The objects seen at one place.
#[derive(Clone, Debug, Default)]
pub(crate) struct Objects {
    pub(crate) count: u64,
    /// Each key seen and the shape of its values (`seen` is how many objects had it).
    pub(crate) fields: BTreeMap<String, Shape>,
    /// Once there were more than [`RECORD_FIELDS_MAX`] distinct keys: every value merged,
    /// and `fields` emptied.
    pub(crate) merged: Option<Box<Shape>>,
    /// The most keys one object had.
    pub(crate) widest: usize,
    /// Whether a key was no identifier (`"42"`, `"en-GB"`, a uuid): data, not a field name.
    pub(crate) data_keys: bool,
    /// Possible discriminators: field → its value → the objects that carried it. `None`
    /// inside a variant, so unions do not nest their bookkeeping without end.
    pub(crate) tags: Option<BTreeMap<String, BTreeMap<String, Objects>>>,
}

impl Shape {
    /// Add one sample seen at this place.
    pub(crate) fn add(&mut self, value: &Value) {
        self.add_at(value, true);
    }

    fn add_at(&mut self, value: &Value, track_tags: bool) {
        self.seen += 1;
        match value {
            Value::Null => self.nulls += 1,
            Value::Bool(_) => self.bools += 1,
            Value::Number(n) => {
                // Python writes every float with a point or an exponent (`2.0`), and ints
                // never: a whole number so written is still a float field's value.
                if n.is_i64() || n.is_u64() {
                    self.ints += 1;
                } else {
                    self.floats += 1;
                }
            }
            Value::String(s) => self
                .strings
                .get_or_insert_with(|| Strings {
                    count: 0,
                    formats: ALL_FORMATS,
                    values: Some(BTreeMap::new()),
                })
                .add(s),
            Value::Array(items) => {
                let arrays = self.arrays.get_or_insert_with(Box::default);
                arrays.count += 1;
                for item in items {
                    arrays.items.add_at(item, track_tags);
                }
            }
            Value::Object(map) => {
                let objects = self.objects.get_or_insert_with(|| {
                    Box::new(Objects {
                        tags: track_tags.then(BTreeMap::new),
                        ..Objects::default()
                    })
                });
                objects.add(map, track_tags);
            }
        }
    }

    /// The JSON kinds seen, other than null.
    pub(crate) fn kinds(&self) -> usize {
        [
            self.bools > 0,
            self.ints + self.floats > 0,
            self.strings.is_some(),
            self.arrays.is_some(),
            self.objects.is_some(),
        ]
        .into_iter()
        .filter(|k| *k)
        .count()
    }

    /// Fold `other`, seen at the same place, into this one.
    pub(crate) fn merge(&mut self, other: Shape) {
        self.seen += other.seen;
        self.nulls += other.nulls;
        self.bools += other.bools;
        self.ints += other.ints;
        self.floats += other.floats;
        if let Some(theirs) = other.strings {
            match &mut self.strings {
                Some(ours) => ours.merge(theirs),
                None => self.strings = Some(theirs),
            }
        }
        if let Some(theirs) = other.arrays {
            let ours = self.arrays.get_or_insert_with(Box::default);
            ours.count += theirs.count;
            ours.items.merge(theirs.items);
        }
        if let Some(theirs) = other.objects {
            match &mut self.objects {
                Some(ours) => ours.merge(*theirs),
                None => self.objects = Some(theirs),
            }
        }
    }
}

impl Strings {
    fn add(&mut self, s: &str) {
        self.count += 1;
        if self.formats != 0 {
            let value = Value::String(s.to_owned());
            for (i, check) in FORMAT_CHECKS.iter().enumerate() {
                if self.formats & (1 << i) != 0 && !check.is_valid(&value) {
                    self.formats &= !(1 << i);
                }
            }
        }
        if let Some(values) = &mut self.values {
            if s.len() > TAG_LENGTH_MAX {
                self.values = None;
                return;
            }
            *values.entry(s.to_owned()).or_default() += 1;
            if values.len() > ENUM_VALUES_MAX {
                self.values = None;
            }
        }
    }

    fn merge(&mut self, other: Strings) {
        self.count += other.count;
        self.formats &= other.formats;
        self.values = match (self.values.take(), other.values) {
            (Some(mut ours), Some(theirs)) => {
                for (value, n) in theirs {
                    *ours.entry(value).or_default() += n;
                }
                (ours.len() <= ENUM_VALUES_MAX).then_some(ours)
            }
            _ => None,
        };
    }

    /// The first format every string fitted, if any.
    pub(crate) fn format(&self) -> Option<&'static str> {
        FORMATS
            .iter()
            .enumerate()
            .find(|(i, _)| self.formats & (1 << i) != 0)
            .map(|(_, f)| *f)
    }
}

impl Objects {
    fn add(&mut self, map: &serde_json::Map<String, Value>, track_tags: bool) {
        self.count += 1;
        self.widest = self.widest.max(map.len());
        for (key, value) in map {
            self.data_keys |= !is_identifier(key);
            match &mut self.merged {
                Some(merged) => merged.add_at(value, track_tags),
                None => self
                    .fields
                    .entry(key.clone())
                    .or_default()
                    .add_at(value, track_tags),
            }
        }
        if self.merged.is_none() && self.fields.len() > RECORD_FIELDS_MAX {
            self.collapse();
        }
        if let Some(tags) = &mut self.tags {
            track(tags, map, self.count == 1);
        }
    }

    /// Too many keys for a record: merge every field's values into one shape.
    fn collapse(&mut self) {
        let mut merged = Shape::default();
        for (_, shape) in std::mem::take(&mut self.fields) {
            merged.merge(shape);
        }
        self.merged = Some(Box::new(merged));
        self.tags = None;
    }

    fn merge(&mut self, other: Objects) {
        self.count += other.count;
        self.widest = self.widest.max(other.widest);
        self.data_keys |= other.data_keys;
        match (&mut self.merged, other.merged) {
            (Some(ours), Some(theirs)) => ours.merge(*theirs),
            (Some(ours), None) => {
                for (_, shape) in other.fields {
                    ours.merge(shape);
                }
            }
            (None, theirs) => {
                for (key, shape) in other.fields {
                    self.fields.entry(key).or_default().merge(shape);
                }
                if let Some(theirs) = theirs {
                    self.collapse();
                    if let Some(ours) = &mut self.merged {
                        ours.merge(*theirs);
                    }
                }
            }
        }
        if self.merged.is_none() && self.fields.len() > RECORD_FIELDS_MAX {
            self.collapse();
        }
        // Discriminators are only tracked from the first sample of a place on: a merged
        // place keeps the candidates both halves still have.
        self.tags = match (self.tags.take(), other.tags) {
            (Some(mut ours), Some(theirs)) => {
                ours.retain(|field, _| theirs.contains_key(field));
                for (field, by_value) in theirs {
                    if let Some(mine) = ours.get_mut(&field) {
                        for (value, objects) in by_value {
                            mine.entry(value).or_default().merge(objects);
                        }
                    }
                }
                Some(ours)
            }
            _ => None,
        };
    }
}

/// Keep the candidates `map` still supports (a short string present in every object so
/// far), and add `map` to the variant its value names. The first object picks them.
fn track(
    tags: &mut BTreeMap<String, BTreeMap<String, Objects>>,
    map: &serde_json::Map<String, Value>,
    first: bool,
) {
    let tag_value = |field: &str| match map.get(field) {
        Some(Value::String(s)) if is_tag_value(s) => Some(s),
        _ => None,
    };
    if first {
        for field in map.keys().filter(|k| tag_value(k).is_some()) {
            if tags.len() == TAG_CANDIDATES_MAX {
                break;
            }
            tags.insert(field.clone(), BTreeMap::new());
        }
    }
    tags.retain(|field, by_value| {
        let Some(value) = tag_value(field) else {
            return false;
        };
        let variant = by_value.entry(value.clone()).or_default();
        variant.add(map, false);
        by_value.len() <= ENUM_VALUES_MAX
    });
}

/// A word a programmer chose as a variant's name: a letter, then letters, digits, `_`,
/// `-` or `.` (`card`, `order-placed`, `PAYMENT_DONE`).
pub(crate) fn is_tag_value(s: &str) -> bool {
    s.len() <= TAG_LENGTH_MAX
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Letters, digits and `_`, not starting with a digit: a name a programmer chose.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_kinds_formats_and_values() {
        let mut shape = Shape::default();
        for v in [json!("2024-01-02"), json!("2023-12-31"), json!(null)] {
            shape.add(&v);
        }
        assert_eq!((shape.seen, shape.nulls), (3, 1));
        let strings = shape.strings.as_ref().unwrap();
        assert_eq!(strings.format(), Some("date"));
        assert_eq!(strings.values.as_ref().unwrap().len(), 2);
        shape.add(&json!("not a date"));
        assert_eq!(shape.strings.as_ref().unwrap().format(), None);
    }

    #[test]
    fn an_object_with_too_many_keys_becomes_one_merged_shape() {
        let mut shape = Shape::default();
        for i in 0..=RECORD_FIELDS_MAX {
            shape.add(&json!({ format!("k{i}"): i }));
        }
        let objects = shape.objects.unwrap();
        assert!(objects.fields.is_empty());
        assert_eq!(objects.merged.unwrap().ints, RECORD_FIELDS_MAX as u64 + 1);
    }

    #[test]
    fn discriminators_partition_the_objects_by_value() {
        let mut shape = Shape::default();
        shape.add(&json!({"kind": "card", "last4": "1234"}));
        shape.add(&json!({"kind": "bank", "iban": "DE00", "note": 5}));
        let tags = shape.objects.unwrap().tags.unwrap();
        // `last4` ("1234") is no word, and the second object had none.
        assert_eq!(tags.keys().collect::<Vec<_>>(), ["kind"]);
        assert_eq!(tags["kind"].len(), 2);
        assert!(tags["kind"]["bank"].fields.contains_key("iban"));
    }
}
