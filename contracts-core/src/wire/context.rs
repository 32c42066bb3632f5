//! Per-call context: Nameko's context data and `call_id_stack`.
//!
//! Inbound, every AMQP header becomes context data with `nameko.` stripped. Outbound, every
//! key is re-sent with the prefix on each RPC request and event made while handling the call.
//! Handlers run inside [`scope`], so generated clients and publishers pick the context up
//! without the handler passing it along.

use std::borrow::Cow;

use serde_json::Value;
use uuid::Uuid;

use crate::transport::Headers;
use crate::wire::HEADER_PREFIX;

/// The context key holding the call id stack.
pub const CALL_ID_STACK: &str = "call_id_stack";
/// How many parent call ids a worker keeps (Nameko's `parent_calls_tracked`).
pub const PARENT_CALLS_TRACKED: usize = 10;

const STACK_HEADER: &str = "nameko.call_id_stack";

/// Context data of one call: `call_id_stack`, `language`, `user_id`, `auth_token`,
/// `user_agent`, `traceparent`, and whatever else the caller sent.
///
/// Kept in wire form (every key `nameko.`-prefixed), since most of it only passes through: a
/// call's headers become the next call's headers with one call id appended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallContext {
    headers: Headers,
}

fn prefixed(key: &str) -> String {
    [HEADER_PREFIX, key].concat()
}

/// Inbound headers as context data in wire form: bookkeeping headers left out, every key
/// with its `nameko.` prefix (Nameko strips it where present and re-sends every key with it,
/// so an unprefixed header is the same key as its prefixed form).
fn wire_form(inbound: &Headers) -> impl Iterator<Item = (Cow<'_, str>, &Value)> {
    inbound
        .iter()
        .filter(|(k, _)| !is_bookkeeping(k))
        .map(|(k, v)| {
            let key = if k.starts_with(HEADER_PREFIX) {
                Cow::Borrowed(k.as_str())
            } else {
                Cow::Owned(prefixed(k))
            };
            (key, v)
        })
}

impl CallContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Context data from inbound headers: bookkeeping headers left out, every key prefixed
    /// with `nameko.` (an unprefixed header is the same key as its prefixed form).
    pub fn from_headers(headers: &Headers) -> Self {
        // The common case, every key already prefixed (bookkeeping keys never are): a clone
        // keeps the map's shape instead of collecting and sorting it again.
        if headers.keys().all(|k| k.starts_with(HEADER_PREFIX)) {
            return Self {
                headers: headers.clone(),
            };
        }
        let headers = wire_form(headers)
            .map(|(k, v)| (k.into_owned(), v.clone()))
            .collect();
        Self { headers }
    }

    /// The context of a worker handling `service.method`: the inbound context with the
    /// last [`PARENT_CALLS_TRACKED`] call ids kept and this worker's own id appended.
    pub fn for_worker(inbound: &Headers, service: &str, method: &str) -> Self {
        Self::for_worker_tracking(inbound, service, method, PARENT_CALLS_TRACKED)
    }

    /// [`CallContext::for_worker`] keeping `parents` call ids instead of
    /// [`PARENT_CALLS_TRACKED`] (Nameko's `parent_calls_tracked` setting).
    pub fn for_worker_tracking(
        inbound: &Headers,
        service: &str,
        method: &str,
        parents: usize,
    ) -> Self {
        // One pass over the inbound headers (this runs on every call): each key copied with
        // its prefix, the stack kept aside and rebuilt with this worker's id.
        let mut headers = Headers::new();
        let mut stack = None;
        for (key, value) in wire_form(inbound) {
            if key == STACK_HEADER {
                stack = Some(value);
            } else {
                headers.insert(key.into_owned(), value.clone());
            }
        }
        let parents_kept: &[Value] = match stack {
            Some(Value::Array(ids)) => &ids[ids.len().saturating_sub(parents)..],
            // A lone string is one id, not a sequence of characters.
            Some(id @ Value::String(_)) if parents > 0 => std::slice::from_ref(id),
            _ => &[],
        };
        let mut stack = Vec::with_capacity(parents_kept.len() + 1);
        stack.extend_from_slice(parents_kept);
        stack.push(Value::String(new_call_id(service, method)));
        headers.insert(STACK_HEADER.to_owned(), Value::Array(stack));
        Self { headers }
    }

    /// Headers to send with an outgoing request or event: every key with the `nameko.` prefix,
    /// except null values.
    pub fn to_headers(&self) -> Headers {
        self.headers
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A context value, by its key without the prefix (`"language"`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.headers.get(&prefixed(key))
    }

    /// Set a context value (sent as `nameko.<key>` on outgoing calls and events).
    pub fn insert(&mut self, key: &str, value: impl Into<Value>) {
        self.headers.insert(prefixed(key), value.into());
    }

    /// The call id stack, oldest first.
    pub fn call_id_stack(&self) -> Vec<&str> {
        match self.headers.get(STACK_HEADER) {
            Some(Value::Array(stack)) => stack.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// This call's own id (the last entry of the stack).
    pub fn call_id(&self) -> Option<&str> {
        self.call_id_stack().last().copied()
    }

    /// The id of the call that started the chain (the first entry of the stack).
    pub fn origin_call_id(&self) -> Option<&str> {
        self.call_id_stack().first().copied()
    }

    /// Every key (without the prefix) and value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.strip_prefix(HEADER_PREFIX).unwrap_or(k), v))
    }
}

/// `service.method.<uuid4>`, Nameko's call id format.
pub fn new_call_id(service: &str, method: &str) -> String {
    let mut buf = Uuid::encode_buffer();
    let uuid = Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    [service, ".", method, ".", uuid].concat()
}

/// A fresh uuid4 as text, without going through `fmt`: it is made on every call.
pub(crate) fn new_uuid() -> String {
    let mut buf = Uuid::encode_buffer();
    Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

tokio::task_local! {
    static CURRENT: CallContext;
}

/// Run `fut` with `ctx` as the current call context.
pub async fn scope<F: Future>(ctx: CallContext, fut: F) -> F::Output {
    CURRENT.scope(ctx, fut).await
}

/// The context of the call being handled by this task, if any.
///
/// Tasks spawned from a handler do not inherit it: wrap them in [`scope`] with
/// `current().unwrap_or_default()` to keep the chain.
pub fn current() -> Option<CallContext> {
    CURRENT.try_with(CallContext::clone).ok()
}

/// `read` applied to the context of the handler running now, without copying it; `None`
/// outside a handler. (A log formatter reads the call's ids this way.)
pub fn with_current<R>(read: impl FnOnce(&CallContext) -> R) -> Option<R> {
    CURRENT.try_with(read).ok()
}

/// Headers for an outgoing message from `caller`: the current context's if inside a handler,
/// otherwise `context` (context data in wire form) with a fresh stack of one
/// `caller.<what>.<uuid4>` id.
pub(crate) fn outgoing_headers(caller: &str, what: &str, context: &Headers) -> Headers {
    match CURRENT.try_with(CallContext::to_headers) {
        Ok(headers) => headers,
        Err(_) => {
            let mut headers = context.clone();
            headers.insert(
                STACK_HEADER.to_owned(),
                Value::Array(vec![Value::String(new_call_id(caller, what))]),
            );
            headers
        }
    }
}

/// Whether a header is bookkeeping (an event's retries, `x-contracts-*`, or the broker's
/// dead-lettering, `x-death`), not context data to pass on to the calls a handler makes.
pub(crate) fn is_bookkeeping(header: &str) -> bool {
    header.starts_with("x-contracts-") || header == "x-death"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(v: Value) -> Headers {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn strips_and_restores_prefix() {
        let inbound = headers(json!({
            "nameko.language": "en", "nameko.user_id": 7, "traceparent": "00-abc", "nameko.gone": null
        }));
        let ctx = CallContext::from_headers(&inbound);
        assert_eq!(ctx.get("language"), Some(&json!("en")));
        assert_eq!(ctx.get("traceparent"), Some(&json!("00-abc")));
        let out = ctx.to_headers();
        assert_eq!(out.get("nameko.user_id"), Some(&json!(7)));
        assert_eq!(out.get("nameko.traceparent"), Some(&json!("00-abc")));
        assert!(!out.contains_key("nameko.gone"));
    }

    #[test]
    fn worker_stack_keeps_ten_parents_and_appends_own_id() {
        let parents: Vec<String> = (0..12).map(|i| format!("p.m.{i}")).collect();
        let inbound = headers(json!({ "nameko.call_id_stack": parents }));
        let ctx = CallContext::for_worker(&inbound, "svc", "meth");
        let stack = ctx.call_id_stack();
        assert_eq!(stack.len(), 11);
        assert_eq!(stack[0], "p.m.2");
        assert_eq!(stack[9], "p.m.11");
        let own = stack[10];
        assert!(own.starts_with("svc.meth."));
        assert!(Uuid::parse_str(&own["svc.meth.".len()..]).is_ok());
        assert_eq!(ctx.call_id(), Some(own));
        assert_eq!(ctx.origin_call_id(), Some("p.m.2"));
    }

    #[test]
    fn a_worker_takes_unprefixed_keys_and_leaves_bookkeeping_behind() {
        let inbound = headers(json!({
            "call_id_stack": ["a.b.1"], "language": "en", "x-death": [{"count": 1}],
            "x-contracts-attempt": 2, "nameko.user_id": 7
        }));
        let ctx = CallContext::for_worker(&inbound, "s", "m");
        assert_eq!(ctx.call_id_stack()[0], "a.b.1");
        assert_eq!(ctx.call_id_stack().len(), 2);
        let keys: Vec<&str> = ctx.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["call_id_stack", "language", "user_id"]);
        let none = CallContext::for_worker_tracking(&inbound, "s", "m", 0);
        assert_eq!(none.call_id_stack().len(), 1);
    }

    #[test]
    fn a_string_stack_is_one_id() {
        let inbound = headers(json!({ "nameko.call_id_stack": "x.y.z" }));
        let ctx = CallContext::for_worker(&inbound, "s", "m");
        assert_eq!(ctx.call_id_stack()[0], "x.y.z");
        assert_eq!(ctx.call_id_stack().len(), 2);
    }

    #[tokio::test]
    async fn outgoing_headers_follow_the_current_context() {
        let standalone = outgoing_headers("caller", "call", &Headers::new());
        let stack = standalone["nameko.call_id_stack"].as_array().unwrap();
        assert_eq!(stack.len(), 1);
        assert!(stack[0].as_str().unwrap().starts_with("caller.call."));

        let ctx = CallContext::for_worker(&Headers::new(), "svc", "m");
        let inside = scope(ctx.clone(), async {
            outgoing_headers("caller", "call", &Headers::new())
        })
        .await;
        assert_eq!(inside, ctx.to_headers());
    }
}
