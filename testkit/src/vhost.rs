//! A private RabbitMQ vhost per test, created and deleted with `rabbitmqctl`.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use contracts_amqp::{AmqpTransport, BrokerUri, DEFAULT_AMQP_URI};

/// A vhost that exists for one test and is deleted (with everything in it) when dropped.
pub struct TestVhost {
    name: String,
    /// The broker URI of the vhost, password included, for child processes.
    raw_uri: String,
    uri: BrokerUri,
}

/// A queue as RabbitMQ lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    /// Queue name.
    pub name: String,
    /// Its type as RabbitMQ reports it: `classic`, `quorum`, `stream`.
    pub kind: String,
    /// Declared durable.
    pub durable: bool,
    /// Declared exclusive.
    pub exclusive: bool,
    /// Declared auto-delete.
    pub auto_delete: bool,
    /// `x-*` arguments as `{name: [AMQP type, value]}`, e.g.
    /// `{"x-expires": ["signedint", 300000]}` (py-amqp's `I` for a Python int).
    pub arguments: serde_json::Map<String, serde_json::Value>,
    /// Ready messages.
    pub messages_ready: u64,
    /// Delivered, not yet acknowledged.
    pub messages_unacknowledged: u64,
    /// Active consumers.
    pub consumers: u64,
}

fn base_uri() -> String {
    std::env::var("AMQP_URI").unwrap_or_else(|_| DEFAULT_AMQP_URI.to_owned())
}

fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `rabbitmqctl` ({e}): the AMQP tests manage their vhosts with it. \
                 Install RabbitMQ (`apt-get install -y rabbitmq-server`) and start it with \
                 `rabbitmq-server -detached`; .ci/run does both."
            )
        });
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn require_broker(uri: &BrokerUri) {
    let host = uri.host();
    let reachable = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok());
    assert!(
        reachable,
        "RabbitMQ is not reachable at {host}: the AMQP tests need it. Start it with \
         `rabbitmq-server -detached` (or point AMQP_URI at one); .ci/run starts it."
    );
}

impl TestVhost {
    /// Create a fresh vhost named after `label`, with full permissions for the URI's user.
    pub fn create(label: &str) -> Self {
        let base = base_uri();
        let parsed: BrokerUri = base.parse().expect("AMQP_URI parses");
        require_broker(&parsed);
        let name = format!(
            "contracts-{label}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        rabbitmqctl(&["add_vhost", &name, "-q"]);
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &name,
            parsed.username(),
            ".*",
            ".*",
            ".*",
            "-q",
        ]);
        let authority_end = base
            .find("://")
            .map(|i| i + 3)
            .and_then(|start| base[start..].find('/').map(|j| start + j))
            .unwrap_or(base.len());
        let raw_uri = format!("{}/{}", &base[..authority_end], name);
        Self {
            uri: parsed.with_vhost(&name),
            raw_uri,
            name,
        }
    }

    /// The vhost's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The vhost's broker URI.
    pub fn uri(&self) -> &BrokerUri {
        &self.uri
    }

    /// The vhost's broker URI through `proxy` instead of straight to the broker.
    pub fn uri_via(&self, proxy: &crate::BrokerProxy) -> BrokerUri {
        self.raw_uri_via(proxy)
            .parse()
            .expect("the proxied URI parses")
    }

    /// [`Self::uri_via`] with its password, for a config file.
    pub fn raw_uri_via(&self, proxy: &crate::BrokerProxy) -> String {
        self.raw_uri
            .replacen(&self.uri.host(), &proxy.addr().to_string(), 1)
    }

    /// The broker's socket address, for a proxy in front of it.
    pub fn broker_addr(&self) -> std::net::SocketAddr {
        self.uri
            .host()
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .expect("the broker's address resolves")
    }

    /// The URI with its password, for child processes (Nameko's `AMQP_URI`).
    pub fn raw_uri(&self) -> &str {
        &self.raw_uri
    }

    /// A new connection to the vhost.
    pub async fn connect(&self) -> Arc<AmqpTransport> {
        AmqpTransport::shared(&self.uri)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.uri))
    }

    /// The queues of this vhost as RabbitMQ reports them.
    pub fn queues(&self) -> Vec<QueueInfo> {
        let out = rabbitmqctl(&[
            "list_queues",
            "-p",
            &self.name,
            "name",
            "type",
            "durable",
            "exclusive",
            "auto_delete",
            "arguments",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
            "--formatter",
            "json",
            "-q",
        ]);
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("list_queues: {e}: {out}"));
        rows.into_iter()
            .map(|row| QueueInfo {
                name: row["name"].as_str().unwrap_or_default().to_owned(),
                kind: row["type"].as_str().unwrap_or_default().to_owned(),
                durable: row["durable"].as_bool().unwrap_or_default(),
                exclusive: row["exclusive"].as_bool().unwrap_or_default(),
                auto_delete: row["auto_delete"].as_bool().unwrap_or_default(),
                arguments: arguments(&row["arguments"]),
                messages_ready: row["messages_ready"].as_u64().unwrap_or_default(),
                messages_unacknowledged: row["messages_unacknowledged"]
                    .as_u64()
                    .unwrap_or_default(),
                consumers: row["consumers"].as_u64().unwrap_or_default(),
            })
            .collect()
    }

    /// One queue, if it exists.
    pub fn queue(&self, name: &str) -> Option<QueueInfo> {
        self.queues().into_iter().find(|q| q.name == name)
    }
}

/// rabbitmqctl lists arguments as `[[name, type, value], …]` (or `{}` when there are none).
fn arguments(listed: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|triple| {
            let name = triple.get(0)?.as_str()?.to_owned();
            Some((name, serde_json::json!([triple.get(1)?, triple.get(2)?])))
        })
        .collect()
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name, "-q"])
            .output();
    }
}

/// An exchange as RabbitMQ lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeInfo {
    /// Exchange name.
    pub name: String,
    /// `topic`, `direct`, …
    pub kind: String,
    /// Declared durable.
    pub durable: bool,
    /// Declared auto-delete.
    pub auto_delete: bool,
    /// Declared internal.
    pub internal: bool,
}

impl TestVhost {
    /// One exchange, if it exists.
    pub fn exchange(&self, name: &str) -> Option<ExchangeInfo> {
        let out = rabbitmqctl(&[
            "list_exchanges",
            "-p",
            &self.name,
            "name",
            "type",
            "durable",
            "auto_delete",
            "internal",
            "--formatter",
            "json",
            "-q",
        ]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("list_exchanges: {e}: {out}"));
        rows.into_iter()
            .find(|row| row["name"] == name)
            .map(|row| ExchangeInfo {
                name: name.to_owned(),
                kind: row["type"].as_str().unwrap_or_default().to_owned(),
                durable: row["durable"].as_bool().unwrap_or_default(),
                auto_delete: row["auto_delete"].as_bool().unwrap_or_default(),
                internal: row["internal"].as_bool().unwrap_or_default(),
            })
    }
}
