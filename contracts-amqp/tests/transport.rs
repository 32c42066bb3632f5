//! The lapin transport against the real RabbitMQ, each test in its own vhost: how the broker's
//! refusals map to [`TransportError`]s, that a refusal closing a channel does not cost the
//! connection, and that connection errors keep their cause and never show a password.

use std::error::Error;

use contracts_amqp::{AmqpTransport, BrokerUri};
use contracts_core::transport::{Message, QueueSpec, Transport, TransportError};
use contracts_core::wire::topology;
use contracts_testkit::TestVhost;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_refusals_map_to_transport_errors_and_the_connection_survives_them() {
    let vhost = TestVhost::create("refusals");
    let broker = vhost.connect().await;
    let spec = QueueSpec {
        name: "rpc-x".into(),
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: Default::default(),
    };
    broker.declare_queue(&spec).await.unwrap();
    // RabbitMQ answers a redeclaration with other flags with 406 PRECONDITION_FAILED.
    let other = QueueSpec {
        durable: false,
        ..spec.clone()
    };
    match broker.declare_queue(&other).await {
        Err(TransportError::PreconditionFailed { name, detail }) => {
            assert_eq!(name, "rpc-x");
            assert!(detail.contains("406"), "{detail}");
        }
        other => panic!("expected PreconditionFailed, got {other:?}"),
    }
    // A publish to a missing exchange is a 404 that closes its channel; the next publish
    // goes through a fresh one.
    let message = || Message {
        properties: topology::json_properties(),
        body: b"{}".to_vec(),
    };
    for _ in 0..8 {
        match broker
            .publish("no-such-exchange", "k", message(), false)
            .await
        {
            Err(TransportError::NoSuchExchange(name)) => assert_eq!(name, "no-such-exchange"),
            other => panic!("expected NoSuchExchange, got {other:?}"),
        }
    }
    broker.bind("rpc-x", "amq.topic", "k").await.unwrap();
    broker
        .publish("amq.topic", "k", message(), true)
        .await
        .unwrap();
    assert_eq!(vhost.queue("rpc-x").unwrap().messages_ready, 1);
    match broker.publish("amq.topic", "nobody", message(), true).await {
        Err(TransportError::Unroutable { routing_key, .. }) => assert_eq!(routing_key, "nobody"),
        other => panic!("expected Unroutable, got {other:?}"),
    }
}

#[tokio::test]
async fn connection_errors_keep_their_cause_and_hide_the_password() {
    // Nothing listens on port 1: the connection is refused at once.
    let uri: BrokerUri = "amqp://guest:s3cret-pass@127.0.0.1:1/%2f".parse().unwrap();
    let error = match AmqpTransport::connect(&uri).await {
        Err(error) => error,
        Ok(_) => panic!("connected to a port nobody listens on"),
    };
    let TransportError::Connect { broker, .. } = &error else {
        panic!("expected Connect, got {error:?}");
    };
    assert!(broker.contains("127.0.0.1:1"), "{broker}");
    let mut chain = vec![error.to_string()];
    let mut cause = error.source();
    let mut saw_lapin = false;
    while let Some(e) = cause {
        saw_lapin |= e.downcast_ref::<lapin::Error>().is_some();
        chain.push(e.to_string());
        cause = e.source();
    }
    assert!(
        saw_lapin,
        "the lapin error is reachable through source(): {chain:?}"
    );
    for text in chain.iter().chain([&format!("{error:?}")]) {
        assert!(!text.contains("s3cret-pass"), "password shown: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_properties_are_valid_on_the_wire() {
    let vhost = TestVhost::create("default-properties");
    let broker = vhost.connect().await;
    let spec = QueueSpec {
        name: "plain".into(),
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments: Default::default(),
    };
    broker.declare_queue(&spec).await.unwrap();
    broker.bind("plain", "amq.topic", "k").await.unwrap();
    // Delivery mode 0, no content type, nothing set: RabbitMQ once closed the channel on it.
    let message = Message {
        properties: Default::default(),
        body: b"plain".to_vec(),
    };
    broker
        .publish("amq.topic", "k", message, true)
        .await
        .unwrap();
    let (delivery, _) = broker.get("plain").await.unwrap().expect("the message");
    assert_eq!(delivery.message.body, b"plain");
    // Unsaid reads back as transient.
    assert_eq!(delivery.message.properties.delivery_mode, 1);
}

/// Queues no other process shares say `x-queue-type: classic`; RabbitMQ takes that as equal to
/// no type, so a Nameko declaration of the same queue (no arguments) matches it, whichever
/// comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_classic_type_matches_nameko_s_declaration_either_way() {
    let vhost = TestVhost::create("classic-type");
    let broker = vhost.connect().await;
    let names = topology::HandlerNames {
        source: "src",
        event: "evt",
        service: "svc",
        method: "on_evt",
    };
    let ours = topology::event_queue(
        names,
        topology::HandlerType::ServicePool,
        "",
        false,
        topology::QueueType::Quorum,
    );
    assert_eq!(ours.arguments["x-queue-type"], "classic");
    let nameko = QueueSpec {
        arguments: Default::default(),
        ..ours.clone()
    };
    let other_name = QueueSpec {
        name: format!("{}-2", ours.name),
        ..ours.clone()
    };
    let nameko_other = QueueSpec {
        arguments: Default::default(),
        ..other_name.clone()
    };
    for (first, second) in [(&ours, &nameko), (&nameko_other, &other_name)] {
        broker.declare_queue(first).await.unwrap();
        broker
            .declare_queue(second)
            .await
            .unwrap_or_else(|e| panic!("{second:?} after {first:?}: {e}"));
        assert_eq!(vhost.queue(&first.name).unwrap().kind, "classic");
    }
}

/// A queue that refuses messages when full (`x-overflow: reject-publish`) answers a publish with
/// `basic.nack`: it is published again a few times on a fresh channel, then the refusal is the
/// caller's as `Nacked`; the connection stays, and once the queue has room publishing works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_publish_is_retried_then_reported_and_publishing_goes_on() {
    let vhost = TestVhost::create("nacked");
    let broker = vhost.connect().await;
    let mut arguments = contracts_core::transport::Headers::default();
    arguments.insert("x-max-length".into(), 1.into());
    arguments.insert("x-overflow".into(), "reject-publish".into());
    let spec = QueueSpec {
        name: "full".into(),
        durable: true,
        exclusive: false,
        auto_delete: false,
        arguments,
    };
    broker.declare_queue(&spec).await.unwrap();
    broker.bind("full", "amq.topic", "k").await.unwrap();
    let message = || Message {
        properties: topology::json_properties(),
        body: b"{}".to_vec(),
    };
    broker
        .publish("amq.topic", "k", message(), true)
        .await
        .unwrap();
    match broker.publish("amq.topic", "k", message(), true).await {
        Err(TransportError::Nacked {
            exchange,
            routing_key,
        }) => assert_eq!(
            (exchange.as_str(), routing_key.as_str()),
            ("amq.topic", "k")
        ),
        other => panic!("expected Nacked, got {other:?}"),
    }
    assert!(broker.is_connected());
    let (delivery, _) = broker
        .get("full")
        .await
        .unwrap()
        .expect("the first message");
    delivery.acker.ack().await.unwrap();
    broker
        .publish("amq.topic", "k", message(), true)
        .await
        .unwrap();
    assert_eq!(vhost.queue("full").unwrap().messages_ready, 1);
}
