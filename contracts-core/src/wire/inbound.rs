//! What every inbound message goes through before a handler sees it, as plain functions of
//! the message: the content type, the size and depth limits, the envelope (with kombu's
//! typed values unwrapped), binding arguments to parameters, and the contract's schema.
//! The runner uses them for every request and event; the fuzz targets (`fuzz/`) feed them
//! hostile bytes.

use serde_json::Value;

use crate::contract::{CompiledMethod, CompiledService};
use crate::observe;
use crate::transport::Message;
use crate::validate::{
    Direction, Envelope, Failure, MessageValidator, ValidationError, ValidationMode, View,
};
use crate::wire::kombu;
use crate::wire::limits::Limits;
use crate::wire::topology::CONTENT_TYPE_JSON;
use crate::wire::{self, ErrorDict};

/// A request's arguments, bound to the method's parameters by name and checked against its
/// schema: what [`Dispatch::dispatch`](crate::Dispatch::dispatch) decodes into the method's request struct.
#[derive(Debug)]
pub enum Arguments<'a> {
    /// The request's `kwargs` as read from its body: a request of keyword arguments only,
    /// every one a parameter (what typed clients send).
    Keywords(View<'a>),
    /// Arguments bound by the runner: positional ones, or ones with kombu's typed values
    /// unwrapped.
    Bound(Value),
}

impl Arguments<'_> {
    /// Check the arguments against `validator` (the method's request schema).
    pub fn check(&self, validator: &MessageValidator) -> Result<(), Vec<Failure>> {
        match self {
            Arguments::Keywords(view) => validator.check_view(view),
            Arguments::Bound(value) => validator.check(value),
        }
    }
}

/// Admit a request for `method` of `compiled`: the method's compiled contract with its
/// arguments bound to parameters by name and checked, or the Nameko error dict to reply with.
pub fn request<'m>(
    compiled: &'m CompiledService,
    method: &str,
    message: &'m Message,
    limits: &Limits,
    validation: ValidationMode,
) -> Result<(&'m CompiledMethod, Arguments<'m>), ErrorDict> {
    match message.properties.content_type.as_deref() {
        Some(CONTENT_TYPE_JSON) => {}
        // Nameko dies on a missing content type (#753) and drops unknown ones unanswered.
        Some(other) => {
            return Err(ErrorDict::malformed_request(format!(
                "unsupported content type `{other}`: {} accepts `{CONTENT_TYPE_JSON}`",
                compiled.name()
            )));
        }
        None => {
            return Err(ErrorDict::malformed_request(format!(
                "request has no content type: {} accepts `{CONTENT_TYPE_JSON}`",
                compiled.name()
            )));
        }
    }
    limits
        .check(&message.body)
        .map_err(|why| ErrorDict::malformed_request(format!("request refused: {why}")))?;
    let index = compiled
        .method_index(method)
        .ok_or_else(|| ErrorDict::method_not_found(method))?;
    let spec = compiled.method(index);
    // The common case, and what our clients send: keyword arguments only, each a parameter,
    // checked and decoded as read. Everything else (positional arguments, kombu's typed
    // values, and every malformed body, which gets its error here) is bound as
    // `serde_json::Value`s.
    let arguments = match keywords_only(&message.body, spec) {
        Some(kwargs) => Arguments::Keywords(kwargs),
        None => {
            let (args, kwargs) = wire::decode_request(&message.body)?;
            Arguments::Bound(Value::Object(wire::bind_arguments(
                method,
                &spec.params,
                &spec.required,
                args,
                kwargs,
            )?))
        }
    };
    if validation.checks_inbound() {
        let checked = arguments.check(&spec.request);
        observe::enforce(
            validation,
            compiled.name(),
            method,
            Direction::Request,
            checked,
        )
        .map_err(|failures| {
            ErrorDict::validation(&ValidationError::new(
                compiled.name(),
                method,
                Direction::Request,
                failures,
            ))
        })?;
    }
    Ok((spec, arguments))
}

/// The `kwargs` of a request that binds by name as it stands: an object with `args` an empty
/// array and `kwargs` an object of parameters only, every required one there, no key
/// written twice and no kombu envelope anywhere. `None` sends the body the general way.
fn keywords_only<'m>(body: &'m [u8], spec: &CompiledMethod) -> Option<View<'m>> {
    if kombu::may_contain_envelope(body) {
        return None;
    }
    let envelope = Envelope::parse(body).ok()?;
    if envelope.repeated_keys() {
        return None;
    }
    let [Some(args), Some(kwargs)] = envelope.into_parts(["args", "kwargs"])? else {
        return None;
    };
    if !matches!(&args.view, View::Array(items) if items.is_empty()) {
        return None;
    }
    let View::Object(members) = &kwargs.view else {
        return None;
    };
    let binds = members
        .iter()
        .all(|(k, _)| spec.params.iter().any(|p| p == k))
        && spec
            .params
            .iter()
            .zip(&spec.required)
            .all(|(name, required)| !required || members.iter().any(|(k, _)| k == name));
    binds.then_some(kwargs.view)
}

/// Admit an event body for the event at `index` of `source`
/// ([`CompiledService::event_index`]): the payload, or why it cannot be handled (retrying
/// would not change that).
pub fn event(
    source: &CompiledService,
    index: usize,
    body: &[u8],
    limits: &Limits,
    validation: ValidationMode,
) -> Result<Value, String> {
    limits.check(body).map_err(|e| e.to_string())?;
    let mut payload: Value =
        serde_json::from_slice(body).map_err(|e| format!("event body is not JSON: {e}"))?;
    if kombu::may_contain_envelope(body) {
        kombu::unwrap_envelopes(&mut payload, "")?;
    }
    let event = source.event(index);
    if validation.checks_inbound()
        && let Err(failures) = observe::enforce(
            validation,
            source.name(),
            &event.name,
            Direction::Event,
            event.payload.check(&payload),
        )
    {
        let error = ValidationError::new(source.name(), &event.name, Direction::Event, failures);
        return Err(error.to_string());
    }
    Ok(payload)
}
