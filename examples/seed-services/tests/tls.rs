//! One `AMQP_SSL` for both halves of a fleet: a Nameko 2.14.1 service and a Rust client, each
//! configured with the same CA, client certificate and key, talk over a RabbitMQ TLS listener
//! that requires client certificates (a node of the test's own, with a CA made for it).

mod lab;

use std::path::Path;

use contracts_amqp::Config;
use contracts_testkit::nameko::NamekoProcess;
use contracts_testkit::{FaultCluster, guarded};
use lab::LabClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_client_calls_a_nameko_service_both_over_tls() {
    let cluster = FaultCluster::start_tls("tlsnameko");
    let port = cluster.node(0).tls_port.unwrap();
    let certs = cluster.certs();
    let ssl = serde_json::json!({
        "ca_certs": certs.ca,
        "certfile": certs.client_cert,
        "keyfile": certs.client_key,
        "cert_reqs": 2,
    });
    let uri = format!("amqp://guest:guest@localhost:{port}/%2f");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nameko/services.py");
    let nameko =
        NamekoProcess::start_at(&uri, &script, &["--amqp-ssl", &ssl.to_string(), "lab"]).await;

    // The same settings, as a Nameko YAML config file would hold them.
    let config = Config::parse(&format!("AMQP_URI: {uri}\nAMQP_SSL: {ssl}\n"), |_| None).unwrap();
    let broker = config
        .connect()
        .await
        .expect("TLS with the Nameko service's AMQP_SSL");
    let client = LabClient::new(config.client(broker, "tls").await.unwrap());
    assert_eq!(
        guarded("a call over TLS", client.add(40, Some(2)))
            .await
            .unwrap(),
        42
    );
    nameko.terminate().await;
}
