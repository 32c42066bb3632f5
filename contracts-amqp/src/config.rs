//! Service configuration in Nameko's YAML, keys and all (book/src/wire.md, "Configuration keys").
//!
//! ```yaml
//! AMQP_URI: ${AMQP_URI:amqp://guest:guest@localhost:5672/%2f}
//! max_workers: 10
//! PREFETCH_COUNT: 10          # Nameko 3; Nameko 2 uses max_workers
//! parent_calls_tracked: 10
//! HEARTBEAT: 60
//! rpc_exchange: nameko-rpc
//! serializer: json
//! RPC_TIMEOUT: 30             # ours: seconds a call waits for its reply
//! MAX_BODY_BYTES: 8388608     # ours: larger bodies are refused unread
//! MAX_JSON_DEPTH: 64          # ours: deeper JSON is refused unread
//! VALIDATION: both            # ours: both, inbound_only, report (log and count, refuse nothing) or off
//! QUEUE_TYPE: classic         # ours: classic (Nameko's) or quorum, for the durable shared queues
//! RECONNECT_DELAY: 0.1        # ours: seconds before the second reconnection round
//! RECONNECT_MAX_DELAY: 5      # ours: the longest wait between rounds
//! RECONNECT_MAX_ATTEMPTS: 0   # ours: rounds before giving up; 0 never gives up
//! AMQP_SSL:                   # TLS: a CA to trust, a client certificate and its key
//!   ca_certs: /etc/rabbitmq/ca.pem
//!   certfile: /etc/app/client.pem
//!   keyfile: /etc/app/client.key
//! ```
//!
//! `AMQP_SSL` is Nameko's: with it, TLS is used on the port `AMQP_URI` names, whatever its
//! scheme (`amqps://` alone also means TLS, with the system's roots). The broker's certificate
//! is always verified; see [`TlsOptions::from_nameko`] for what is read and refused.
//!
//! `AMQP_URI` may list several brokers separated by `;`, as kombu's failover form does
//! (`amqp://a:5672/%2f;amqp://b:5672/%2f`): the first that answers is used, and after a loss
//! each is tried in turn. A lost connection is re-established by itself: the first attempt at
//! once, then rounds over every broker with the delay doubling from `RECONNECT_DELAY` up to
//! `RECONNECT_MAX_DELAY` (plus up to a quarter at random), until `RECONNECT_MAX_ATTEMPTS`
//! rounds have failed, if set.
//!
//! `${VAR}` and `${VAR:default}` are replaced from the environment before the YAML is read,
//! nested defaults included (`${A:${B:x}}`), as Nameko does. Then every key, these and any
//! other crate's (telemetry's, the gateway's `WEB_SERVER_PORT`), is read as
//! [`contracts_core::config`] says: the environment variable of its name in upper case
//! (`AMQP_URI`, `MAX_WORKERS`, `PREFETCH_COUNT`, …) over the file's value. The whole file stays
//! in [`Config::settings`] for the other crates and the application.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use contracts_core::client::DEFAULT_TIMEOUT;
pub use contracts_core::config::ConfigError;
use contracts_core::config::{Key, Settings};
use contracts_core::server::DEFAULT_MAX_WORKERS;
use contracts_core::transport::{QueueType, SharedTransport, TransportError};
use contracts_core::validate::ValidationMode;
use contracts_core::wire::context::PARENT_CALLS_TRACKED;
use contracts_core::wire::limits::Limits;
use contracts_core::wire::topology::RPC_EXCHANGE;
use contracts_core::{RpcClient, ServiceRunner};

use crate::link::ReconnectPolicy;
use crate::tls::TlsOptions;
use crate::uri::BrokerUri;

/// Nameko's default consumer heartbeat, in seconds.
pub const DEFAULT_HEARTBEAT: u16 = 60;

/// Everything a service process needs to know, with Nameko's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `AMQP_URI`: the broker (default [`crate::DEFAULT_AMQP_URI`]); the first of the list.
    pub amqp_uri: BrokerUri,
    /// The brokers after the first in a `;`-separated `AMQP_URI`, tried in turn.
    pub failover: Vec<BrokerUri>,
    /// `RECONNECT_DELAY`, `RECONNECT_MAX_DELAY`, `RECONNECT_MAX_ATTEMPTS`: how a lost
    /// connection is re-established.
    pub reconnect: ReconnectPolicy,
    /// `max_workers`: calls and events handled at once per service (default 10).
    pub max_workers: usize,
    /// `PREFETCH_COUNT`: unacknowledged deliveries per consumer (default: `max_workers`, as in
    /// Nameko 2).
    pub prefetch_count: Option<u16>,
    /// `parent_calls_tracked`: parent call ids kept in `call_id_stack` (default 10).
    pub parent_calls_tracked: usize,
    /// `HEARTBEAT`: seconds between AMQP heartbeats (default 60; 0 turns them off).
    pub heartbeat: u16,
    /// `rpc_exchange`: the RPC exchange (default `nameko-rpc`).
    pub rpc_exchange: String,
    /// `RPC_TIMEOUT`: how long a call waits for its reply (default 30 s).
    pub rpc_timeout: Duration,
    /// `MAX_BODY_BYTES` and `MAX_JSON_DEPTH`: inbound bodies beyond these are refused.
    pub limits: Limits,
    /// `VALIDATION`: which messages are checked, and whether a violation is refused or only
    /// reported (default: both directions, refused).
    pub validation: ValidationMode,
    /// `QUEUE_TYPE`: the type of the durable queues this process declares and shares with the
    /// service's other instances (default: classic, as Nameko declares them).
    pub queue_type: QueueType,
    /// `AMQP_SSL`: TLS options, applied to every broker of `AMQP_URI`.
    pub tls: Option<TlsOptions>,
    /// The file's keys and the environment, for the other crates' keys (telemetry's, the
    /// gateway's) and the application's own.
    pub settings: Settings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            amqp_uri: BrokerUri::default(),
            failover: Vec::new(),
            reconnect: ReconnectPolicy::default(),
            max_workers: DEFAULT_MAX_WORKERS,
            prefetch_count: None,
            parent_calls_tracked: PARENT_CALLS_TRACKED,
            heartbeat: DEFAULT_HEARTBEAT,
            rpc_exchange: RPC_EXCHANGE.to_owned(),
            rpc_timeout: DEFAULT_TIMEOUT,
            limits: Limits::default(),
            validation: ValidationMode::default(),
            queue_type: QueueType::default(),
            tls: None,
            settings: Settings::default(),
        }
    }
}

/// `AMQP_URI`: the broker, or several separated by `;`.
pub const AMQP_URI: Key = Key::new("AMQP_URI", "the broker, or several separated by `;`");
/// `max_workers`.
pub const MAX_WORKERS: Key = Key::new(
    "max_workers",
    "calls and events handled at once per service",
);
/// `PREFETCH_COUNT`.
pub const PREFETCH_COUNT: Key =
    Key::new("PREFETCH_COUNT", "unacknowledged deliveries per consumer");
/// `parent_calls_tracked`.
pub const PARENT_CALLS: Key = Key::new(
    "parent_calls_tracked",
    "parent call ids kept in call_id_stack",
);
/// `HEARTBEAT`.
pub const HEARTBEAT: Key = Key::new(
    "HEARTBEAT",
    "seconds between AMQP heartbeats; 0 turns them off",
);
/// `rpc_exchange`.
pub const RPC_EXCHANGE_KEY: Key = Key::new("rpc_exchange", "the RPC exchange");
/// `serializer`.
pub const SERIALIZER: Key = Key::new("serializer", "json, the only one contracts speak");
/// `RPC_TIMEOUT`.
pub const RPC_TIMEOUT: Key = Key::new("RPC_TIMEOUT", "seconds a call waits for its reply");
/// `MAX_BODY_BYTES`.
pub const MAX_BODY_BYTES: Key =
    Key::new("MAX_BODY_BYTES", "larger inbound bodies are refused unread");
/// `MAX_JSON_DEPTH`.
pub const MAX_JSON_DEPTH: Key = Key::new("MAX_JSON_DEPTH", "deeper inbound JSON is refused unread");
/// `RECONNECT_DELAY`.
pub const RECONNECT_DELAY: Key = Key::new(
    "RECONNECT_DELAY",
    "seconds before the second reconnection round",
);
/// `RECONNECT_MAX_DELAY`.
pub const RECONNECT_MAX_DELAY: Key =
    Key::new("RECONNECT_MAX_DELAY", "the longest wait between rounds");
/// `RECONNECT_MAX_ATTEMPTS`.
pub const RECONNECT_MAX_ATTEMPTS: Key = Key::new(
    "RECONNECT_MAX_ATTEMPTS",
    "rounds before giving up; 0 never gives up",
);
/// `AMQP_SSL`.
pub const AMQP_SSL: Key = Key::new(
    "AMQP_SSL",
    "TLS: a CA to trust, a client certificate and its key",
);

/// `VALIDATION`.
pub const VALIDATION: Key = Key::new(
    "VALIDATION",
    "both, inbound_only, report (log and count violations, refuse nothing) or off",
);

/// `QUEUE_TYPE`.
pub const QUEUE_TYPE: Key = Key::new(
    "QUEUE_TYPE",
    "classic (Nameko's) or quorum: the type of the durable queues instances share",
);

/// Every key this crate reads.
pub const KEYS: [Key; 16] = [
    AMQP_URI,
    MAX_WORKERS,
    PREFETCH_COUNT,
    PARENT_CALLS,
    HEARTBEAT,
    RPC_EXCHANGE_KEY,
    SERIALIZER,
    RPC_TIMEOUT,
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    VALIDATION,
    QUEUE_TYPE,
    RECONNECT_DELAY,
    RECONNECT_MAX_DELAY,
    RECONNECT_MAX_ATTEMPTS,
    AMQP_SSL,
];

/// A value from the environment read as YAML reads a lone value: `MAX_WORKERS=20` is a
/// number, `AMQP_SSL='{ca_certs: ca.pem}'` a mapping.
fn yaml_scalar(text: &str) -> serde_json::Value {
    serde_yaml_ng::from_str::<serde_json::Value>(text)
        .unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

impl Config {
    /// Read a YAML file, substituting and overriding from the process environment.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, |name| std::env::var(name).ok())
    }

    /// Defaults, overridden from the process environment: for running without a file.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse("{}", |name| std::env::var(name).ok())
    }

    /// Read YAML `text` with `env` as the environment.
    pub fn parse(
        text: &str,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        let text = substitute(text, &env);
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::Syntax(Box::new(e)))?;
        let file = match serde_json::to_value(yaml) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(serde_json::Value::Null) => serde_json::Map::new(),
            Ok(other) => return Err(ConfigError::NotAMapping(other.to_string())),
            Err(e) => return Err(ConfigError::NotAMapping(e.to_string())),
        };
        let settings = Settings::new(file, env).reading_values_with(yaml_scalar);
        let mut config = Self::default();
        let invalid = |key: &Key| {
            let key = key.name;
            move |e: crate::uri::InvalidUri| ConfigError::Invalid {
                key,
                source: Box::new(e),
            }
        };
        if let Some(list) = settings.text(&AMQP_URI)? {
            let mut brokers = list
                .split(';')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::parse::<BrokerUri>);
            config.amqp_uri = brokers
                .next()
                .unwrap_or_else(|| list.parse())
                .map_err(invalid(&AMQP_URI))?;
            config.failover = brokers
                .collect::<Result<_, _>>()
                .map_err(invalid(&AMQP_URI))?;
        }
        if let Some(n) = settings.number(&MAX_WORKERS)? {
            config.max_workers = n;
        }
        config.prefetch_count = settings.number(&PREFETCH_COUNT)?;
        if let Some(n) = settings.number(&PARENT_CALLS)? {
            config.parent_calls_tracked = n;
        }
        if let Some(n) = settings.number(&HEARTBEAT)? {
            config.heartbeat = n;
        }
        if let Some(exchange) = settings.text(&RPC_EXCHANGE_KEY)? {
            config.rpc_exchange = exchange;
        }
        if let Some(serializer) = settings.text(&SERIALIZER)?
            && serializer != "json"
        {
            return Err(ConfigError::wrong(
                &SERIALIZER,
                format!("`{serializer}` is not supported; contracts speak JSON, Nameko's default"),
            ));
        }
        if let Some(timeout) = settings.seconds(&RPC_TIMEOUT)? {
            config.rpc_timeout = timeout;
        }
        if let Some(n) = settings.number(&MAX_BODY_BYTES)? {
            config.limits.max_body_bytes = n;
        }
        if let Some(n) = settings.number(&MAX_JSON_DEPTH)? {
            config.limits.max_depth = n;
        }
        if let Some(mode) = settings.text(&VALIDATION)? {
            config.validation = serde_json::from_value(serde_json::Value::String(mode.clone()))
                .map_err(|_| {
                    ConfigError::wrong(
                        &VALIDATION,
                        format!("`{mode}` is none of both, inbound_only, report, off"),
                    )
                })?;
        }
        if let Some(kind) = settings.text(&QUEUE_TYPE)? {
            config.queue_type = serde_json::from_value(serde_json::Value::String(kind.clone()))
                .map_err(|_| {
                    ConfigError::wrong(
                        &QUEUE_TYPE,
                        format!("`{kind}` is neither classic nor quorum"),
                    )
                })?;
        }
        if let Some(delay) = settings.seconds(&RECONNECT_DELAY)? {
            config.reconnect.initial_delay = delay;
        }
        if let Some(delay) = settings.seconds(&RECONNECT_MAX_DELAY)? {
            config.reconnect.max_delay = delay;
        }
        if let Some(attempts) = settings.number::<u32>(&RECONNECT_MAX_ATTEMPTS)? {
            config.reconnect.max_attempts = (attempts > 0).then_some(attempts);
        }
        if let Some(v) = settings.get(&AMQP_SSL) {
            config.tls = TlsOptions::from_nameko(&v)
                .map_err(|e| ConfigError::wrong(&AMQP_SSL, e.to_string()))?;
        }
        let (heartbeat, tls) = (config.heartbeat, config.tls.clone());
        let finish = move |broker: &BrokerUri| {
            let broker = broker.with_heartbeat(heartbeat);
            match &tls {
                Some(tls) => broker.with_tls(tls.clone()),
                None => broker,
            }
        };
        config.failover = config.failover.iter().map(&finish).collect();
        config.amqp_uri = finish(&config.amqp_uri);
        config.settings = settings;
        Ok(config)
    }

    /// A runner on `transport` with this configuration's workers, prefetch, limits,
    /// validation, exchange and call stack depth.
    pub fn runner(&self, transport: SharedTransport) -> ServiceRunner {
        let mut runner = ServiceRunner::new(transport)
            .max_workers(self.max_workers)
            .limits(self.limits)
            .validation(self.validation)
            .rpc_exchange(&self.rpc_exchange)
            .parent_calls_tracked(self.parent_calls_tracked);
        if let Some(prefetch) = self.prefetch_count {
            runner = runner.prefetch(prefetch);
        }
        runner
    }

    /// An RPC client for `caller` on `transport` with this configuration's exchange, deadline
    /// and validation.
    pub async fn client(
        &self,
        transport: SharedTransport,
        caller: &str,
    ) -> Result<RpcClient, TransportError> {
        Ok(
            RpcClient::connect_via(transport, caller, &self.rpc_exchange)
                .await?
                .with_timeout(self.rpc_timeout)
                .with_validation(self.validation),
        )
    }

    /// Every configured broker, the first one first.
    pub fn brokers(&self) -> Vec<BrokerUri> {
        std::iter::once(self.amqp_uri.clone())
            .chain(self.failover.iter().cloned())
            .collect()
    }

    /// Connect to the first configured broker that answers, reconnecting as configured, and
    /// declaring shared queues of the configured type.
    pub async fn connect(&self) -> Result<Arc<crate::AmqpTransport>, TransportError> {
        crate::AmqpTransport::connect_to(self.brokers(), self.reconnect.clone())
            .await
            .map(|transport| Arc::new(transport.with_queue_type(self.queue_type)))
    }
}

/// Replace `${VAR}` and `${VAR:default}` (defaults may nest) from `env`.
fn substitute(text: &str, env: &impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match closing_brace(after) {
            Some(end) => {
                let inner = &after[..end];
                let (name, default) = match inner.find(':') {
                    Some(colon) => (&inner[..colon], Some(&inner[colon + 1..])),
                    None => (inner, None),
                };
                let value = env(name.trim())
                    .or_else(|| default.map(|d| substitute(d, env)))
                    .unwrap_or_default();
                out.push_str(&value);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The index of the `}` closing a `${`, skipping nested `${…}`.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn nameko_keys_and_defaults() {
        let config = Config::parse(
            "AMQP_URI: amqp://u:p@rabbit:5672/v\nmax_workers: 4\nPREFETCH_COUNT: 20\n\
             parent_calls_tracked: 3\nHEARTBEAT: 15\nrpc_exchange: my-rpc\nserializer: json\n\
             LOGGING: {version: 1}\n",
            env(&[]),
        )
        .unwrap();
        assert_eq!(config.amqp_uri.to_string(), "amqp://u:***@rabbit:5672/v");
        assert_eq!(config.amqp_uri.heartbeat(), Some(15));
        assert_eq!(config.max_workers, 4);
        assert_eq!(config.prefetch_count, Some(20));
        assert_eq!(config.parent_calls_tracked, 3);
        assert_eq!(config.rpc_exchange, "my-rpc");
        assert_eq!(
            config.settings.file()["LOGGING"],
            serde_json::json!({"version": 1})
        );
        let defaults = Config::parse("", env(&[])).unwrap();
        assert_eq!(defaults.max_workers, 10);
        assert_eq!(defaults.rpc_exchange, "nameko-rpc");
        assert_eq!(defaults.amqp_uri.heartbeat(), Some(60));
    }

    #[test]
    fn env_substitution_with_nested_defaults() {
        let text = "AMQP_URI: ${AMQP_URI:amqp://guest:guest@${RABBIT_HOST:localhost}:5672/%2f}\n\
                    max_workers: ${WORKERS:7}\nrpc_exchange: ${EXCHANGE}\n";
        let config = Config::parse(text, env(&[("RABBIT_HOST", "mq"), ("EXCHANGE", "x")])).unwrap();
        assert_eq!(config.amqp_uri.host(), "mq:5672");
        assert_eq!(config.max_workers, 7, "the default is YAML, so a number");
        assert_eq!(config.rpc_exchange, "x");
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::parse(
            "max_workers: 2\nRPC_TIMEOUT: 5",
            env(&[("MAX_WORKERS", "20"), ("RPC_TIMEOUT", "0.5")]),
        )
        .unwrap();
        assert_eq!(config.max_workers, 20);
        assert_eq!(config.rpc_timeout, Duration::from_millis(500));
    }

    #[test]
    fn failover_lists_and_reconnection_settings() {
        let config = Config::parse(
            "AMQP_URI: 'amqp://u:p@a:5672/v;amqp://u:p@b:5673/v'\nHEARTBEAT: 2\n\
             RECONNECT_DELAY: 0.5\nRECONNECT_MAX_DELAY: 8\nRECONNECT_MAX_ATTEMPTS: 4",
            env(&[]),
        )
        .unwrap();
        let brokers: Vec<String> = config.brokers().iter().map(|b| b.host()).collect();
        assert_eq!(brokers, ["a:5672", "b:5673"]);
        assert!(config.brokers().iter().all(|b| b.heartbeat() == Some(2)));
        assert_eq!(
            config.reconnect,
            ReconnectPolicy::new(Duration::from_millis(500), Duration::from_secs(8), Some(4))
        );
        let forever = Config::parse("RECONNECT_MAX_ATTEMPTS: 0", env(&[])).unwrap();
        assert_eq!(forever.reconnect.max_attempts, None);
        assert_eq!(Config::default().reconnect, ReconnectPolicy::default());
        let err = Config::parse("RECONNECT_DELAY: -1", env(&[])).unwrap_err();
        assert!(err.to_string().contains("`RECONNECT_DELAY`"), "{err}");
    }

    #[test]
    fn amqp_ssl_turns_tls_on_for_every_broker() {
        let config = Config::parse(
            "AMQP_URI: 'amqp://u:p@a:5671/v;amqp://u:p@b:5671/v'\n\
             AMQP_SSL: {ca_certs: ca.pem, certfile: c.pem, keyfile: c.key}",
            env(&[]),
        )
        .unwrap();
        let tls = crate::TlsOptions::new()
            .ca_certs("ca.pem")
            .client_cert("c.pem", "c.key");
        assert_eq!(config.tls.as_ref(), Some(&tls));
        for broker in config.brokers() {
            assert!(broker.is_tls() && broker.tls() == &tls, "{broker}");
            assert!(broker.host().ends_with(":5671"), "the port stays: {broker}");
        }
        // From the environment too, as a YAML mapping.
        let config = Config::parse("{}", env(&[("AMQP_SSL", "{ca_certs: /ca.pem}")])).unwrap();
        assert!(config.amqp_uri.is_tls());
        assert!(!Config::default().amqp_uri.is_tls());
        let err = Config::parse("AMQP_SSL: true", env(&[])).unwrap_err();
        assert!(
            err.to_string()
                .contains("`AMQP_SSL`: TLS without verifying"),
            "{err}"
        );
    }

    #[test]
    fn yaml_errors_keep_serde_s_error() {
        use std::error::Error;
        let err = Config::parse("max_workers: [", env(&[])).unwrap_err();
        let source = err.source().expect("the YAML error is kept");
        assert!(
            source.downcast_ref::<serde_yaml_ng::Error>().is_some(),
            "{source:?}"
        );
        let err = Config::parse("- a list", env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::NotAMapping(_)), "{err:?}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Config::parse("max_workers: many", env(&[])).unwrap_err();
        assert!(err.to_string().contains("`max_workers`"), "{err}");
        let err = Config::parse("serializer: pickle", env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("`pickle` is not supported"),
            "{err}"
        );
        let err = Config::parse("VALIDATION: lenient", env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("`VALIDATION`")
                && err
                    .to_string()
                    .contains("`lenient` is none of both, inbound_only"),
            "{err}"
        );
        let shadow = Config::parse("VALIDATION: off", env(&[("VALIDATION", "report")])).unwrap();
        assert_eq!(shadow.validation, ValidationMode::Report);
        let err = Config::parse("QUEUE_TYPE: mirrored", env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("`QUEUE_TYPE`")
                && err
                    .to_string()
                    .contains("`mirrored` is neither classic nor quorum"),
            "{err}"
        );
        assert_eq!(
            Config::parse("{}", env(&[])).unwrap().queue_type,
            QueueType::Classic
        );
        let quorum = Config::parse("QUEUE_TYPE: classic", env(&[("QUEUE_TYPE", "quorum")]));
        assert_eq!(quorum.unwrap().queue_type, QueueType::Quorum);
        let err = Config::parse("AMQP_URI: 'amqp://u:secret@h:x/v'", env(&[])).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn the_password_stays_out_of_debug_output() {
        let config = Config::parse("AMQP_URI: amqp://u:hunter2@h:5672/v", env(&[])).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
