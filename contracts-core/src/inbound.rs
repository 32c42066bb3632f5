//! What every inbound message goes through before a handler sees it, as plain functions of
//! the message: the content type, the size and depth limits, the envelope (with kombu's
//! typed values unwrapped), binding arguments to parameters, and the contract's schema.
//! The runner uses them for every request and event; the fuzz targets (`fuzz/`) feed them
//! hostile bytes.

use serde_json::Value;

use crate::contract::{CompiledMethod, CompiledService};
use crate::kombu;
use crate::limits::Limits;
use crate::topology::CONTENT_TYPE_JSON;
use crate::transport::Message;
use crate::validate::{Direction, ValidationError, ValidationMode};
use crate::wire::{self, ErrorDict};

/// Admit a request for `method` of `compiled`: the method's compiled contract with the bound
/// arguments (`{"param": value}`), or the Nameko error dict to reply with.
pub fn request<'a>(
    compiled: &'a CompiledService,
    method: &str,
    message: &Message,
    limits: &Limits,
    validation: ValidationMode,
) -> Result<(&'a CompiledMethod, Value), ErrorDict> {
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
    let (args, kwargs) = wire::decode_request(&message.body)?;
    let bound = Value::Object(wire::bind_arguments(
        method,
        &spec.params,
        &spec.required,
        args,
        kwargs,
    )?);
    if validation.checks_inbound() {
        spec.request.check(&bound).map_err(|failures| {
            ErrorDict::validation(&ValidationError::new(
                compiled.name(),
                method,
                Direction::Request,
                failures,
            ))
        })?;
    }
    Ok((spec, bound))
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
    limits.check(body)?;
    let mut payload: Value =
        serde_json::from_slice(body).map_err(|e| format!("event body is not JSON: {e}"))?;
    if kombu::may_contain_envelope(body) {
        kombu::unwrap_envelopes(&mut payload, "")?;
    }
    let event = source.event(index);
    if validation.checks_inbound()
        && let Err(failures) = event.payload.check(&payload)
    {
        let error = ValidationError::new(source.name(), &event.name, Direction::Event, failures);
        return Err(error.to_string());
    }
    Ok(payload)
}
