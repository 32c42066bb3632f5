//! The gateway: which contracts it serves, and the routes that serve them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Router, extract::Request};
use contracts_core::contract::CompiledMethod;
use contracts_core::contract::ServiceContract;
use contracts_core::observe::{self, HttpOutcome, HttpRequest};
use contracts_core::validate::{Direction, Failure};
use contracts_core::wire::limits::Limits;
use contracts_core::wire::topology::CONTENT_TYPE_JSON;
use contracts_core::{CompiledService, Contract, RpcClient, ValidationError};
use serde_json::Value;

use contracts_docs::{Problem, openapi};

use crate::answer::{self, Refusal};

/// An HTTP gateway to contracts services: build it with the contracts to serve, then take
/// its [`Gateway::router`].
#[derive(Debug)]
pub struct Gateway {
    rpc: RpcClient,
    services: BTreeMap<String, CompiledService>,
    statuses: HashMap<String, StatusCode>,
    max_body_bytes: usize,
}

/// What the routes share.
#[derive(Debug)]
struct Inner {
    rpc: RpcClient,
    services: BTreeMap<String, CompiledService>,
    statuses: HashMap<String, StatusCode>,
    openapi: String,
}

impl Gateway {
    /// A gateway calling services through `rpc` (its timeout is each call's deadline).
    pub fn new(rpc: RpcClient) -> Self {
        Self {
            rpc,
            services: BTreeMap::new(),
            statuses: HashMap::new(),
            max_body_bytes: Limits::default().max_body_bytes,
        }
    }

    /// Serve the methods of the contract `C` (a `#[service]` trait's `<Trait>Contract`).
    #[must_use]
    pub fn service<C: Contract>(self) -> Self {
        self.contract(C::contract().clone())
    }

    /// Serve the methods of `contract`, however it was made (read back from `schemas/`, say).
    #[must_use]
    pub fn contract(mut self, contract: ServiceContract) -> Self {
        self.services
            .insert(contract.name.clone(), CompiledService::compile(contract));
        self
    }

    /// Answer the declared error that travels under `exc_path` with `status` instead of
    /// `400` (`409 Conflict` for `user_service.UserError`, say).
    #[must_use]
    pub fn error_status(mut self, exc_path: &str, status: StatusCode) -> Self {
        self.statuses.insert(exc_path.to_owned(), status);
        self
    }

    /// Refuse request bodies over `n` bytes with `413` (default: the services' own limit,
    /// [`Limits::default`]).
    #[must_use]
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// The OpenAPI 3.1 document of the routes, as served at `/openapi.json`.
    pub fn openapi(&self) -> Value {
        let statuses = self
            .statuses
            .iter()
            .map(|(path, status)| (path.clone(), status.as_u16()))
            .collect();
        openapi::document(
            self.services.values().map(CompiledService::contract),
            &statuses,
        )
    }

    /// The routes: `POST /<service>/<method>` and `GET /openapi.json`.
    pub fn router(self) -> Router {
        let openapi = self.openapi().to_string();
        let inner = Arc::new(Inner {
            rpc: self.rpc,
            services: self.services,
            statuses: self.statuses,
            openapi,
        });
        Router::new()
            .route("/openapi.json", get(openapi_json))
            .route("/{service}/{method}", post(call))
            .fallback(not_found)
            .method_not_allowed_fallback(not_allowed)
            .layer(DefaultBodyLimit::max(self.max_body_bytes))
            .with_state(inner)
    }
}

async fn openapi_json(State(inner): State<Arc<Inner>>) -> Response {
    answer::json(StatusCode::OK, inner.openapi.clone())
}

async fn not_found(request: Request) -> Response {
    Refusal::new(
        Problem::NotFound,
        format!("no route {} {}", request.method(), request.uri().path()),
    )
    .into()
}

async fn not_allowed(request: Request) -> Response {
    Refusal::new(
        Problem::MethodNotAllowed,
        format!("{} is answered to POST only", request.uri().path()),
    )
    .into()
}

/// `POST /<service>/<method>`: check the body, call, answer — observed (traced, counted)
/// when the process has an observer, the caller's trace continued.
async fn call(
    State(inner): State<Arc<Inner>>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(observer) = observe::current() else {
        return answer_call(&inner, &service, &method, &headers, body).await;
    };
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let route = format!("/{service}/{method}");
    let observation = observer.http(&HttpRequest {
        method: "POST",
        route: &route,
        traceparent: header(header::HeaderName::from_static("traceparent")),
        tracestate: header(header::HeaderName::from_static("tracestate")),
    });
    let work = answer_call(&inner, &service, &method, &headers, body);
    observe::observed(observation, work, |response| HttpOutcome {
        status: response.status().as_u16(),
    })
    .await
}

async fn answer_call(
    inner: &Inner,
    service: &str,
    method: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match request(inner, service, method, headers, body) {
        Ok(Call {
            service,
            method,
            kwargs,
        }) => {
            let result = inner
                .rpc
                .call_checked(service, method, Vec::new(), kwargs)
                .await;
            answer::reply(&inner.statuses, method, result)
        }
        Err(refusal) => refusal.into(),
    }
}

/// A request ready to call: the service and method it names, its arguments by name.
struct Call<'a> {
    service: &'a CompiledService,
    method: &'a CompiledMethod,
    kwargs: serde_json::Map<String, Value>,
}

/// The call to `service.method` the HTTP request makes, or why it cannot make one.
fn request<'a>(
    inner: &'a Inner,
    service: &str,
    method: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Call<'a>, Refusal> {
    let compiled = inner.services.get(service).ok_or_else(|| {
        Refusal::new(
            Problem::NotFound,
            format!(
                "no service {service} here; serving {:?}",
                inner.services.keys().collect::<Vec<_>>()
            ),
        )
    })?;
    let spec = compiled.method_by_name(method).ok_or_else(|| {
        Refusal::new(
            Problem::NotFound,
            format!("{service} has no method {method}"),
        )
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(CONTENT_TYPE_JSON) {
        return Err(Refusal::new(
            Problem::UnsupportedMediaType,
            format!("the body must be {CONTENT_TYPE_JSON}, not {content_type:?}"),
        ));
    }
    let body = body.map_err(|rejection| {
        let kind = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::TooLarge,
            _ => Problem::BadBody,
        };
        Refusal::new(kind, rejection.body_text())
    })?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| Refusal::new(Problem::BadJson, format!("the body is not JSON: {e}")))?;
    match value {
        Value::Object(kwargs) => Ok(Call {
            service: compiled,
            method: spec,
            kwargs,
        }),
        // The body is the method's arguments by name.
        other => Err(Refusal::invalid(&ValidationError::new(
            service,
            method,
            Direction::Request,
            vec![Failure {
                pointer: String::new(),
                reason: format!("{other} is not an object of arguments by name"),
            }],
        ))),
    }
}
