//! JSON Schema → Pydantic v2 models: one class per object schema (the message itself, each
//! `$defs` entry, each inline object), `RootModel`s for messages that are not objects, and the
//! schema's constraints as `Field(...)` arguments, so a Python value that breaks the contract
//! fails to construct.
//!
//! The mapping covers what schemars writes for Rust types: objects (closed with
//! `additionalProperties: false` → `extra="forbid"`), maps, arrays, nullable values, string
//! enums and constants, tagged and untagged unions (`oneOf`/`anyOf`), numbers with their
//! ranges, lengths and patterns, and the `date-time`, `date` and `uuid` formats. Scalars are
//! strict, as JSON Schema is: `"3"` is not an integer, nor `"yes"` a boolean. Anything else is typed `Any`: the models never reject what the schema
//! accepts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The Python classes of one module, in the order they are written.
#[derive(Default)]
pub(super) struct Models {
    classes: Vec<Class>,
    /// Class names taken, with the schema each was made from (a `$def` shared by several
    /// messages is written once).
    taken: BTreeMap<String, Value>,
    /// Whether `datetime` or `uuid` types appear, for the imports.
    pub(super) uses_datetime: bool,
    pub(super) uses_uuid: bool,
    /// The class of each `$defs` entry of the message being written.
    refs: BTreeMap<String, String>,
    /// Whether some value is typed `Any`.
    pub(super) uses_any: bool,
    /// The fields of each object class, by class name.
    fields: BTreeMap<String, Vec<Field>>,
    /// The value type of each root class, by class name.
    roots: BTreeMap<String, String>,
    /// The `$defs` of the message being written, as written.
    defs: Map<String, Value>,
}

struct Class {
    name: String,
    text: String,
}

/// One field of an object class.
pub(super) struct Field {
    /// Its Python name.
    pub(super) python: String,
    /// Its name in JSON.
    pub(super) json: String,
    /// Its Python type (`| None` when not required).
    pub(super) ty: String,
    /// Whether the schema requires it.
    pub(super) required: bool,
}

/// The Python identifier a JSON name can be written as: keywords and names that are not
/// identifiers get an alias.
fn field_name(json: &str) -> (String, bool) {
    const KEYWORDS: &[&str] = &[
        "False",
        "None",
        "True",
        "and",
        "as",
        "assert",
        "async",
        "await",
        "break",
        "class",
        "continue",
        "def",
        "del",
        "elif",
        "else",
        "except",
        "finally",
        "for",
        "from",
        "global",
        "if",
        "import",
        "in",
        "is",
        "lambda",
        "nonlocal",
        "not",
        "or",
        "pass",
        "raise",
        "return",
        "try",
        "while",
        "with",
        "yield",
        "model_config",
    ];
    let mut name: String = json
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    let aliased = name != json;
    (name, aliased)
}

/// `snake_case` or `kebab-case` → `PascalCase`.
pub(super) fn pascal(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `PascalCase` → `snake_case`.
fn snake(name: &str) -> String {
    let mut snake = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

/// A Python string literal.
fn literal(text: &str) -> String {
    serde_json::to_string(text).expect("strings encode")
}

/// A docstring body: the text, with what would end the string escaped.
/// `text` as a docstring's content, `fallback` when it is empty.
pub(super) fn docstring(text: &str, fallback: &str) -> String {
    let text = if text.is_empty() { fallback } else { text };
    text.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"")
}

impl Models {
    /// Add the classes of message schema `schema`, its root named `name`; returns the Python
    /// type of the message.
    pub(super) fn message(&mut self, name: &str, schema: &Value) -> String {
        // Every def's class name first, so references resolve whatever the order.
        self.refs.clear();
        self.defs = schema
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let defs = schema.get("$defs").and_then(Value::as_object);
        let mut new_defs = Vec::new();
        for (def, def_schema) in defs.into_iter().flatten() {
            let (class, is_new) = self.reserve(def, def_schema);
            self.refs.insert(def.clone(), class.clone());
            if is_new {
                new_defs.push((class, def_schema));
            }
        }
        for (class, def_schema) in new_defs {
            self.define(&class, def_schema);
        }
        self.named(name, schema)
    }

    /// Keep `name` free of model classes: the module defines a class of its own under it.
    pub(super) fn claim(&mut self, name: &str) {
        self.taken.insert(name.to_owned(), Value::Null);
    }

    /// The fields of object class `class` (none for a root class).
    pub(super) fn fields(&self, class: &str) -> &[Field] {
        self.fields
            .get(class)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The type a message of class `class` is handed over as: a root class's value type,
    /// else the class.
    pub(super) fn value_type(&self, class: &str) -> String {
        self.roots
            .get(class)
            .cloned()
            .unwrap_or_else(|| class.to_owned())
    }

    fn any(&mut self) -> String {
        self.uses_any = true;
        "Any".into()
    }

    /// The module's class definitions.
    pub(super) fn text(&self) -> String {
        self.classes
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// Every class name, for rebuilding forward references once all are defined.
    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        self.classes.iter().map(|c| c.name.as_str())
    }

    /// A class for `schema` under `name` (or its root type, if it is a bare reference).
    fn named(&mut self, name: &str, schema: &Value) -> String {
        let (class, is_new) = self.reserve(name, schema);
        if is_new {
            self.define(&class, schema);
        }
        class
    }

    /// The class name for `schema` under `name`: the existing class if one was made from the
    /// same schema, else a free name (numbered if `name` is taken), with whether it is new.
    fn reserve(&mut self, name: &str, schema: &Value) -> (String, bool) {
        let name = pascal(name);
        if self.taken.get(&name) == Some(schema) {
            return (name, false);
        }
        let mut unique = name.clone();
        let mut n = 2;
        while self.taken.contains_key(&unique) {
            unique = format!("{name}{n}");
            n += 1;
        }
        self.taken.insert(unique.clone(), schema.clone());
        (unique, true)
    }

    /// Write the class `unique` of `schema`.
    fn define(&mut self, unique: &str, schema: &Value) {
        let is_object = schema.get("properties").is_some()
            || (schema.get("type") == Some(&Value::from("object"))
                && schema.get("additionalProperties") != Some(&Value::Bool(true))
                && !schema
                    .get("additionalProperties")
                    .is_some_and(Value::is_object));
        let text = if is_object {
            self.class(unique, schema)
        } else {
            let root = self.type_of(unique, schema);
            let mut text = format!("class {unique}(RootModel[{root}]):\n");
            let _ = writeln!(text, "    \"\"\"{}\"\"\"", doc_of(schema, unique));
            self.roots.insert(unique.to_owned(), root);
            text
        };
        self.classes.push(Class {
            name: unique.to_owned(),
            text,
        });
    }

    fn class(&mut self, name: &str, schema: &Value) -> String {
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        let mut text = format!("class {name}(BaseModel):\n");
        let _ = writeln!(text, "    \"\"\"{}\"\"\"\n", doc_of(schema, name));
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            text.push_str("    model_config = ConfigDict(extra=\"forbid\")\n\n");
        }
        for (json_name, property) in properties {
            let (mut field, mut aliased) = field_name(json_name);
            // An inline object is named for its property, or, that name taken, for both.
            let context = match pascal(json_name) {
                own if !self.taken.contains_key(&own) => own,
                own => format!("{name}{own}"),
            };
            let mut ty = self.type_of(&context, property);
            // A field named like a class would hide it from the annotations that follow.
            while self.taken.contains_key(&field) {
                field = snake(&field);
                if self.taken.contains_key(&field) {
                    field.push('_');
                }
                aliased = true;
            }
            let is_required = required.contains(&json_name.as_str());
            let mut args = Vec::new();
            if !is_required {
                // Omitted, the field takes the schema's default, or `None`; written as `null`,
                // it is refused unless the schema accepts null, as the schema and serde refuse
                // it.
                match property
                    .get("default")
                    .filter(|default| plain_default(property, default))
                {
                    Some(default) if !accepts_null(property) => {
                        args.push(format!("default={}", python_value(default)));
                    }
                    _ => {
                        // A nullable schema's type has its `None` already.
                        if !accepts_null(property) {
                            ty = format!("Annotated[{ty} | None, AfterValidator(not_null)]");
                        }
                        args.push("default=None".to_owned());
                    }
                }
            }
            if aliased {
                args.push(format!("alias={}", literal(json_name)));
            }
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                args.push(format!("description={}", literal(description)));
            }
            let _ = writeln!(text, "    {field}: {ty} = Field({})", args.join(", "));
            fields.push(Field {
                python: field,
                json: json_name.clone(),
                ty,
                required: is_required,
            });
        }
        self.fields.insert(name.to_owned(), fields);
        if properties.is_empty() {
            text.push_str("    pass\n");
        }
        text
    }

    /// The Python type of `schema`; `context` names any class an inline object needs.
    fn type_of(&mut self, context: &str, schema: &Value) -> String {
        let Some(object) = schema.as_object() else {
            return self.any();
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return match reference
                .strip_prefix("#/$defs/")
                .and_then(|def| self.refs.get(def))
            {
                Some(class) => class.clone(),
                None => self.any(),
            };
        }
        if let Some(constant) = object.get("const") {
            return format!("Literal[{}]", python_value(constant));
        }
        if let Some(values) = object.get("enum").and_then(Value::as_array) {
            let values: Vec<String> = values.iter().map(python_value).collect();
            return format!("Literal[{}]", values.join(", "));
        }
        for union in ["oneOf", "anyOf"] {
            if let Some(branches) = object.get(union).and_then(Value::as_array) {
                let types: Vec<String> = branches
                    .iter()
                    .enumerate()
                    .map(|(i, branch)| self.branch(context, i, branches.len(), branch))
                    .collect();
                return dedup_union(types);
            }
        }
        match object.get("type") {
            Some(Value::Array(types)) => {
                let types: Vec<String> = types
                    .iter()
                    .map(|t| {
                        let mut single = object.clone();
                        single.insert("type".into(), t.clone());
                        self.type_of(context, &Value::Object(single))
                    })
                    .collect();
                dedup_union(types)
            }
            Some(Value::String(t)) => self.typed(context, t, object),
            _ => self.any(),
        }
    }

    /// One branch of a union: an inline object becomes a class named for its tag (the one
    /// property of an externally tagged variant) or its position.
    fn branch(&mut self, context: &str, index: usize, count: usize, branch: &Value) -> String {
        let is_object = branch.get("properties").is_some();
        if !is_object {
            return self.type_of(context, branch);
        }
        let tag = branch
            .get("required")
            .and_then(Value::as_array)
            .filter(|r| r.len() == 1)
            .and_then(|r| r[0].as_str());
        let name = match tag {
            Some(tag) => format!("{context}{}", pascal(tag)),
            None if count > 1 => format!("{context}{}", index + 1),
            None => context.to_owned(),
        };
        match self.with_referenced_fields(branch) {
            Some(merged) => self.named(&name, &merged),
            None => self.named(&name, branch),
        }
    }

    /// An object branch that also refers to a definition (an internally tagged newtype
    /// variant: its tag here, its fields there) as the one object it describes: the
    /// definition's properties and required fields beside the branch's, closed when either
    /// is. `None` when the branch refers to nothing.
    fn with_referenced_fields(&self, branch: &Value) -> Option<Value> {
        let target = branch.get("$ref")?.as_str()?.strip_prefix("#/$defs/")?;
        let def = self.defs.get(target)?.as_object()?;
        let mut merged = branch.as_object()?.clone();
        merged.remove("$ref");
        let mut properties = merged
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (name, property) in def
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            properties
                .entry(name.clone())
                .or_insert_with(|| property.clone());
        }
        let mut required: Vec<Value> = merged
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for name in def
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !required.contains(name) {
                required.push(name.clone());
            }
        }
        let closed = |schema: &Map<String, Value>| {
            ["additionalProperties", "unevaluatedProperties"]
                .iter()
                .any(|key| schema.get(*key) == Some(&Value::Bool(false)))
        };
        if closed(&merged) || closed(def) {
            merged.remove("unevaluatedProperties");
            merged.insert("additionalProperties".into(), Value::Bool(false));
        }
        merged.insert("properties".into(), Value::Object(properties));
        merged.insert("required".into(), Value::Array(required));
        Some(Value::Object(merged))
    }

    fn typed(&mut self, context: &str, t: &str, object: &Map<String, Value>) -> String {
        let mut field = Vec::new();
        // Run before the strict check: JSON Schema counts `5.0` an integer, so must the model.
        let mut before = None;
        let number = |key: &str| {
            object
                .get(key)
                .filter(|v| v.is_number())
                .map(Value::to_string)
        };
        let ty = match t {
            "null" => return "None".into(),
            "boolean" => {
                field.push("strict=True".to_owned());
                "bool".to_owned()
            }
            "integer" | "number" => {
                let (ge, le) = (number("minimum"), number("maximum"));
                for (arg, value) in [
                    ("ge", ge),
                    ("le", le),
                    ("gt", number("exclusiveMinimum")),
                    ("lt", number("exclusiveMaximum")),
                    ("multiple_of", number("multipleOf")),
                ] {
                    if let Some(value) = value {
                        field.push(format!("{arg}={value}"));
                    }
                }
                // Strict: a JSON string is not a number, nor 3.5 an integer (a float field
                // still takes integers, as JSON Schema's `number` does). A whole float is an
                // integer to JSON Schema: `whole_number` makes it one before the check.
                field.push("strict=True".to_owned());
                if t == "integer" {
                    before = Some("BeforeValidator(whole_number)");
                    "int".to_owned()
                } else {
                    "float".to_owned()
                }
            }
            "string" => {
                for (arg, key) in [("min_length", "minLength"), ("max_length", "maxLength")] {
                    if let Some(value) = number(key) {
                        field.push(format!("{arg}={value}"));
                    }
                }
                if let Some(pattern) = object.get("pattern").and_then(Value::as_str) {
                    field.push(format!("pattern={}", literal(pattern)));
                }
                match object.get("format").and_then(Value::as_str) {
                    Some("date-time") => {
                        self.uses_datetime = true;
                        "datetime.datetime".to_owned()
                    }
                    Some("date") => {
                        self.uses_datetime = true;
                        "datetime.date".to_owned()
                    }
                    Some("uuid") => {
                        self.uses_uuid = true;
                        "uuid.UUID".to_owned()
                    }
                    _ => {
                        field.push("strict=True".to_owned());
                        "str".to_owned()
                    }
                }
            }
            "array" => {
                let items = match object.get("items") {
                    Some(items) => self.type_of(context, items),
                    None => self.any(),
                };
                for (arg, key) in [("min_length", "minItems"), ("max_length", "maxItems")] {
                    if let Some(value) = number(key) {
                        field.push(format!("{arg}={value}"));
                    }
                }
                format!("list[{items}]")
            }
            "object" => {
                if object.contains_key("properties") {
                    return self.named(context, &Value::Object(object.clone()));
                }
                let values = match object.get("additionalProperties") {
                    Some(schema @ Value::Object(_)) => self.type_of(context, schema),
                    _ => self.any(),
                };
                format!("dict[str, {values}]")
            }
            _ => self.any(),
        };
        let before = before.map(|b| format!("{b}, ")).unwrap_or_default();
        if field.is_empty() {
            ty
        } else {
            format!("Annotated[{ty}, {before}Field({})]", field.join(", "))
        }
    }
}

/// Whether a schema's `default` is written the same in Python and is of the schema's own
/// plain type (a `boolean`, `integer`, `number` or `string`, or an empty `array`): then it is
/// the field's default. (A default of a referenced model or enum is left to `None`.)
fn plain_default(schema: &Value, default: &Value) -> bool {
    let ty = schema.get("type").and_then(Value::as_str);
    match default {
        Value::Bool(_) => ty == Some("boolean"),
        Value::Number(n) => ty == Some("number") || (ty == Some("integer") && !n.is_f64()),
        Value::String(_) => ty == Some("string") && schema.get("enum").is_none(),
        Value::Array(items) => ty == Some("array") && items.is_empty(),
        _ => false,
    }
}

/// Whether `schema` accepts `null` on its face (a `null` type, or a branch that is one), as
/// schemars writes an `Option`.
fn accepts_null(schema: &Value) -> bool {
    let null = |t: &Value| t == "null";
    match schema.get("type") {
        Some(Value::Array(types)) if types.iter().any(null) => return true,
        Some(t) if null(t) => return true,
        _ => {}
    }
    if schema.get("const") == Some(&Value::Null)
        || schema
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|values| values.contains(&Value::Null))
    {
        return true;
    }
    ["anyOf", "oneOf"].iter().any(|key| {
        schema
            .get(*key)
            .and_then(Value::as_array)
            .is_some_and(|branches| branches.iter().any(accepts_null))
    })
}

/// A JSON value written as a Python literal (for `Literal[...]`).
fn python_value(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => literal(s),
        other => other.to_string(),
    }
}

/// `A | B`, each type once.
fn dedup_union(types: Vec<String>) -> String {
    let mut unique: Vec<String> = Vec::new();
    for t in types {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }
    unique.join(" | ")
}

/// A class's docstring: the schema's description, else its name.
pub(super) fn doc_of(schema: &Value, name: &str) -> String {
    let description = schema.get("description").and_then(Value::as_str);
    docstring(description.unwrap_or_default(), &format!("`{name}`."))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_become_python_names() {
        assert_eq!(pascal("create_user"), "CreateUser");
        assert_eq!(pascal("x-y"), "XY");
        assert_eq!(snake("UserAlreadyExists"), "user_already_exists");
        assert_eq!(field_name("user_id"), ("user_id".into(), false));
        assert_eq!(field_name("class"), ("class_".into(), true));
        assert_eq!(field_name("x-y"), ("x_y".into(), true));
        assert_eq!(field_name("2fa"), ("_2fa".into(), true));
    }

    #[test]
    fn a_field_named_like_a_class_is_renamed_and_aliased() {
        let mut models = Models::default();
        models.message(
            "Outcome",
            &json!({
                "type": "object",
                "required": ["Done"],
                "properties": {"Done": {"type": "object", "properties": {"at": {"type": "integer"}}}}
            }),
        );
        let text = models.text();
        assert!(text.contains("class Done(BaseModel):"), "{text}");
        assert!(
            text.contains(r#"done: Done = Field(alias="Done")"#),
            "{text}"
        );
    }

    #[test]
    fn the_same_def_in_two_messages_is_one_class_and_a_different_one_is_numbered() {
        let mut models = Models::default();
        let def = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let other = json!({"type": "object", "properties": {"b": {"type": "string"}}});
        models.message(
            "One",
            &json!({"$defs": {"Part": def}, "$ref": "#/$defs/Part"}),
        );
        models.message(
            "Two",
            &json!({"$defs": {"Part": def}, "$ref": "#/$defs/Part"}),
        );
        models.message(
            "Three",
            &json!({"$defs": {"Part": other}, "$ref": "#/$defs/Part"}),
        );
        let names: Vec<&str> = models.names().collect();
        assert_eq!(names, ["Part", "One", "Two", "Part2", "Three"]);
        let text = models.text();
        assert!(text.contains("class One(RootModel[Part]):"), "{text}");
        assert!(text.contains("class Three(RootModel[Part2]):"), "{text}");
    }
}
