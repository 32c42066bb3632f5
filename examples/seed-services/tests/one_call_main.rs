//! `contracts_amqp::run` as a real process's whole `main`, over the real RabbitMQ: it serves
//! until SIGTERM and exits 0; exits 75 when its consumer is lost (to be restarted); 69 when
//! no broker answers; 78 when its configuration cannot be read.
//!
//! Each test re-runs this test binary as the service process (selected by an environment
//! variable), so exit codes and signals belong to a process of its own.

mod lab;

use contracts_amqp::{Config, Exit};
use contracts_core::{RpcClient, Transport};
use contracts_testkit::{TestProcess, TestVhost, guarded};
use lab::{LabClient, LabImpl, LabServer};

/// Set in the service process: where its configuration comes from.
const CHILD_CONFIG: &str = "CONTRACTS_MAIN_CHILD_CONFIG";

/// The service process's `main`: a config (`env` for the environment's, else a file), then
/// `run` with the `lab` service; `seed` for the seed example's own main.
async fn child_main(source: String) -> Exit {
    if source == "seed" {
        return match Config::from_env() {
            Ok(config) => seed_services::run(&config).await,
            Err(error) => contracts_amqp::config_error(&error),
        };
    }
    let config = if source == "env" {
        Config::from_env()
    } else {
        Config::load(source)
    };
    let config = match config {
        Ok(config) => config,
        Err(error) => return contracts_amqp::config_error(&error),
    };
    contracts_amqp::run(&config, |runner| async {
        let running = runner
            .serve(LabServer::new(LabImpl::default()))
            .start()
            .await?;
        println!("READY");
        Ok(running)
    })
    .await
}

/// Run `child_main` instead of the test when this binary is the service process.
async fn as_child() -> bool {
    let Ok(source) = std::env::var(CHILD_CONFIG) else {
        return false;
    };
    std::process::exit(i32::from(child_main(source).await.code()))
}

/// The service process for `test`, against `amqp_uri`, its config from `config`.
fn service_process(test: &str, amqp_uri: &str, config: &str) -> TestProcess {
    TestProcess::start(
        test,
        &[
            (CHILD_CONFIG, config),
            ("AMQP_URI", amqp_uri),
            // One attempt at the broker: a test of "no broker" should not wait out retries.
            ("RECONNECT_MAX_ATTEMPTS", "1"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_serves_until_sigterm_and_exits_0() {
    if as_child().await {
        return;
    }
    let vhost = TestVhost::create("main");
    let mut service = service_process(
        "it_serves_until_sigterm_and_exits_0",
        vhost.raw_uri(),
        "env",
    );
    service.expect_line("READY").await;
    let broker = vhost.connect().await;
    let lab = LabClient::new(RpcClient::connect(broker, "tests").await.unwrap());
    assert_eq!(guarded("a call", lab.add(2, Some(3))).await.unwrap(), 5);
    service.signal("TERM");
    assert_eq!(service.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_consumer_exits_75_to_be_restarted() {
    if as_child().await {
        return;
    }
    let vhost = TestVhost::create("main");
    let mut service = service_process(
        "a_lost_consumer_exits_75_to_be_restarted",
        vhost.raw_uri(),
        "env",
    );
    service.expect_line("READY").await;
    let broker = vhost.connect().await;
    broker.delete_queue("rpc-lab").await.unwrap();
    assert_eq!(
        service.exit_code().await,
        Some(i32::from(Exit::Lost.code()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_broker_exits_69() {
    if as_child().await {
        return;
    }
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let service = service_process(
        "no_broker_exits_69",
        &format!("amqp://guest:guest@127.0.0.1:{port}/"),
        "env",
    );
    assert_eq!(
        service.exit_code().await,
        Some(i32::from(Exit::Unavailable.code()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_config_exits_78() {
    if as_child().await {
        return;
    }
    let service = service_process(
        "an_unreadable_config_exits_78",
        "amqp://guest:guest@127.0.0.1:5672/",
        "/no/such/config.yaml",
    );
    assert_eq!(
        service.exit_code().await,
        Some(i32::from(Exit::Config.code()))
    );
}

/// A port nothing listens on (the listener that found it is closed again).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Wait until something accepts connections on `port`.
async fn listening(port: u16) {
    guarded("the port to listen", async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// The seed example's main, configured by environment variables alone (no file): its
/// gateway listens on `WEB_SERVER_PORT` and its metrics on `METRICS_PORT`, as they would from
/// a config file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_example_serves_gateway_and_metrics_from_the_environment() {
    if as_child().await {
        return;
    }
    let vhost = TestVhost::create("main");
    let (web, metrics) = (free_port(), free_port());
    let (web_port, metrics_port) = (web.to_string(), metrics.to_string());
    let service = TestProcess::start(
        "the_seed_example_serves_gateway_and_metrics_from_the_environment",
        &[
            (CHILD_CONFIG, "seed"),
            ("AMQP_URI", vhost.raw_uri()),
            ("WEB_SERVER_PORT", &web_port),
            ("METRICS_PORT", &metrics_port),
            ("LOG_FORMAT", "text"),
        ],
    );
    listening(web).await;
    let gateway = std::net::SocketAddr::from(([127, 0, 0, 1], web));
    let body = serde_json::json!({"name": "env"});
    let answer = contracts_testkit::http::post_json(gateway, "/my_service/hello", &body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), serde_json::json!("Hello, env!"));
    listening(metrics).await;
    let exposition = contracts_testkit::http::request(
        std::net::SocketAddr::from(([127, 0, 0, 1], metrics)),
        "GET",
        "/metrics",
        &[],
        "",
    )
    .await;
    assert_eq!(exposition.status, 200);
    let text = String::from_utf8_lossy(&exposition.body);
    assert!(text.contains("contracts_"), "{text}");
    service.signal("TERM");
    assert_eq!(service.exit_code().await, Some(0));
}
