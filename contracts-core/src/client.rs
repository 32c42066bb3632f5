//! The RPC client: one reply queue per client, many calls in flight on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::contract::{CompiledMethod, CompiledService};
use crate::error::{CallError, Declared, DeclaredError, Never, RemoteError, Report};
use crate::observe::{self, Call, CallOutcome, Side};
use crate::server::{Dispatch, Responder};
use crate::transport::{Headers, Message, Properties, SharedTransport, TransportError};
use crate::validate::{
    Direction, Envelope, Failure, MessageValidator, ValidationError, ValidationMode, View,
    serde_failure,
};
use crate::wire::context::{self, new_uuid, outgoing_headers};
use crate::wire::limits::Limits;
use crate::wire::topology;
use crate::wire::{
    ErrorDict, HEADER_PREFIX, ReplyEnvelope, RequestEnvelope, VALIDATION_ERROR, keyword_request,
};

/// The contract violation an error reply reports, from a Rust or a Python service.
fn rejected(error: &ErrorDict) -> Option<ValidationError> {
    if error.exc_path.as_deref() != Some(VALIDATION_ERROR) {
        return None;
    }
    serde_json::from_value(error.detail("validation")?).ok()
}

/// How long a call waits for its reply unless the client says otherwise. Nameko's service
/// proxies wait forever (book/src/wire.md, "What Nameko gets wrong"); a caller stuck forever is worse than an error.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Calls waiting for their reply, by correlation id. The ids are random UUIDs of our own, so
/// a fast hasher is safe here.
type Pending =
    Arc<Mutex<HashMap<String, oneshot::Sender<Arc<Message>>, foldhash::fast::RandomState>>>;

/// A connection for making RPC calls, shared by every typed client built on it.
///
/// Like a Nameko `ServiceRpcProxy`, it owns one reply queue (`rpc.reply-<caller>-<uuid>`, bound
/// to `nameko-rpc` by the uuid); any number of calls can be in flight on it. Cloning is cheap
/// and clones share the reply queue; `with_*` methods return a clone with other settings.
///
/// Inside a handler, calls carry the handler's context (`call_id_stack` and `nameko.*`
/// headers) automatically.
#[derive(Clone)]
pub struct RpcClient {
    shared: Arc<Shared>,
    timeout: Duration,
    validation: ValidationMode,
    /// Context data in wire form (`nameko.`-prefixed keys).
    context: Arc<Headers>,
}

struct Shared {
    caller: String,
    route: Route,
}

/// Where requests go.
enum Route {
    /// Over a broker, replies on a reply queue of our own.
    Broker(Broker),
    /// To services in this process ([`RpcClient::local`]).
    Local(HashMap<String, Responder>),
}

struct Broker {
    transport: SharedTransport,
    exchange: String,
    reply_to: String,
    pending: Pending,
    listener: tokio::task::AbortHandle,
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("caller", &self.shared.caller)
            .field("reply_to", &self.reply_to())
            .field("timeout", &self.timeout)
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

/// Removes a call's pending-reply entry when the call ends, however it ends: dropping a call's
/// future (a cancelled request, a `select!` that went the other way) must not leave the entry
/// for the reply that will never be awaited (after tarpc's `ResponseGuard`).
struct PendingGuard<'a> {
    pending: &'a Pending,
    correlation_id: &'a str,
    armed: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.pending
                .lock()
                .expect("pending lock")
                .remove(self.correlation_id);
        }
    }
}

impl RpcClient {
    /// Declare a reply queue for `caller` (a service name, or any name for a standalone
    /// client) and start listening on it.
    pub async fn connect(transport: SharedTransport, caller: &str) -> Result<Self, TransportError> {
        Self::connect_via(transport, caller, topology::RPC_EXCHANGE).await
    }

    /// [`RpcClient::connect`] on the RPC exchange `exchange` instead of `nameko-rpc`
    /// (Nameko's `rpc_exchange` setting).
    pub async fn connect_via(
        transport: SharedTransport,
        caller: &str,
        exchange: &str,
    ) -> Result<Self, TransportError> {
        let exchange = topology::rpc_exchange_named(exchange);
        transport.declare_exchange(&exchange).await?;
        let id = new_uuid();
        let queue = topology::reply_queue(caller, &id);
        transport.declare_queue(&queue).await?;
        transport.bind(&queue.name, &exchange.name, &id).await?;
        let mut consumer = transport.consume(&queue.name, 0).await?;
        let up = observe::consuming(&queue.name, caller, &transport);
        let pending: Pending = Arc::default();
        let listener = {
            let pending = pending.clone();
            tokio::spawn(async move {
                // Down when the listener ends, however it ends.
                let _up = up;
                while let Some(delivery) = consumer.next().await {
                    let waiter = delivery
                        .message
                        .properties
                        .correlation_id
                        .as_deref()
                        .and_then(|id| pending.lock().expect("pending lock").remove(id));
                    match waiter {
                        // The caller may have timed out and gone; nothing to do then.
                        Some(waiter) => drop(waiter.send(delivery.message)),
                        None => tracing::debug!(
                            correlation_id = ?delivery.message.properties.correlation_id,
                            "dropping a reply nobody waits for"
                        ),
                    }
                    if let Err(e) = delivery.acker.ack().await {
                        tracing::warn!(error = %Report(&e), "could not ack a reply");
                    }
                }
            })
            .abort_handle()
        };
        Ok(Self::with_route(
            caller,
            Route::Broker(Broker {
                transport,
                exchange: exchange.name,
                reply_to: id,
                pending,
                listener,
            }),
        ))
    }

    /// A client whose calls `services` answer in this process, with no broker: for tests of a
    /// service that calls others, its downstream services replaced by local implementations
    /// of their traits (Nameko's `replace_dependencies`). Each call still takes the whole path
    /// but the broker — this client encodes and checks the request, the service decodes and
    /// checks it, runs the handler in a worker's context, checks and encodes the reply, and
    /// this client decodes and checks that — so a contract violation on either side fails as
    /// it would over RabbitMQ. A call to a service not among `services` is
    /// [`CallError::UnknownService`].
    ///
    /// ```
    /// # use contracts_core::prelude::*;
    /// # use contracts_core::RpcClient;
    /// #[service(name = "greeter")]
    /// trait Greeter {
    ///     async fn hello(&self, name: String) -> String;
    /// }
    /// struct Fake;
    /// impl Greeter for Fake {
    ///     async fn hello(&self, name: String) -> String {
    ///         format!("Hi, {name}")
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let greeter = GreeterClient::new(RpcClient::local("tests", [GreeterServer::new(Fake)]));
    /// assert_eq!(greeter.hello("Ada".into()).await.unwrap(), "Hi, Ada");
    /// # }
    /// ```
    pub fn local<S: Dispatch>(caller: &str, services: impl IntoIterator<Item = S>) -> Self {
        let services = services
            .into_iter()
            .map(|service| {
                let name = service.compiled().name().to_owned();
                let responder = Responder {
                    service: Arc::new(service),
                    validation: ValidationMode::default(),
                    limits: Limits::default(),
                    parent_calls_tracked: context::PARENT_CALLS_TRACKED,
                };
                (name, responder)
            })
            .collect();
        Self::with_route(caller, Route::Local(services))
    }

    fn with_route(caller: &str, route: Route) -> Self {
        Self {
            shared: Arc::new(Shared {
                caller: caller.to_owned(),
                route,
            }),
            timeout: DEFAULT_TIMEOUT,
            validation: ValidationMode::default(),
            context: Arc::default(),
        }
    }

    /// A client whose calls give up after `timeout` (the default is [`DEFAULT_TIMEOUT`]) with
    /// [`CallError::Timeout`]. Requests carry the same deadline as their AMQP `expiration`,
    /// so a request nobody took in time is dropped by the broker, not executed late; a reply
    /// arriving after the deadline is dropped.
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// A client that validates as `mode` says.
    #[must_use]
    pub fn with_validation(&self, mode: ValidationMode) -> Self {
        Self {
            validation: mode,
            ..self.clone()
        }
    }

    /// A client that sends `key` as `nameko.<key>` context data on calls made outside a
    /// handler (Nameko's `context_data`).
    #[must_use]
    pub fn with_context(&self, key: &str, value: impl Into<Value>) -> Self {
        let mut context = (*self.context).clone();
        context.insert([HEADER_PREFIX, key].concat(), value.into());
        Self {
            context: Arc::new(context),
            ..self.clone()
        }
    }

    /// The routing key replies come back on (empty for a [`RpcClient::local`] client).
    pub fn reply_to(&self) -> &str {
        match &self.shared.route {
            Route::Broker(broker) => &broker.reply_to,
            Route::Local(_) => "",
        }
    }

    /// The deadline of each call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Calls made through this client (or its clones) still waiting for their reply.
    pub fn pending_calls(&self) -> usize {
        match &self.shared.route {
            Route::Broker(broker) => broker.pending.lock().expect("pending lock").len(),
            Route::Local(_) => 0,
        }
    }

    /// The validation mode in force.
    pub fn validation(&self) -> ValidationMode {
        self.validation
    }

    /// Call any method without a contract: arguments and result are raw JSON. Use the typed
    /// client generated by `#[service]` where a contract exists.
    pub async fn call(
        &self,
        service: &str,
        method: &str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, CallError> {
        let call = self.call_raw(service, method, args, kwargs);
        match observe::current() {
            None => call.await,
            Some(observer) => observed(observer, service, method, call).await,
        }
    }

    /// Call `method` (of `service`'s compiled contract) with JSON arguments, checked as the
    /// typed clients check: `args` bind to the method's parameters by position and `kwargs`
    /// by name, the bound request is checked before anything is sent, then the reply's result
    /// (or the declared error's value) on receipt, as [`RpcClient::with_validation`] says. A
    /// declared error comes back as [`CallError::Service`] with its checked value
    /// ([`Declared`]); every other failure as from a typed client. For front ends that hold contracts but not their
    /// types: the HTTP gateway, `contracts call`.
    ///
    /// ```
    /// # use contracts_core::prelude::*;
    /// # use contracts_core::{CallError, RpcClient};
    /// # use serde_json::json;
    /// #[service(name = "greeter")]
    /// trait Greeter {
    ///     async fn hello(&self, name: String) -> String;
    /// }
    /// # struct Impl;
    /// # impl Greeter for Impl {
    /// #     async fn hello(&self, name: String) -> String { format!("Hello, {name}!") }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let rpc = RpcClient::local("docs", [GreeterServer::new(Impl)]);
    /// let greeter = contracts_core::CompiledService::compile(GreeterContract::contract().clone());
    /// let hello = greeter.method_by_name("hello").unwrap();
    /// let reply = rpc.call_checked(&greeter, hello, vec![json!("Ann")], Default::default());
    /// assert_eq!(reply.await.unwrap(), json!("Hello, Ann!"));
    /// let refused = rpc.call_checked(&greeter, hello, vec![json!(7)], Default::default()).await;
    /// assert!(matches!(refused, Err(CallError::Validation(e)) if e.failures[0].pointer == "/name"));
    /// # }
    /// ```
    pub async fn call_checked(
        &self,
        service: &CompiledService,
        method: &CompiledMethod,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, CallError<Declared>> {
        let call = self.call_json(service, method, args, kwargs);
        match observe::current() {
            None => call.await,
            Some(observer) => observed(observer, service.name(), &method.name, call).await,
        }
    }

    async fn call_json(
        &self,
        service: &CompiledService,
        method: &CompiledMethod,
        args: Vec<Value>,
        mut kwargs: Map<String, Value>,
    ) -> Result<Value, CallError<Declared>> {
        let invalid = |direction, failures| {
            CallError::Validation(ValidationError::new(
                service.name(),
                &method.name,
                direction,
                failures,
            ))
        };
        if args.len() > method.params.len() {
            let reason = format!(
                "{}() takes {} positional argument(s) but {} were given",
                method.name,
                method.params.len(),
                args.len()
            );
            return Err(invalid(
                Direction::Request,
                vec![Failure {
                    pointer: String::new(),
                    reason,
                }],
            ));
        }
        // Bound by name, as the server binds them: a value given both ways is the positional
        // one, as Python would refuse it and the schema cannot see it.
        for (name, value) in method.params.iter().zip(args) {
            kwargs.insert(name.clone(), value);
        }
        let request = Value::Object(kwargs);
        if self.validation.checks_outbound() {
            let checked = method.request.check(&request);
            observe::enforce(
                self.validation,
                service.name(),
                &method.name,
                Direction::Request,
                checked,
            )
            .map_err(|f| invalid(Direction::Request, f))?;
        }
        let kwargs = serde_json::to_vec(&request).expect("JSON values always encode");
        self.exchange(
            service,
            method,
            keyword_request(&kwargs),
            |_, payload, error| {
                Ok(Declared {
                    payload,
                    error: RemoteError::from_dict(service.name(), &method.name, error),
                })
            },
        )
        .await
    }

    async fn call_raw(
        &self,
        service: &str,
        method: &str,
        args: Vec<Value>,
        kwargs: Map<String, Value>,
    ) -> Result<Value, CallError> {
        let body = serde_json::to_vec(&RequestEnvelope {
            args: &args,
            kwargs: &kwargs,
        })
        .expect("JSON values always encode");
        let reply = self.round_trip(service, method, body).await?;
        let reply: ReplyEnvelope = parse_reply(service, method, &reply.body)?;
        match reply.error {
            Some(error) => Err(match rejected(&error) {
                Some(rejected) => CallError::Validation(rejected),
                None => CallError::Remote(RemoteError::from_dict(service, method, error)),
            }),
            None => Ok(reply.result),
        }
    }

    /// Typed call used by generated clients: validate the request, send it as kwargs, then
    /// validate and decode the reply. Messages are checked as [`View`]s of their JSON text;
    /// no `serde_json::Value` is built on the way.
    #[doc(hidden)]
    pub async fn call_method<Req, T, E>(
        &self,
        service: &'static CompiledService,
        method: &str,
        request: &Req,
    ) -> Result<T, CallError<E>>
    where
        Req: Serialize,
        T: DeserializeOwned,
        E: DeclaredError,
    {
        let call = self.call_typed(service, service.method_named(method), request);
        match observe::current() {
            None => call.await,
            Some(observer) => observed(observer, service.name(), method, call).await,
        }
    }

    async fn call_typed<Req, T, E>(
        &self,
        service: &'static CompiledService,
        method: &CompiledMethod,
        request: &Req,
    ) -> Result<T, CallError<E>>
    where
        Req: Serialize,
        T: DeserializeOwned,
        E: DeclaredError,
    {
        let invalid = |direction, failures| {
            CallError::Validation(ValidationError::new(
                service.name(),
                &method.name,
                direction,
                failures,
            ))
        };
        let kwargs = serde_json::to_vec(request)
            .map_err(|e| invalid(Direction::Request, vec![serde_failure(&e)]))?;
        if self.validation.checks_outbound() {
            let view = View::parse(&kwargs)
                .map_err(|e| invalid(Direction::Request, vec![serde_failure(&e)]))?;
            let checked = method.request.check_view(&view);
            observe::enforce(
                self.validation,
                service.name(),
                &method.name,
                Direction::Request,
                checked,
            )
            .map_err(|f| invalid(Direction::Request, f))?;
        }
        self.exchange(
            service,
            method,
            keyword_request(&kwargs),
            |validator, payload, _| validator.decode(&payload),
        )
        .await
    }

    /// Send a checked request `body` for `method` and read its reply as the typed path does:
    /// the result checked (as the validation mode says) and decoded as `T`, or the error read
    /// by [`RpcClient::read_error`], the declared one made an `E` by `declared`.
    async fn exchange<T: DeserializeOwned, E>(
        &self,
        service: &CompiledService,
        method: &CompiledMethod,
        body: Vec<u8>,
        declared: impl FnOnce(&MessageValidator, Value, ErrorDict) -> Result<E, Failure>,
    ) -> Result<T, CallError<E>> {
        let reply = self
            .round_trip(service.name(), &method.name, body)
            .await
            .map_err(|e| e.map_service(|never| match never {}))?;
        let (result, error) = read_reply(service.name(), &method.name, &reply.body)
            .map_err(|e| e.map_service(|never| match never {}))?;
        if let Some(error) = error {
            return Err(self.read_error(service, method, error, declared));
        }
        let invalid = |failures| {
            CallError::Validation(ValidationError::new(
                service.name(),
                &method.name,
                Direction::Reply,
                failures,
            ))
        };
        if self.validation.checks_inbound() {
            let checked = method.reply.check_view(&result);
            observe::enforce(
                self.validation,
                service.name(),
                &method.name,
                Direction::Reply,
                checked,
            )
            .map_err(invalid)?;
        }
        method
            .reply
            .decode_view(&result)
            .map_err(|f| invalid(vec![f]))
    }

    /// An error reply: the method's declared error (checked, then made an `E` by `declared`),
    /// a validation error, or whatever else the service raised.
    fn read_error<E>(
        &self,
        service: &CompiledService,
        method: &CompiledMethod,
        error: ErrorDict,
        declared: impl FnOnce(&MessageValidator, Value, ErrorDict) -> Result<E, Failure>,
    ) -> CallError<E> {
        let invalid = |direction, failures| {
            CallError::Validation(ValidationError::new(
                service.name(),
                &method.name,
                direction,
                failures,
            ))
        };
        if let Some((validator, exc_path)) = &method.error
            && error.exc_path.as_deref() == Some(exc_path.as_str())
            && let Some(payload) = error.detail("payload")
        {
            if self.validation.checks_inbound()
                && let Err(failures) = observe::enforce(
                    self.validation,
                    service.name(),
                    &method.name,
                    Direction::Error,
                    validator.check(&payload),
                )
            {
                return invalid(Direction::Error, failures);
            }
            return match declared(validator, payload, error) {
                Ok(declared) => CallError::Service(declared),
                Err(f) => invalid(Direction::Error, vec![f]),
            };
        }
        if let Some(rejected) = rejected(&error) {
            return CallError::Validation(rejected);
        }
        CallError::Remote(RemoteError::from_dict(service.name(), &method.name, error))
    }

    /// Send a request with `body` and wait for its reply message.
    async fn round_trip(
        &self,
        service: &str,
        method: &str,
        body: Vec<u8>,
    ) -> Result<Arc<Message>, CallError<Never>> {
        let correlation_id = new_uuid();
        let mut message = Message {
            properties: Properties {
                correlation_id: Some(correlation_id.clone()),
                reply_to: Some(self.reply_to().to_owned()),
                // At least 1 ms: RabbitMQ reads "0" as "deliver now or drop".
                expiration: Some(self.timeout.as_millis().max(1).to_string()),
                headers: outgoing_headers(&self.shared.caller, "call", &self.context),
                ..topology::json_properties()
            },
            body,
        };
        if let Some(observer) = observe::current() {
            observer.inject(&mut message.properties.headers);
        }
        match &self.shared.route {
            Route::Broker(broker) => {
                self.over_broker(broker, service, method, correlation_id, message)
                    .await
            }
            Route::Local(services) => {
                let responder = services
                    .get(service)
                    .ok_or_else(|| CallError::UnknownService(service.to_owned()))?;
                let compiled = responder.service.compiled();
                let answer = responder.respond(compiled, method, &message);
                match tokio::time::timeout(self.timeout, answer).await {
                    Ok((body, _)) => Ok(Arc::new(Message {
                        properties: Properties {
                            correlation_id: Some(correlation_id),
                            ..topology::json_properties()
                        },
                        body,
                    })),
                    Err(_) => Err(CallError::Timeout {
                        service: service.to_owned(),
                        method: method.to_owned(),
                        after: self.timeout,
                    }),
                }
            }
        }
    }

    /// Publish `message` and wait for its reply on the reply queue.
    async fn over_broker(
        &self,
        shared: &Broker,
        service: &str,
        method: &str,
        correlation_id: String,
        message: Message,
    ) -> Result<Arc<Message>, CallError<Never>> {
        let (tx, rx) = oneshot::channel();
        shared
            .pending
            .lock()
            .expect("pending lock")
            .insert(correlation_id.clone(), tx);
        // Whatever ends the call (a reply, an error, the deadline, or the caller dropping this
        // future) leaves no entry behind.
        let mut guard = PendingGuard {
            pending: &shared.pending,
            correlation_id: &correlation_id,
            armed: true,
        };
        let routing_key = [service, ".", method].concat();
        let published = std::sync::atomic::AtomicBool::new(false);
        // The call completes on its reply. The request's confirm is watched beside it: a
        // `basic.return` (nobody serves the method) or a `basic.nack` comes before any reply
        // could and fails the call at once; a confirm still outstanding when the reply is
        // here is dropped, since the reply proves the request was routed and consumed (a
        // persistent request on a durable queue is confirmed late, after it is stored).
        let call = async {
            let publish = shared
                .transport
                .publish(&shared.exchange, &routing_key, message, true);
            let mut publish = std::pin::pin!(publish);
            let mut rx = rx;
            loop {
                tokio::select! {
                    biased;
                    outcome = &mut publish,
                        if !published.load(std::sync::atomic::Ordering::Relaxed) => match outcome {
                        Ok(()) => published.store(true, std::sync::atomic::Ordering::Relaxed),
                        Err(TransportError::Unroutable { .. }) => {
                            return Err(CallError::UnknownService(service.to_owned()));
                        }
                        Err(other) => return Err(CallError::Transport(other)),
                    },
                    reply = &mut rx => {
                        return reply.map_err(|_| {
                            CallError::Transport(TransportError::closed(
                                "the reply listener stopped",
                            ))
                        });
                    }
                }
            }
        };
        // The deadline covers the whole call, publishing included (a broker under memory
        // pressure blocks publishers).
        let reply = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(reply)) => {
                // The listener took the entry out to deliver the reply.
                guard.armed = false;
                reply
            }
            Ok(Err(e)) => return Err(e),
            // The request never left because the broker blocks publishers (an alarm).
            Err(_)
                if !published.load(std::sync::atomic::Ordering::Relaxed)
                    && shared.transport.blocked().is_some() =>
            {
                return Err(CallError::Blocked {
                    service: service.to_owned(),
                    method: method.to_owned(),
                    after: self.timeout,
                    reason: shared.transport.blocked().unwrap_or_default(),
                });
            }
            // The request never left: the broker was away the whole time.
            Err(_)
                if !published.load(std::sync::atomic::Ordering::Relaxed)
                    && !shared.transport.is_connected() =>
            {
                return Err(CallError::Unreachable {
                    service: service.to_owned(),
                    method: method.to_owned(),
                    after: self.timeout,
                });
            }
            Err(_) => {
                return Err(CallError::Timeout {
                    service: service.to_owned(),
                    method: method.to_owned(),
                    after: self.timeout,
                });
            }
        };
        Ok(reply)
    }
}

/// Run a call under `observer`: inside its observation, so the request carries the call's
/// trace context, reporting how the call ended. (Without an observer a call runs as it is,
/// not wrapped: nothing to pay for.)
async fn observed<T, E>(
    observer: &dyn observe::Observer,
    service: &str,
    method: &str,
    call: impl Future<Output = Result<T, CallError<E>>>,
) -> Result<T, CallError<E>> {
    let observation = observer.call(&Call {
        side: Side::Client,
        service,
        method,
        headers: None,
    });
    observe::observed(observation, call, |result| match result {
        Ok(_) => CallOutcome::Ok,
        Err(e) => e.outcome(),
    })
    .await
}

/// A reply's `result` (`null` when absent) and its `error`, from the body read as an
/// [`Envelope`]; a body that is not a Nameko reply is a protocol error with serde_json's
/// account of it.
fn read_reply<'b>(
    service: &str,
    method: &str,
    body: &'b [u8],
) -> Result<(View<'b>, Option<ErrorDict>), CallError<Never>> {
    if let Ok(envelope) = Envelope::parse(body)
        && let Some([result, error]) = envelope.into_parts(["result", "error"])
    {
        let result = result.map_or(View::Null, |r| r.view);
        let error = match error {
            Some(error) if error.view != View::Null => {
                Some(serde_json::from_str(error.text).map_err(|e| protocol(service, method, e))?)
            }
            _ => None,
        };
        return Ok((result, error));
    }
    match parse_reply::<ReplyEnvelope>(service, method, body) {
        Err(e) => Err(e),
        Ok(_) => Err(CallError::Protocol {
            service: service.to_owned(),
            method: method.to_owned(),
            detail: "reply body is not a Nameko reply".to_owned(),
            source: None,
        }),
    }
}

fn protocol(service: &str, method: &str, e: serde_json::Error) -> CallError<Never> {
    CallError::Protocol {
        service: service.to_owned(),
        method: method.to_owned(),
        detail: "reply body is not a Nameko reply".to_owned(),
        source: Some(e),
    }
}

/// A reply body read as `R`, or the protocol error naming the call.
fn parse_reply<'a, R: serde::Deserialize<'a>>(
    service: &str,
    method: &str,
    body: &'a [u8],
) -> Result<R, CallError<Never>> {
    serde_json::from_slice(body).map_err(|e| protocol(service, method, e))
}
