//! `amqps://` against a RabbitMQ TLS listener on a node of the test's own, with a CA made for
//! it (`contracts_testkit::FaultCluster::start_tls`): Nameko's `AMQP_SSL` options (CA, client
//! certificate and key) connect, and a wrong CA, a wrong host name or a missing client
//! certificate fail with an error that says which.

use contracts_amqp::{AmqpTransport, BrokerUri, Config, TlsOptions};
use contracts_core::transport::{Message, QueueSpec, Transport, TransportError};
use contracts_core::wire::topology;
use contracts_testkit::{FaultCluster, TestCerts};

fn uri(host: &str, port: u16) -> BrokerUri {
    format!("amqp://guest:guest@{host}:{port}/%2f")
        .parse()
        .unwrap()
}

fn full(certs: &TestCerts) -> TlsOptions {
    TlsOptions::new()
        .ca_certs(&certs.ca)
        .client_cert(&certs.client_cert, &certs.client_key)
}

/// Connecting must fail; the error, with its sources, as text.
async fn refused(broker: BrokerUri) -> String {
    match AmqpTransport::connect(&broker).await {
        Ok(_) => panic!("{broker} connected"),
        Err(e @ TransportError::Connect { .. }) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(" <- {s}"));
                source = s.source();
            }
            text
        }
        Err(other) => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_nameko_ssl_options_and_its_failures() {
    let cluster = FaultCluster::start_tls("tls");
    let port = cluster.node(0).tls_port.unwrap();
    let certs = cluster.certs();

    // Nameko's form: the TLS port in AMQP_URI, `AMQP_SSL` turning TLS on.
    let config = Config::parse(
        &format!(
            "AMQP_URI: amqp://guest:guest@localhost:{port}/%2f\n\
             AMQP_SSL:\n  ca_certs: {}\n  certfile: {}\n  keyfile: {}\n  cert_reqs: 2\n",
            certs.ca.display(),
            certs.client_cert.display(),
            certs.client_key.display()
        ),
        |_| None,
    )
    .unwrap();
    assert!(config.amqp_uri.is_tls());
    assert!(config.amqp_uri.to_string().starts_with("amqps://"));
    let broker = config.connect().await.expect("TLS with Nameko's options");
    // A whole AMQP exchange over the TLS connection: declare, bind, a confirmed routed publish.
    let queue = QueueSpec {
        name: "tls-check".into(),
        durable: false,
        exclusive: false,
        auto_delete: true,
        arguments: Default::default(),
    };
    broker.declare_queue(&queue).await.unwrap();
    broker.bind("tls-check", "amq.topic", "tls").await.unwrap();
    let message = Message {
        properties: topology::json_properties(),
        body: b"{}".to_vec(),
    };
    broker
        .publish("amq.topic", "tls", message, true)
        .await
        .expect("a confirmed publish over TLS");
    broker.close().await;

    let wrong_ca = refused(
        uri("localhost", port).with_tls(
            TlsOptions::new()
                .ca_certs(&certs.other_ca)
                .client_cert(&certs.client_cert, &certs.client_key),
        ),
    )
    .await;
    assert!(
        wrong_ca.contains("invalid peer certificate")
            && wrong_ca
                .contains("not signed by a CA in the system's roots or in AMQP_SSL ca_certs"),
        "a wrong CA says so: {wrong_ca}"
    );

    // The certificate names `localhost`, not the address.
    let wrong_name = refused(uri("127.0.0.1", port).with_tls(full(certs))).await;
    assert!(
        wrong_name.contains("not valid for name") && wrong_name.contains("127.0.0.1"),
        "a wrong host name says so: {wrong_name}"
    );

    // The listener requires a client certificate: the broker's alert says so, or, when the
    // socket closes before the alert is read (TLS 1.3), the hint does.
    let anonymous =
        refused(uri("localhost", port).with_tls(TlsOptions::new().ca_certs(&certs.ca))).await;
    assert!(
        anonymous.contains("CertificateRequired")
            || anonymous.contains("it may require a client certificate"),
        "a missing client certificate says so: {anonymous}"
    );

    let missing = refused(
        uri("localhost", port)
            .with_tls(TlsOptions::new().ca_certs(certs.ca.with_file_name("no-such-ca.pem"))),
    )
    .await;
    assert!(missing.contains("no-such-ca.pem"), "{missing}");

    // No password in any of it.
    for text in [&wrong_ca, &wrong_name, &anonymous, &missing] {
        assert!(!text.contains("guest:guest"), "{text}");
    }
    println!("wrong CA: {wrong_ca}\nwrong name: {wrong_name}\nno client certificate: {anonymous}");
}
