//! From what was seen to what to declare: each [`Shape`] becomes a [`Ty`], and each choice
//! made on thin evidence becomes a [`Note`] for the review.
//!
//! The rules, each with its reason:
//! - **integer or number**: integer when every number was written as one, else number (Python
//!   writes a float `2.0` with its point, so a float field whose values happened to be whole
//!   is still a number);
//! - **nullable** when a `null` was seen; **required** when every object had the field;
//! - **formats** `date-time`, `date`, `uuid`, `email` when every string fitted, as the
//!   runtime's validator checks them;
//! - **enumerations**: a string place is a closed set when it was seen at least
//!   [`ENUM_SAMPLES_MIN`] times, held at most [`ENUM_VALUES_MAX`] values, and the
//!   Good–Turing estimate of the chance that the next message carries a value never seen
//!   (values seen exactly once, over samples) is at most 1%. The estimate is what makes the
//!   threshold honest: a field drawn from a large space keeps producing values seen once, and
//!   stays a string however many samples there are; a field of a few states stops doing so
//!   quickly;
//! - **maps or records**: an object place is a map when its keys are data (not identifiers:
//!   ids, locales, uuids), or when it had over [`RECORD_FIELDS_MAX`] distinct keys, or more
//!   than 16 distinct keys of which no object carried a quarter; a record otherwise;
//! - **tagged unions**: an object place is a union when a field was present in every object
//!   with a short word as its value, took at least two values, and the objects of different
//!   values had different fields (else it is a record with an enumerated field);
//! - anything else that mixes kinds (a number here, a string there) is left open (`Value`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::shape::{ENUM_VALUES_MAX, Objects, RECORD_FIELDS_MAX, Shape};

/// Samples a string place needs before it may be an enumeration.
pub(crate) const ENUM_SAMPLES_MIN: u64 = 20;

/// Below this many samples, an inferred field, format or union is listed for review.
pub(crate) const FEW: u64 = 20;

/// Fields discriminators are usually called, tried first.
const USUAL_TAGS: [&str; 7] = ["type", "kind", "tag", "event_type", "event", "op", "action"];

/// A declared type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty {
    /// Anything (`serde_json::Value`).
    Any,
    /// Always `null` (`()`).
    Null,
    Bool,
    Int,
    Float,
    /// A string, with the format every sample fitted.
    Str(Option<&'static str>),
    /// A closed set of strings.
    Enum {
        name: String,
        values: Vec<String>,
    },
    Nullable(Box<Ty>),
    List(Box<Ty>),
    Map(Box<Ty>),
    Record {
        name: String,
        fields: Vec<Field>,
    },
    /// An internally tagged union: `tag`'s value names the variant.
    Union {
        name: String,
        tag: String,
        variants: Vec<Variant>,
    },
}

/// A field of a record or variant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Field {
    pub(crate) key: String,
    pub(crate) ty: Ty,
    pub(crate) required: bool,
    /// Objects that had it, of how many.
    pub(crate) seen: u64,
    pub(crate) of: u64,
}

/// A variant of a union: the tag's value and the other fields.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Variant {
    pub(crate) value: String,
    pub(crate) fields: Vec<Field>,
    pub(crate) seen: u64,
}

impl Ty {
    /// The named type this is, if it is one (records, unions and enumerations are).
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Ty::Enum { name, .. } | Ty::Record { name, .. } | Ty::Union { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// A choice made on thin evidence, for a human to confirm.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Note {
    /// `service.method` or `service.event`.
    pub item: String,
    /// `request`, `reply`, `error`, `event` or `contract`.
    pub message: String,
    /// A JSON pointer into the message.
    pub at: String,
    /// What was decided, and on how much.
    pub what: String,
}

/// Where in a message a shape was seen: for type names and for notes.
#[derive(Clone)]
pub(crate) struct Place<'a> {
    pub(crate) item: &'a str,
    pub(crate) message: &'a str,
    pub(crate) at: String,
}

impl Place<'_> {
    fn child(&self, segment: &str) -> Self {
        Place {
            item: self.item,
            message: self.message,
            at: format!(
                "{}/{}",
                self.at,
                segment.replace('~', "~0").replace('/', "~1")
            ),
        }
    }
}

/// Type names handed out so far, each with the schema it stands for: one shape met twice
/// gets one type, two shapes wanting one name get two.
#[derive(Default)]
pub(crate) struct Names {
    taken: BTreeMap<String, Option<String>>,
}

/// Names a generated type must not take: the prelude's and the crate's own.
const RESERVED: [&str; 18] = [
    "Result",
    "Option",
    "String",
    "Vec",
    "Box",
    "Value",
    "Map",
    "BTreeMap",
    "Ok",
    "Err",
    "Some",
    "None",
    "Self",
    "Serialize",
    "Deserialize",
    "JsonSchema",
    "Error",
    "Default",
];

impl Names {
    /// Keep `name` for something else (a trait, a contract).
    pub(crate) fn reserve(&mut self, name: String) {
        self.taken.insert(name, None);
    }

    /// A name of its own for a type no other shares (a method's error).
    pub(crate) fn claim_unique(&mut self, wanted: &str) -> String {
        let unique = format!("unique #{}", self.taken.len());
        self.claim(wanted, "", unique)
    }

    /// A name for a type with `schema`, as close to `wanted` as is free.
    fn claim(&mut self, wanted: &str, parent: &str, schema: String) -> String {
        let base = if wanted.is_empty() || RESERVED.contains(&wanted) {
            format!("{wanted}Data")
        } else {
            wanted.to_owned()
        };
        let mut tries = vec![base.clone()];
        if !parent.is_empty() && !base.starts_with(parent) {
            tries.push(format!("{parent}{base}"));
        }
        for candidate in tries {
            match self.taken.get(&candidate) {
                None => {
                    self.taken.insert(candidate.clone(), Some(schema));
                    return candidate;
                }
                Some(Some(same)) if *same == schema => return candidate,
                Some(_) => {}
            }
        }
        (2..)
            .map(|n| format!("{base}{n}"))
            .find_map(|candidate| match self.taken.get(&candidate) {
                None => {
                    self.taken.insert(candidate.clone(), Some(schema.clone()));
                    Some(candidate)
                }
                Some(Some(same)) if *same == schema => Some(candidate),
                Some(_) => None,
            })
            .expect("some number is free")
    }
}

/// `user_data` → `UserData`, `orderPlaced` → `OrderPlaced`, `order-placed` → `OrderPlaced`.
pub(crate) fn pascal(s: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if out.is_empty() && c.is_ascii_digit() {
                out.push('N');
            }
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// Turns shapes into types, collecting notes.
pub(crate) struct Decide<'n> {
    pub(crate) names: &'n mut Names,
    pub(crate) notes: Vec<Note>,
    /// What makes two named types the same type: their schema's text. Given by the caller,
    /// which knows how types become schemas; the rules here only need to compare them.
    pub(crate) signature: fn(&Ty) -> String,
}

impl Decide<'_> {
    fn note(&mut self, place: &Place, what: String) {
        self.notes.push(Note {
            item: place.item.to_owned(),
            message: place.message.to_owned(),
            at: if place.at.is_empty() {
                "/".into()
            } else {
                place.at.clone()
            },
            what,
        });
    }

    /// The type of the values seen at `place`, named after `hint` if it needs a name.
    pub(crate) fn ty(&mut self, shape: &Shape, hint: &str, place: &Place) -> Ty {
        let base = self.base(shape, hint, place);
        if shape.nulls > 0 && !matches!(base, Ty::Any | Ty::Null) {
            Ty::Nullable(Box::new(base))
        } else {
            base
        }
    }

    fn base(&mut self, shape: &Shape, hint: &str, place: &Place) -> Ty {
        if shape.seen == 0 {
            self.note(place, "no value seen: left open (any JSON)".into());
            return Ty::Any;
        }
        match shape.kinds() {
            0 => {
                self.note(place, format!("only null seen ({} samples)", shape.nulls));
                return Ty::Null;
            }
            1 => {}
            _ => {
                self.note(
                    place,
                    "values of different kinds (say a number and a string): left open".into(),
                );
                return Ty::Any;
            }
        }
        if shape.bools > 0 {
            return Ty::Bool;
        }
        if shape.floats > 0 {
            return Ty::Float;
        }
        if shape.ints > 0 {
            return Ty::Int;
        }
        if let Some(strings) = &shape.strings {
            return self.string(strings, hint, place);
        }
        if let Some(arrays) = &shape.arrays {
            let hint = singular(hint);
            return Ty::List(Box::new(self.ty(&arrays.items, &hint, &place.child("0"))));
        }
        let objects = shape.objects.as_deref().expect("one kind is left");
        self.object(objects, hint, place)
    }

    fn string(&mut self, strings: &super::shape::Strings, hint: &str, place: &Place) -> Ty {
        if let Some(format) = strings.format() {
            if strings.count < FEW {
                self.note(
                    place,
                    format!("format {format} from {} samples", strings.count),
                );
            }
            return Ty::Str(Some(format));
        }
        let Some(values) = &strings.values else {
            return Ty::Str(None);
        };
        let once = values.values().filter(|n| **n == 1).count() as u64;
        let closed = strings.count >= ENUM_SAMPLES_MIN
            && values.len() <= ENUM_VALUES_MAX
            && once * 100 <= strings.count;
        if !closed {
            if strings.count < ENUM_SAMPLES_MIN && values.len() <= ENUM_VALUES_MAX {
                self.note(
                    place,
                    format!(
                        "a string, though only {} distinct values in {} samples: too few to call it an enumeration",
                        values.len(),
                        strings.count
                    ),
                );
            }
            return Ty::Str(None);
        }
        let values: Vec<String> = values.keys().cloned().collect();
        let rarest = strings_rarest(strings);
        if rarest < 3 || strings.count < 100 {
            self.note(
                place,
                format!(
                    "enumeration of {} values from {} samples (rarest seen {rarest} times): {values:?}",
                    values.len(),
                    strings.count
                ),
            );
        }
        let schema = serde_json::json!({ "enum": values }).to_string();
        let name = self.names.claim(&pascal(hint), "", schema);
        Ty::Enum { name, values }
    }

    fn object(&mut self, objects: &Objects, hint: &str, place: &Place) -> Ty {
        if let Some(merged) = &objects.merged {
            self.note(
                place,
                format!("a map: over {RECORD_FIELDS_MAX} distinct keys"),
            );
            let hint = format!("{hint}Value");
            return Ty::Map(Box::new(self.ty(merged, &hint, &place.child("*"))));
        }
        let distinct = objects.fields.len();
        let sparse = distinct > 16 && objects.widest * 4 <= distinct;
        if objects.data_keys || sparse {
            let mut merged = Shape::default();
            for shape in objects.fields.values() {
                merged.merge(shape.clone());
            }
            if merged.kinds() <= 1 {
                let why = if objects.data_keys {
                    "its keys are data, not names"
                } else {
                    "many distinct keys, few per object"
                };
                self.note(
                    place,
                    format!(
                        "a map ({why}; {distinct} keys in {} objects)",
                        objects.count
                    ),
                );
                let hint = format!("{hint}Value");
                return Ty::Map(Box::new(self.ty(&merged, &hint, &place.child("*"))));
            }
        }
        if let Some(union) = self.union(objects, hint, place) {
            return union;
        }
        let fields = self.fields(&objects.fields, objects.count, place, None);
        let schema = (self.signature)(&Ty::Record {
            name: String::new(),
            fields: fields.clone(),
        });
        let name = self.names.claim(&pascal(hint), "", schema);
        Ty::Record { name, fields }
    }

    fn fields(
        &mut self,
        fields: &BTreeMap<String, Shape>,
        count: u64,
        place: &Place,
        skip: Option<&str>,
    ) -> Vec<Field> {
        fields
            .iter()
            .filter(|(key, _)| Some(key.as_str()) != skip)
            .map(|(key, shape)| {
                let here = place.child(key);
                let required = shape.seen == count;
                if !required && shape.seen < FEW {
                    self.note(
                        &here,
                        format!("optional: seen in {} of {count} objects", shape.seen),
                    );
                }
                Field {
                    key: key.clone(),
                    ty: self.ty(shape, key, &here),
                    required,
                    seen: shape.seen,
                    of: count,
                }
            })
            .collect()
    }

    fn union(&mut self, objects: &Objects, hint: &str, place: &Place) -> Option<Ty> {
        let tags = objects.tags.as_ref()?;
        let mut candidates: Vec<&String> = tags.keys().collect();
        candidates.sort_by_key(|field| {
            USUAL_TAGS
                .iter()
                .position(|usual| usual == field)
                .unwrap_or(USUAL_TAGS.len())
        });
        let tag = candidates.into_iter().find(|field| {
            let by_value = &tags[*field];
            let field_sets: BTreeSet<Vec<&String>> = by_value
                .values()
                .map(|o| {
                    o.fields
                        .iter()
                        .filter(|(_, s)| s.seen == o.count)
                        .map(|(k, _)| k)
                        .collect()
                })
                .collect();
            by_value.len() >= 2 && field_sets.len() >= 2
        })?;
        let by_value = &tags[tag];
        let variants: Vec<Variant> = by_value
            .iter()
            .map(|(value, variant)| {
                let here = Place {
                    item: place.item,
                    message: place.message,
                    at: format!("{}({tag}={value})", place.at),
                };
                Variant {
                    value: value.clone(),
                    fields: self.fields(&variant.fields, variant.count, &here, Some(tag)),
                    seen: variant.count,
                }
            })
            .collect();
        let thin: Vec<String> = variants
            .iter()
            .filter(|v| v.seen < FEW)
            .map(|v| format!("{} ({})", v.value, v.seen))
            .collect();
        let what = format!(
            "a union tagged by `{tag}`: {} variants from {} objects",
            variants.len(),
            objects.count
        );
        if thin.is_empty() {
            self.note(place, what);
        } else {
            self.note(place, format!("{what}; seldom seen: {}", thin.join(", ")));
        }
        let ty = Ty::Union {
            name: String::new(),
            tag: tag.clone(),
            variants,
        };
        let name = self.names.claim(&pascal(hint), "", (self.signature)(&ty));
        let Ty::Union { tag, variants, .. } = ty else {
            unreachable!()
        };
        Some(Ty::Union {
            name,
            tag,
            variants,
        })
    }
}

fn strings_rarest(strings: &super::shape::Strings) -> u64 {
    strings
        .values
        .as_ref()
        .and_then(|v| v.values().min().copied())
        .unwrap_or(0)
}

/// The name of one item of a list called `hint`: `items` → `item`, `entries` → `entry`,
/// `data` → `dataItem`.
fn singular(hint: &str) -> String {
    if let Some(stem) = hint.strip_suffix("ies").filter(|s| s.len() > 1) {
        format!("{stem}y")
    } else if let Some(stem) = hint
        .strip_suffix('s')
        .filter(|s| s.len() > 1 && !s.ends_with('s'))
    {
        stem.to_owned()
    } else {
        format!("{hint}Item")
    }
}
