//! The inferred contracts as Rust source: the types, then a `#[service]` trait per service.
//!
//! Every type is written so that its schemars schema is the one [`super::schema`] wrote for
//! the same [`Ty`]: fields that may be absent but are never null are `Option<T>` read with
//! `#[serde(default)]` and described as `T`; nullable ones are plain `Option<T>`; formatted
//! strings are newtypes carrying their format.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::ty::{Field, Ty, Variant};
use super::{InferredError, InferredService};

const KEYWORDS: [&str; 51] = [
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// The newtype standing for strings of `format`.
pub(crate) fn format_type(format: &str) -> &'static str {
    match format {
        "date-time" => "DateTime",
        "date" => "Date",
        "uuid" => "Uuid",
        _ => "Email",
    }
}

/// The Rust type of `ty`.
pub(crate) fn type_of(ty: &Ty) -> String {
    match ty {
        Ty::Any => "serde_json::Value".into(),
        Ty::Null => "()".into(),
        Ty::Bool => "bool".into(),
        Ty::Int => "i64".into(),
        Ty::Float => "f64".into(),
        Ty::Str(None) => "String".into(),
        Ty::Str(Some(format)) => format_type(format).into(),
        Ty::Enum { name, .. } | Ty::Record { name, .. } | Ty::Union { name, .. } => name.clone(),
        Ty::Nullable(inner) => format!("Option<{}>", type_of(inner)),
        Ty::List(items) => format!("Vec<{}>", type_of(items)),
        Ty::Map(values) => format!("BTreeMap<String, {}>", type_of(values)),
    }
}

/// `user_id` as it is, `userId` → `user_id`, `type` → `r#type`, `self` → `self_`.
pub(crate) fn ident(key: &str) -> String {
    let mut snake = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else if c.is_ascii_alphanumeric() {
            snake.push(c);
            previous_lower = true;
        } else {
            if !snake.ends_with('_') {
                snake.push('_');
            }
            previous_lower = false;
        }
    }
    if snake.is_empty() || snake.starts_with(|c: char| c.is_ascii_digit()) {
        snake.insert(0, '_');
    }
    match snake.as_str() {
        "self" | "super" | "crate" | "_" => format!("{snake}_"),
        s if KEYWORDS.contains(&s) => format!("r#{snake}"),
        _ => snake,
    }
}

fn doc(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{indent}/// {line}");
    }
}

fn rename(out: &mut String, indent: &str, key: &str, ident: &str) {
    if ident.trim_start_matches("r#") != key {
        let _ = writeln!(out, "{indent}#[serde(rename = {key:?})]");
    }
}

/// The source of the crate's `lib.rs`.
pub(crate) fn source(services: &[InferredService], header: &str) -> String {
    let mut types = Types::default();
    for service in services {
        for method in &service.methods {
            for param in &method.params {
                types.visit(&param.ty);
            }
            types.visit(&method.reply);
        }
        for event in &service.events {
            types.visit(&event.payload);
        }
    }
    let mut out = String::new();
    doc_inner(&mut out, header);
    out.push_str(
        "\n#![allow(clippy::large_enum_variant)]\n\nuse std::collections::BTreeMap;\nuse std::fmt;\n\nuse contracts_core::prelude::*;\n",
    );
    out.push_str(&types.code);
    for service in services {
        for method in &service.methods {
            if let Some(error) = &method.error {
                error_type(&mut out, error);
            }
        }
        trait_of(&mut out, service);
    }
    out
}

fn doc_inner(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "//! {line}");
    }
}

/// The named types met so far, each written once.
#[derive(Default)]
struct Types {
    written: BTreeSet<String>,
    code: String,
}

impl Types {
    fn visit(&mut self, ty: &Ty) {
        match ty {
            Ty::Nullable(inner) | Ty::List(inner) | Ty::Map(inner) => self.visit(inner),
            Ty::Str(Some(format)) => {
                let name = format_type(format);
                if self.written.insert(name.into()) {
                    let _ = write!(
                        self.code,
                        "\n/// A string in the `{format}` format.\n#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]\n#[serde(transparent)]\n#[schemars(extend(\"format\" = {format:?}))]\npub struct {name}(pub String);\n"
                    );
                }
            }
            Ty::Enum { name, values } => {
                if self.written.insert(name.clone()) {
                    let mut code = format!(
                        "\n/// {}.\n#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]\npub enum {name} {{\n",
                        match values.len() {
                            1 => "The only value seen".to_owned(),
                            n => format!("One of the {n} values seen"),
                        }
                    );
                    let mut idents = BTreeSet::new();
                    for value in values {
                        let ident = unique(&mut idents, super::ty::pascal(value));
                        rename(&mut code, "    ", value, &ident);
                        let _ = writeln!(code, "    {ident},");
                    }
                    code.push_str("}\n");
                    self.code.push_str(&code);
                }
            }
            Ty::Record { name, fields } => {
                for field in fields {
                    self.visit(&field.ty);
                }
                if self.written.insert(name.clone()) {
                    let mut code = String::from("\n/// A record as recorded.\n");
                    code.push_str("#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]\n#[serde(deny_unknown_fields)]\n");
                    let _ = writeln!(code, "pub struct {name} {{");
                    fields_of(&mut code, fields, "pub ");
                    code.push_str("}\n");
                    self.code.push_str(&code);
                }
            }
            Ty::Union {
                name,
                tag,
                variants,
            } => {
                for variant in variants {
                    for field in &variant.fields {
                        self.visit(&field.ty);
                    }
                }
                if self.written.insert(name.clone()) {
                    self.code.push_str(&union(name, tag, variants));
                }
            }
            Ty::Any | Ty::Null | Ty::Bool | Ty::Int | Ty::Float | Ty::Str(None) => {}
        }
    }
}

fn unique(taken: &mut BTreeSet<String>, wanted: String) -> String {
    let wanted = if wanted.is_empty() {
        "V".into()
    } else {
        wanted
    };
    let name = (1..)
        .map(|n| {
            if n == 1 {
                wanted.clone()
            } else {
                format!("{wanted}{n}")
            }
        })
        .find(|candidate| !taken.contains(candidate))
        .expect("some number is free");
    taken.insert(name.clone());
    name
}

fn union(name: &str, tag: &str, variants: &[Variant]) -> String {
    let mut code = format!(
        "\n/// A union, its variant named by `{tag}`.\n#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]\n#[serde(tag = {tag:?}, deny_unknown_fields)]\npub enum {name} {{\n"
    );
    let mut idents = BTreeSet::new();
    for variant in variants {
        let ident = unique(&mut idents, super::ty::pascal(&variant.value));
        doc(
            &mut code,
            "    ",
            &format!("`{tag}: {:?}`, seen {} times.", variant.value, variant.seen),
        );
        rename(&mut code, "    ", &variant.value, &ident);
        if variant.fields.is_empty() {
            let _ = writeln!(code, "    {ident},");
        } else {
            let _ = writeln!(code, "    {ident} {{");
            let mut inner = String::new();
            fields_of(&mut inner, &variant.fields, "");
            for line in inner.lines() {
                let _ = writeln!(code, "    {line}");
            }
            code.push_str("    },\n");
        }
    }
    code.push_str("}\n");
    code
}

fn fields_of(code: &mut String, fields: &[Field], vis: &str) {
    let mut idents = BTreeSet::new();
    for field in fields {
        let ident = unique(&mut idents, ident(&field.key));
        doc(
            code,
            "    ",
            &format!("Seen in {} of {} objects.", field.seen, field.of),
        );
        rename(code, "    ", &field.key, &ident);
        let ty = match &field.ty {
            Ty::Nullable(inner) => {
                code.push_str("    #[serde(default)]\n");
                format!("Option<{}>", type_of(inner))
            }
            ty if !field.required => {
                let inner = type_of(ty);
                code.push_str("    #[serde(default, skip_serializing_if = \"Option::is_none\")]\n");
                let _ = writeln!(code, "    #[schemars(with = {inner:?})]");
                format!("Option<{inner}>")
            }
            ty => type_of(ty),
        };
        let _ = writeln!(code, "    {vis}{ident}: {ty},");
    }
}

fn error_type(out: &mut String, error: &InferredError) {
    let _ = write!(
        out,
        "\n/// The `exc_type`s `{}` was seen failing with; each carries the error's message.\n#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]\npub enum {} {{\n",
        error.method, error.name
    );
    for (exc_type, seen) in &error.variants {
        doc(
            out,
            "    ",
            &format!(
                "`{exc_type}` (`{}`), seen {} times.",
                seen.exc_path, seen.count
            ),
        );
        let _ = writeln!(out, "    {exc_type}(String),");
    }
    out.push_str("}\n");
    let _ = write!(
        out,
        "\nimpl fmt::Display for {} {{\n    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{\n        match self {{\n",
        error.name
    );
    for exc_type in error.variants.keys() {
        let _ = writeln!(
            out,
            "            Self::{exc_type}(message) => write!(f, \"{exc_type}: {{message}}\"),"
        );
    }
    out.push_str("        }\n    }\n}\n");
}

fn trait_of(out: &mut String, service: &InferredService) {
    out.push('\n');
    doc(out, "", &service.doc);
    let _ = writeln!(out, "#[service(name = {:?})]", service.name);
    let _ = writeln!(out, "pub trait {} {{", service.trait_name);
    for method in &service.methods {
        doc(out, "    ", &method.doc);
        let params: Vec<String> = method
            .params
            .iter()
            .map(|p| {
                let ty = match &p.ty {
                    Ty::Nullable(_) => type_of(&p.ty),
                    ty if !p.required => format!("Option<{}>", type_of(ty)),
                    ty => type_of(ty),
                };
                format!(", {}: {ty}", ident(&p.key))
            })
            .collect();
        let reply = type_of(&method.reply);
        let output = match &method.error {
            Some(error) => format!(" -> Result<{reply}, {}>", error.name),
            None if reply == "()" => String::new(),
            None => format!(" -> {reply}"),
        };
        let _ = writeln!(
            out,
            "    async fn {}(&self{}){output};",
            ident(&method.name),
            params.concat()
        );
    }
    for event in &service.events {
        out.push('\n');
        doc(out, "    ", &event.doc);
        out.push_str("    #[event]\n");
        let _ = writeln!(
            out,
            "    fn {}(event: {});",
            ident(&event.name),
            type_of(&event.payload)
        );
    }
    out.push_str("}\n");
}
