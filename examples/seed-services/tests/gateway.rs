//! The HTTP gateway in front of the seed services over the real RabbitMQ, driven by a real
//! HTTP client (hyper, `contracts_testkit::http`): replies, declared errors as their typed body, contract violations as
//! 422 with pointers, deadlines as 504, an unreachable broker as 503, and malformed HTTP —
//! bad JSON, wrong content type, oversize bodies, unknown routes — answered clearly while
//! the services stay up. And the OpenAPI document it serves.

mod lab;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use contracts_amqp::{AmqpTransport, ReconnectPolicy};
use contracts_core::{RpcClient, ServiceRunner};
use contracts_http::Gateway;
use contracts_http::axum::body::Bytes;
use contracts_http::axum::http::StatusCode;
use contracts_testkit::{BrokerProxy, TestVhost, guarded, http};
use lab::{LabContract, LabImpl, LabServer};
use seed_contracts::{MyServiceContract, UserServiceContract};

use serde_json::{Value, json};

/// Serve `gateway` on a free local port.
async fn serve(gateway: Gateway) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { contracts_http::axum::serve(listener, gateway.router()).await });
    addr
}

/// One request: the status and the body.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> (StatusCode, Vec<u8>) {
    let headers: Vec<(&str, &str)> = content_type
        .map(|c| ("content-type", c))
        .into_iter()
        .collect();
    let answer = http::request(addr, method, path, &headers, body).await;
    (StatusCode::from_u16(answer.status).unwrap(), answer.body)
}

/// POST a JSON body; the status and the JSON answer.
async fn post(addr: SocketAddr, path: &str, body: Value) -> (StatusCode, Value) {
    let answer = http::post_json(addr, path, &body).await;
    (StatusCode::from_u16(answer.status).unwrap(), answer.json())
}

fn error_type(body: &Value) -> &str {
    body["error"]["type"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_calls_the_services_and_answers_every_outcome() {
    let vhost = TestVhost::create("gateway");
    let broker = vhost.connect().await;
    let lab = LabImpl::default();
    let seed =
        seed_services::start(ServiceRunner::new(broker.clone()).serve(LabServer::new(lab.clone())))
            .await
            .unwrap();
    // Calls that do real work get the default deadline: a cold machine's first backtrace (for
    // `/lab/boom`'s panic) can take longer than a second. Only the call that can never be
    // answered in time (`/lab/gate`, held shut) goes through the impatient gateway.
    let rpc = RpcClient::connect(broker.clone(), "gateway").await.unwrap();
    let impatient = rpc.with_timeout(Duration::from_millis(500));
    // The seed example's gateway, as it serves it on WEB_SERVER_PORT; and a gateway of the
    // lab, with a small body limit.
    let seed_addr = seed_services::serve_gateway(rpc.clone(), 0).await.unwrap();
    let seed_addr = SocketAddr::from(([127, 0, 0, 1], seed_addr.port()));
    let addr = serve(
        seed_services::gateway(rpc)
            .service::<LabContract>()
            .max_body_bytes(4096),
    )
    .await;
    let impatient_addr = serve(Gateway::new(impatient).service::<LabContract>()).await;
    let (status, body) = post(seed_addr, "/my_service/hello", json!({"name": "seed"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Hello, seed!")));

    // A reply.
    let (status, body) = post(addr, "/my_service/hello", json!({"name": "World"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Hello, World!")));
    let ada = json!({"user_data": {"user_id": 1, "name": "Ada"}});
    let (status, body) = post(addr, "/user_service/create_user", ada.clone()).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "success", "user_id": 1}))
    );
    // The declared error: its typed value is the body (the seed gateway answers it 409).
    let (status, body) = post(addr, "/user_service/create_user", ada.clone()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::CONFLICT,
            json!({"UserAlreadyExists": {"user_id": 1}})
        )
    );
    // A call whose handler calls another service, over the broker.
    let (status, body) = post(addr, "/another_service/do_something_with_hello", json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Hello, Alice!")));
    // A request breaking the contract never leaves: 422 with every pointer.
    let (status, body) = post(
        addr,
        "/user_service/create_user",
        json!({"user_data": {"user_id": 0, "name": ""}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["direction"], "request");
    let pointers: Vec<&str> = body["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/user_data/name", "/user_data/user_id"]);
    let (status, _) = post(addr, "/user_service/create_user", json!([1, 2])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Something the service does not declare: 502, and why.
    let (status, body) = post(addr, "/lab/boom", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(error_type(&body), "remote_error");
    // No reply in time: 504.
    let (status, body) = post(impatient_addr, "/lab/gate", json!({})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(error_type(&body), "timeout");
    lab.gate.open.add_permits(1);

    // Malformed HTTP: clear errors, all JSON.
    let (status, body) = send(
        addr,
        "POST",
        "/my_service/hello",
        Some("application/json"),
        "{nope",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error_type(&body), "bad_json", "{body}");
    let (status, body) = send(
        addr,
        "POST",
        "/my_service/hello",
        Some("text/plain"),
        r#"{"name": "x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(String::from_utf8_lossy(&body).contains("application/json"));
    let (status, _) = send(addr, "POST", "/my_service/hello", None, r#"{"name": "x"}"#).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"name": "x".repeat(10_000)}).to_string();
    let (status, body) = send(
        addr,
        "POST",
        "/my_service/hello",
        Some("application/json"),
        huge,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&body)
    );
    for path in [
        "/nope",
        "/nobody/hello",
        "/my_service/nope",
        "/my_service/hello/more",
    ] {
        let (status, body) = post(addr, path, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_type(&body), "not_found", "{path}: {body}");
    }
    let (status, _) = send(addr, "GET", "/my_service/hello", None, "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = send(
        addr,
        "PUT",
        "/my_service/hello",
        Some("application/json"),
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // The services are unharmed.
    let (status, body) = post(addr, "/my_service/hello", json!({"name": "again"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Hello, again!")));

    // The document of it all.
    let (status, body) = send(addr, "GET", "/openapi.json", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let create = &document["paths"]["/user_service/create_user"]["post"];
    assert_eq!(create["operationId"], "user_service.create_user");
    let conflict = &create["responses"]["409"]["content"]["application/json"]["schema"];
    assert_eq!(conflict["title"], "UserError", "{create}");
    seed.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_error_is_400_by_default_and_nothing_served_is_503() {
    let vhost = TestVhost::create("gateway");
    let broker = vhost.connect().await;
    let seed = seed_services::start(ServiceRunner::new(broker.clone()))
        .await
        .unwrap();
    let rpc = RpcClient::connect(broker.clone(), "gateway").await.unwrap();
    let gateway = Gateway::new(rpc)
        .service::<UserServiceContract>()
        .service::<LabContract>();
    let document = gateway.openapi();
    // By default a declared error is a 400, beside the gateway's own 400s.
    let bad_request = &document["paths"]["/user_service/create_user"]["post"]["responses"]["400"];
    assert!(bad_request["content"]["application/json"]["schema"]["anyOf"].is_array());
    // An established validator agrees it is OpenAPI 3.1.
    let file = std::env::temp_dir().join(format!("contracts-openapi-{}.json", std::process::id()));
    std::fs::write(&file, document.to_string()).unwrap();
    let validated = std::process::Command::new(contracts_testkit::nameko::NAMEKO2.python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        validated.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
    let addr = serve(gateway).await;
    let ada = json!({"user_data": {"user_id": 3, "name": "Ada"}});
    assert_eq!(
        post(addr, "/user_service/create_user", ada.clone()).await.0,
        StatusCode::OK
    );
    let (status, body) = post(addr, "/user_service/create_user", ada).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"UserAlreadyExists": {"user_id": 3}}));
    // `lab` is in the gateway's contracts, but nothing serves it on this broker.
    let (status, body) = post(addr, "/lab/add", json!({"a": 1})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_type(&body), "unknown_service");
    seed.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_503() {
    let vhost = TestVhost::create("gateway");
    let proxy = BrokerProxy::start(vhost.broker_addr()).await;
    let broker = Arc::new(
        AmqpTransport::connect_to(vec![vhost.uri_via(&proxy)], ReconnectPolicy::default())
            .await
            .unwrap(),
    );
    let seed = seed_services::start(ServiceRunner::new(broker.clone()))
        .await
        .unwrap();
    let rpc = RpcClient::connect(broker.clone(), "gateway").await.unwrap();
    let addr = serve(Gateway::new(rpc.clone()).service::<MyServiceContract>()).await;
    let (status, _) = post(addr, "/my_service/hello", json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::OK);
    // With the broker cut, a call waits out its deadline and is answered unavailable: a
    // short one keeps the test short, and no work races it.
    let addr = serve(
        Gateway::new(rpc.with_timeout(Duration::from_millis(500))).service::<MyServiceContract>(),
    )
    .await;
    let mut connected = broker.watch_connected();
    proxy.cut();
    guarded("the loss", connected.wait_for(|up| !*up))
        .await
        .unwrap();
    let (status, body) = post(addr, "/my_service/hello", json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_type(&body), "unavailable");
    proxy.restore();
    drop(seed);
}
