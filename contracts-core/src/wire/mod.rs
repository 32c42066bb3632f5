//! Nameko's message bodies: request and reply envelopes, and the error dict.
//!
//! See book/src/wire.md, "Messages and properties" and "Error dicts": requests are `{"args": [...], "kwargs": {...}}`, replies are
//! `{"result": ..., "error": null | {exc_type, exc_path, exc_args, value}}`.

pub mod context;
pub mod inbound;
mod kombu;
pub mod limits;
pub mod topology;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::validate::ValidationError;

/// Prefix of context-data headers.
pub const HEADER_PREFIX: &str = "nameko.";

/// `exc_path` Nameko clients map to `MethodNotFound`.
pub const METHOD_NOT_FOUND: &str = "nameko.exceptions.MethodNotFound";
/// `exc_path` Nameko clients map to `IncorrectSignature`.
pub const INCORRECT_SIGNATURE: &str = "nameko.exceptions.IncorrectSignature";
/// `exc_path` Nameko clients map to `MalformedRequest`.
pub const MALFORMED_REQUEST: &str = "nameko.exceptions.MalformedRequest";
/// `exc_path` of a message rejected by its contract; the dict carries the failures too.
pub const VALIDATION_ERROR: &str = "contracts.exceptions.ValidationError";
/// `exc_path` of a handler that panicked.
pub const HANDLER_PANICKED: &str = "contracts.exceptions.HandlerPanicked";
/// `exc_path` of a result that could not be encoded (Nameko's `UnserializableValueError`).
pub const UNSERIALIZABLE_VALUE: &str = "nameko.exceptions.UnserializableValueError";

/// An RPC request body, borrowed for encoding.
#[derive(Serialize)]
pub struct RequestEnvelope<'a> {
    /// Positional arguments.
    pub args: &'a [Value],
    /// Keyword arguments.
    pub kwargs: &'a Map<String, Value>,
}

/// An RPC reply body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplyEnvelope {
    /// The method's return value (`null` on error).
    #[serde(default)]
    pub result: Value,
    /// The error, if the call failed.
    #[serde(default)]
    pub error: Option<ErrorDict>,
}

/// A request body of keyword arguments only (what typed clients send), from the JSON text of
/// the arguments' object.
pub fn keyword_request(kwargs: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"args":[],"kwargs":"#;
    let mut body = Vec::with_capacity(HEAD.len() + kwargs.len() + 1);
    body.extend_from_slice(HEAD);
    body.extend_from_slice(kwargs);
    body.push(b'}');
    body
}

/// Nameko's serialized exception.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorDict {
    /// Exception class name, e.g. `MethodNotFound` or `ValueError`.
    pub exc_type: String,
    /// `module.Class`; Nameko clients use it to re-raise known classes. Missing in
    /// Nameko < 1.5.
    #[serde(default)]
    pub exc_path: Option<String>,
    /// The exception's arguments, stringified as Nameko's `safe_for_serialization` does.
    #[serde(default)]
    pub exc_args: Vec<Value>,
    /// `str(exc)`.
    #[serde(default)]
    pub value: Value,
    /// Extra keys; Nameko ignores them. `contracts` puts a declared error's typed value under
    /// `payload` and a validation error's failures under `validation` (and, as JSON text, in
    /// `exc_args[1]`: see [`ErrorDict::with_detail`]).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ErrorDict {
    /// An error dict whose only argument is its message, as Nameko's built-in exceptions are.
    pub fn with_message(exc_type: &str, exc_path: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            exc_type: exc_type.to_owned(),
            exc_path: Some(exc_path.to_owned()),
            exc_args: vec![Value::String(message.clone())],
            value: Value::String(message),
            extra: Map::new(),
        }
    }

    /// An error dict carrying a structured `detail` twice: under the extra key `key`, and as
    /// JSON text in `exc_args` after the message. Nameko's own serializer can write only
    /// `exc_args`, and keeps only strings intact there, so that is how a Python service sends
    /// the same error; and a Nameko client re-raising a registered class by `exc_path` passes
    /// it `(message, detail_json)`.
    pub fn with_detail(
        exc_type: &str,
        exc_path: &str,
        message: impl Into<String>,
        key: &str,
        detail: Value,
    ) -> Self {
        let mut dict = Self::with_message(exc_type, exc_path, message);
        dict.exc_args.push(Value::String(detail.to_string()));
        dict.extra.insert(key.to_owned(), detail);
        dict
    }

    /// The structured detail under `key`: the extra key a Rust peer sends, else the JSON text
    /// in `exc_args[1]` a Python peer sends (see [`ErrorDict::with_detail`]).
    pub fn detail(&self, key: &str) -> Option<Value> {
        detail(&self.extra, &self.exc_args, key)
    }

    /// The routing key named no method of the service.
    pub fn method_not_found(method: &str) -> Self {
        Self::with_message("MethodNotFound", METHOD_NOT_FOUND, method)
    }

    /// The arguments do not bind to the method's parameters.
    pub fn incorrect_signature(message: impl Into<String>) -> Self {
        Self::with_message("IncorrectSignature", INCORRECT_SIGNATURE, message)
    }

    /// The body is not a request envelope.
    pub fn malformed_request(message: impl Into<String>) -> Self {
        Self::with_message("MalformedRequest", MALFORMED_REQUEST, message)
    }

    /// A message broke its contract; the failures travel under `validation`.
    pub fn validation(error: &ValidationError) -> Self {
        Self::with_detail(
            "ValidationError",
            VALIDATION_ERROR,
            error.to_string(),
            "validation",
            serde_json::to_value(error).unwrap_or(Value::Null),
        )
    }

    /// The handler panicked.
    pub fn panicked(message: impl Into<String>) -> Self {
        Self::with_message("HandlerPanicked", HANDLER_PANICKED, message)
    }

    /// The handler's result could not be encoded.
    pub fn unserializable(message: impl Into<String>) -> Self {
        Self::with_message("UnserializableValueError", UNSERIALIZABLE_VALUE, message)
    }

    /// `value` as text, whatever JSON type the peer sent.
    pub fn value_text(&self) -> String {
        match &self.value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

/// The structured detail under `key` of an error dict's `extra` keys and `exc_args`: see
/// [`ErrorDict::detail`].
pub(crate) fn detail(extra: &Map<String, Value>, exc_args: &[Value], key: &str) -> Option<Value> {
    if let Some(detail) = extra.get(key) {
        return Some(detail.clone());
    }
    let text = exc_args.get(1)?.as_str()?;
    serde_json::from_str(text).ok()
}

/// Encode a reply body.
pub fn encode_reply(result: &RawValue, error: Option<&ErrorDict>) -> Vec<u8> {
    match error {
        // The common case is the result's own text between fixed bytes.
        None => {
            const HEAD: &[u8] = br#"{"result":"#;
            const TAIL: &[u8] = br#","error":null}"#;
            let result = result.get().as_bytes();
            let mut body = Vec::with_capacity(HEAD.len() + result.len() + TAIL.len());
            body.extend_from_slice(HEAD);
            body.extend_from_slice(result);
            body.extend_from_slice(TAIL);
            body
        }
        Some(error) => {
            #[derive(Serialize)]
            struct Reply<'a> {
                result: &'a RawValue,
                error: &'a ErrorDict,
            }
            serde_json::to_vec(&Reply { result, error }).expect("error dicts always encode")
        }
    }
}

/// Split a request body into `(args, kwargs)`, or say why it is not a request.
pub fn decode_request(body: &[u8]) -> Result<(Vec<Value>, Map<String, Value>), ErrorDict> {
    /// The envelope's two keys; other keys are ignored, as Nameko ignores them.
    #[derive(Deserialize)]
    struct Envelope {
        args: Option<Value>,
        kwargs: Option<Value>,
    }
    // serde would also read a struct from a JSON array, so only an object takes the fast path.
    let is_object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let envelope = match is_object.then(|| serde_json::from_slice::<Envelope>(body)) {
        Some(Ok(envelope)) => envelope,
        Some(Err(e)) if e.is_data() => {
            // Valid JSON, but not an envelope serde can read (a duplicate `args`, say).
            return Err(ErrorDict::malformed_request(format!(
                "request body is not a valid `args`/`kwargs` envelope: {e}"
            )));
        }
        _ => return Err(malformed(body)),
    };
    let (Some(args), Some(kwargs)) = (envelope.args, envelope.kwargs) else {
        // Nameko's exact message (rpc.py:153-157).
        return Err(ErrorDict::malformed_request(
            "Message missing `args` or `kwargs`",
        ));
    };
    let Value::Array(args) = args else {
        return Err(ErrorDict::malformed_request(format!(
            "`args` must be a JSON array, got {}",
            json_kind(&args)
        )));
    };
    let Value::Object(kwargs) = kwargs else {
        return Err(ErrorDict::malformed_request(format!(
            "`kwargs` must be a JSON object, got {}",
            json_kind(&kwargs)
        )));
    };
    if kombu::may_contain_envelope(body) {
        let (mut args, mut kwargs) = (Value::Array(args), Value::Object(kwargs));
        kombu::unwrap_envelopes(&mut args, "/args")
            .and_then(|()| kombu::unwrap_envelopes(&mut kwargs, "/kwargs"))
            .map_err(ErrorDict::malformed_request)?;
        let (Value::Array(args), Value::Object(kwargs)) = (args, kwargs) else {
            unreachable!("unwrapping keeps containers")
        };
        return Ok((args, kwargs));
    }
    Ok((args, kwargs))
}

/// Why `body` is not a request envelope: not JSON, or JSON of another kind.
fn malformed(body: &[u8]) -> ErrorDict {
    match serde_json::from_slice::<Value>(body) {
        Err(e) => ErrorDict::malformed_request(format!("request body is not valid JSON: {e}")),
        Ok(value) => ErrorDict::malformed_request(format!(
            "request body must be a JSON object with `args` and `kwargs`, got {}",
            json_kind(&value)
        )),
    }
}

/// Bind positional and keyword arguments to parameter names, as Python's call binding does.
/// Parameters absent from both are left out when `required[i]` is false.
pub fn bind_arguments(
    method: &str,
    params: &[String],
    required: &[bool],
    args: Vec<Value>,
    mut kwargs: Map<String, Value>,
) -> Result<Map<String, Value>, ErrorDict> {
    // The common case, and what our clients send: keyword arguments only, every one a
    // parameter, every required one there. The map is already the binding.
    if args.is_empty()
        && kwargs.keys().all(|k| params.iter().any(|p| p == k))
        && params
            .iter()
            .zip(required)
            .all(|(name, required)| !required || kwargs.contains_key(name))
    {
        return Ok(kwargs);
    }
    if args.len() > params.len() {
        return Err(ErrorDict::incorrect_signature(format!(
            "{method}() takes {} positional argument{} but {} were given",
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            args.len()
        )));
    }
    let mut bound = Map::with_capacity(params.len());
    let positional = args.len();
    for (name, value) in params.iter().zip(args) {
        bound.insert(name.clone(), value);
    }
    for name in &params[positional..] {
        if let Some(value) = kwargs.remove(name) {
            bound.insert(name.clone(), value);
        }
    }
    if let Some(extra) = kwargs.keys().next() {
        let message = if bound.contains_key(extra) {
            format!("{method}() got multiple values for argument '{extra}'")
        } else {
            format!("{method}() got an unexpected keyword argument '{extra}'")
        };
        return Err(ErrorDict::incorrect_signature(message));
    }
    let missing: Vec<&str> = params
        .iter()
        .zip(required)
        .filter(|(name, required)| **required && !bound.contains_key(name.as_str()))
        .map(|(name, _)| name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ErrorDict::incorrect_signature(format!(
            "{method}() missing {} required argument{}: {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(bound)
}

/// A JSON value's kind, for error messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a JSON array",
        Value::Object(_) => "a JSON object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params() -> (Vec<String>, Vec<bool>) {
        (vec!["a".into(), "b".into()], vec![true, false])
    }

    fn kw(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_detail_is_read_from_the_extra_key_or_from_exc_args() {
        let detail = json!({"UserAlreadyExists": {"user_id": 5}});
        let rust = ErrorDict::with_detail("E", "s.E", "taken", "payload", detail.clone());
        assert_eq!(rust.detail("payload"), Some(detail.clone()));
        // What Nameko's serializer makes of a Python exception raised as (message, json).
        let python: ErrorDict = serde_json::from_value(json!({
            "exc_type": "E", "exc_path": "s.E", "value": "taken",
            "exc_args": ["taken", detail.to_string()],
        }))
        .unwrap();
        assert_eq!(python.detail("payload"), Some(detail));
        let plain = ErrorDict::with_message("E", "s.E", "taken");
        assert_eq!(plain.detail("payload"), None);
        let not_json = ErrorDict {
            exc_args: vec![json!("bad"), json!("not json")],
            ..plain
        };
        assert_eq!(not_json.detail("payload"), None);
    }

    #[test]
    fn binds_positional_keyword_and_mixed() {
        let (p, r) = params();
        let pos = bind_arguments("m", &p, &r, vec![json!(1), json!(2)], Map::new()).unwrap();
        let key = bind_arguments("m", &p, &r, vec![], kw(json!({"b": 2, "a": 1}))).unwrap();
        let mixed = bind_arguments("m", &p, &r, vec![json!(1)], kw(json!({"b": 2}))).unwrap();
        assert_eq!(Value::Object(pos.clone()), json!({"a": 1, "b": 2}));
        assert_eq!(pos, key);
        assert_eq!(pos, mixed);
        let optional_left_out = bind_arguments("m", &p, &r, vec![json!(1)], Map::new()).unwrap();
        assert_eq!(Value::Object(optional_left_out), json!({"a": 1}));
    }

    #[test]
    fn signature_errors_read_like_python() {
        let (p, r) = params();
        let too_many = bind_arguments("m", &p, &r, vec![json!(1), json!(2), json!(3)], Map::new());
        assert_eq!(
            too_many.unwrap_err().value,
            json!("m() takes 2 positional arguments but 3 were given")
        );
        let dup = bind_arguments("m", &p, &r, vec![json!(1)], kw(json!({"a": 1})));
        assert_eq!(
            dup.unwrap_err().value,
            json!("m() got multiple values for argument 'a'")
        );
        let unknown = bind_arguments("m", &p, &r, vec![], kw(json!({"a": 1, "z": 1})));
        assert_eq!(
            unknown.unwrap_err().value,
            json!("m() got an unexpected keyword argument 'z'")
        );
        let missing = bind_arguments("m", &p, &r, vec![], Map::new()).unwrap_err();
        assert_eq!(missing.exc_path.as_deref(), Some(INCORRECT_SIGNATURE));
        assert_eq!(missing.value, json!("m() missing 1 required argument: 'a'"));
    }

    #[test]
    fn malformed_bodies_are_named() {
        let not_json = decode_request(b"{nope").unwrap_err();
        assert_eq!(not_json.exc_type, "MalformedRequest");
        assert!(not_json.value_text().contains("not valid JSON"));
        let list = decode_request(b"[1,2]").unwrap_err();
        assert!(list.value_text().contains("got a JSON array"));
        let missing = decode_request(br#"{"args": []}"#).unwrap_err();
        assert_eq!(missing.value, json!("Message missing `args` or `kwargs`"));
        assert_eq!(
            missing.exc_args,
            vec![json!("Message missing `args` or `kwargs`")]
        );
        let twice = decode_request(br#"{"args": [], "args": [], "kwargs": {}}"#).unwrap_err();
        assert!(
            twice.value_text().contains("duplicate field"),
            "{:?}",
            twice.value
        );
        let bad_args = decode_request(br#"{"args": {}, "kwargs": {}}"#).unwrap_err();
        assert!(
            bad_args
                .value_text()
                .contains("`args` must be a JSON array")
        );
    }

    #[test]
    fn error_dict_keeps_unknown_keys() {
        let dict: ErrorDict = serde_json::from_value(json!({
            "exc_type": "ValueError", "exc_path": "builtins.ValueError",
            "exc_args": ["bad", "42"], "value": "('bad', 42)", "trace": "x"
        }))
        .unwrap();
        assert_eq!(dict.extra.get("trace"), Some(&json!("x")));
        let legacy: ErrorDict =
            serde_json::from_value(json!({"exc_type": "X", "value": "v"})).unwrap();
        assert_eq!(legacy.exc_path, None);
    }
}
