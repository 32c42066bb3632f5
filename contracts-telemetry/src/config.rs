//! The keys an operator writes, in the service's Nameko-style config file:
//!
//! ```yaml
//! OPENTELEMETRY_ENABLED: true
//! OPENTELEMETRY_EXPORTER_OTLP_ENDPOINT: http://localhost:4317   # OTLP over gRPC
//! OPENTELEMETRY_SERVICE_NAME: user-service
//! OPENTELEMETRY_RESOURCE_ATTRIBUTES: deployment.environment=prod,service.version=1.2.0
//! METRICS_PORT: 9464          # ours: /metrics, /health/live and /health/ready; absent: no server
//! LOG_FORMAT: auto            # ours: json, text, or auto (text on a terminal, JSON otherwise)
//! LOG_LEVEL: info             # ours: a `tracing` filter such as `info,contracts_core=debug`
//! ```
//!
//! Each key can be overridden by an environment variable of the same name, as every key of the
//! file can. Where an `OPENTELEMETRY_*` key is absent, the standard variable stands in:
//! `OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`; `RUST_LOG` stands in for `LOG_LEVEL`.

use std::collections::BTreeMap;

pub use contracts_core::config::ConfigError;
use contracts_core::config::{Key, Settings};
use serde_json::{Map, Value};

/// `OPENTELEMETRY_ENABLED`.
pub(crate) const ENABLED: Key = Key::new("OPENTELEMETRY_ENABLED", "export spans over OTLP");
/// `OPENTELEMETRY_EXPORTER_OTLP_ENDPOINT`.
pub(crate) const ENDPOINT: Key = Key::new(
    "OPENTELEMETRY_EXPORTER_OTLP_ENDPOINT",
    "where spans go (OTLP over gRPC)",
);
/// `OPENTELEMETRY_SERVICE_NAME`.
pub(crate) const SERVICE_NAME: Key = Key::new(
    "OPENTELEMETRY_SERVICE_NAME",
    "the service.name resource attribute",
);
/// `OPENTELEMETRY_RESOURCE_ATTRIBUTES`.
pub(crate) const RESOURCE_ATTRIBUTES: Key = Key::new(
    "OPENTELEMETRY_RESOURCE_ATTRIBUTES",
    "more resource attributes (k=v,k2=v2, or a mapping)",
);
/// `METRICS_PORT`.
pub(crate) const METRICS_PORT: Key = Key::new(
    "METRICS_PORT",
    "the port of /metrics, /health/live and /health/ready",
);
/// `LOG_FORMAT`.
pub(crate) const LOG_FORMAT: Key = Key::new("LOG_FORMAT", "json, text, or auto");
/// `LOG_LEVEL`.
pub(crate) const LOG_LEVEL: Key = Key::new(
    "LOG_LEVEL",
    "a tracing filter such as info,contracts_core=debug",
);

/// Every key this crate reads.
pub const KEYS: [Key; 7] = [
    ENABLED,
    ENDPOINT,
    SERVICE_NAME,
    RESOURCE_ATTRIBUTES,
    METRICS_PORT,
    LOG_FORMAT,
    LOG_LEVEL,
];

/// The default OTLP gRPC endpoint, as the OpenTelemetry specification gives it.
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4317";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// What to switch on, read from a config file's keys and the environment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TelemetryConfig {
    /// `OPENTELEMETRY_ENABLED`: export spans over OTLP. Off by default.
    pub traces: bool,
    /// `OPENTELEMETRY_EXPORTER_OTLP_ENDPOINT`: where spans go (OTLP over gRPC).
    pub otlp_endpoint: String,
    /// `OPENTELEMETRY_SERVICE_NAME`: the `service.name` resource attribute (default: the
    /// process's own name).
    pub service_name: Option<String>,
    /// `OPENTELEMETRY_RESOURCE_ATTRIBUTES`: more resource attributes (`k=v,k2=v2`, or a
    /// mapping).
    pub resource_attributes: BTreeMap<String, String>,
    /// `METRICS_PORT`: the port of the HTTP server for metrics and health; `None`: no server.
    pub metrics_port: Option<u16>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `LOG_LEVEL` (or `RUST_LOG`): which log lines are written (default `info`).
    pub log_level: String,
}

impl TelemetryConfig {
    /// Read the keys from a config file's mapping and the process's environment.
    pub fn from_keys(keys: &Map<String, Value>) -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::from_process_env(keys.clone()))
    }

    /// Read the keys from the environment only.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::default())
    }

    /// [`TelemetryConfig::from_keys`] with `env` standing in for the environment (tests).
    pub fn from_sources(
        keys: &Map<String, Value>,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        Self::from_settings(&Settings::new(keys.clone(), env))
    }

    /// Read the keys from `settings` (a `contracts_amqp::Config`'s, say): each key's variable
    /// over the file, and where both are absent the standard variable.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let env = |name: &str| settings.variable(name);
        let traces = match settings.flag(&ENABLED)? {
            Some(on) => on,
            // The standard variable says whether the SDK is *disabled*; unset means neither.
            None => env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("false")),
        };
        let otlp_endpoint = match settings.text(&ENDPOINT)? {
            Some(endpoint) => endpoint,
            None => env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
                .unwrap_or_else(|| DEFAULT_OTLP_ENDPOINT.to_owned()),
        };
        let service_name = match settings.text(&SERVICE_NAME)? {
            Some(name) => Some(name),
            None => env("OTEL_SERVICE_NAME"),
        };
        let mut resource_attributes = env("OTEL_RESOURCE_ATTRIBUTES")
            .map(|v| pairs(&RESOURCE_ATTRIBUTES, "OTEL_RESOURCE_ATTRIBUTES", &v))
            .transpose()?
            .unwrap_or_default();
        match settings.get(&RESOURCE_ATTRIBUTES) {
            None => {}
            Some(Value::String(s)) => resource_attributes.extend(pairs(
                &RESOURCE_ATTRIBUTES,
                RESOURCE_ATTRIBUTES.name,
                &s,
            )?),
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    resource_attributes.insert(k, v);
                }
            }
            Some(other) => {
                return Err(ConfigError::wrong(
                    &RESOURCE_ATTRIBUTES,
                    format!("expected `k=v,k2=v2` or a mapping, got {other}"),
                ));
            }
        }
        let metrics_port = settings.port(&METRICS_PORT)?;
        let log_format = match settings.text(&LOG_FORMAT)? {
            None => LogFormat::Auto,
            Some(format) => match format.to_ascii_lowercase().as_str() {
                "auto" => LogFormat::Auto,
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => {
                    return Err(ConfigError::wrong(
                        &LOG_FORMAT,
                        format!("expected json, text or auto, got `{other}`"),
                    ));
                }
            },
        };
        let log_level = match settings.text(&LOG_LEVEL)? {
            Some(level) => level,
            None => env("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
        };
        Ok(Self {
            traces,
            otlp_endpoint,
            service_name,
            resource_attributes,
            metrics_port,
            log_format,
            log_level,
        })
    }
}

/// `k=v,k2=v2` as the OpenTelemetry specification writes resource attributes (`source` names
/// where they came from when that is a standard variable).
fn pairs(key: &Key, source: &str, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(ConfigError::wrong(
                key,
                format!("{source}: expected `key=value` pairs separated by commas, got `{pair}`"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(keys: Value, env: &[(&str, &str)]) -> Result<TelemetryConfig, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let Value::Object(keys) = keys else {
            unreachable!()
        };
        TelemetryConfig::from_sources(&keys, move |name| env.get(name).cloned())
    }

    #[test]
    fn the_articles_keys() {
        let config = read(
            json!({
                "OPENTELEMETRY_ENABLED": true,
                "OPENTELEMETRY_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
                "OPENTELEMETRY_SERVICE_NAME": "user-service",
                "OPENTELEMETRY_RESOURCE_ATTRIBUTES": "deployment.environment=prod, service.version=1.2",
                "METRICS_PORT": 9464,
                "LOG_FORMAT": "json",
            }),
            &[],
        )
        .unwrap();
        assert!(config.traces);
        assert_eq!(config.otlp_endpoint, "http://collector:4317");
        assert_eq!(config.service_name.as_deref(), Some("user-service"));
        assert_eq!(config.resource_attributes["deployment.environment"], "prod");
        assert_eq!(config.resource_attributes["service.version"], "1.2");
        assert_eq!(config.metrics_port, Some(9464));
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn off_by_default_with_the_standard_endpoint() {
        let config = read(json!({}), &[]).unwrap();
        assert!(!config.traces);
        assert_eq!(config.otlp_endpoint, DEFAULT_OTLP_ENDPOINT);
        assert_eq!(config.metrics_port, None);
        assert_eq!(config.log_format, LogFormat::Auto);
        assert_eq!(config.log_level, "info");
    }

    #[test]
    fn variables_override_the_file_and_otel_variables_fill_in() {
        let config = read(
            json!({"OPENTELEMETRY_ENABLED": false, "OPENTELEMETRY_RESOURCE_ATTRIBUTES": {"team": "a"}}),
            &[
                ("OPENTELEMETRY_ENABLED", "true"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"),
                ("OTEL_SERVICE_NAME", "svc"),
                ("OTEL_RESOURCE_ATTRIBUTES", "team=b,region=eu"),
                ("RUST_LOG", "debug"),
            ],
        )
        .unwrap();
        assert!(config.traces);
        assert_eq!(config.otlp_endpoint, "http://otel:4317");
        assert_eq!(config.service_name.as_deref(), Some("svc"));
        // The file's mapping is more specific than the process-wide variable.
        assert_eq!(config.resource_attributes["team"], "a");
        assert_eq!(config.resource_attributes["region"], "eu");
        assert_eq!(config.log_level, "debug");
        assert!(
            read(json!({}), &[("OTEL_SDK_DISABLED", "false")])
                .unwrap()
                .traces
        );
    }

    #[test]
    fn wrong_values_name_their_key() {
        let e = read(json!({"OPENTELEMETRY_ENABLED": "perhaps"}), &[]).unwrap_err();
        assert_eq!(e.key(), Some("OPENTELEMETRY_ENABLED"));
        let e = read(json!({"METRICS_PORT": 70000}), &[]).unwrap_err();
        assert_eq!(e.key(), Some("METRICS_PORT"));
        let e = read(json!({"OPENTELEMETRY_RESOURCE_ATTRIBUTES": "novalue"}), &[]).unwrap_err();
        assert!(e.to_string().contains("`novalue`"), "{e}");
        let e = read(json!({"LOG_FORMAT": "xml"}), &[]).unwrap_err();
        assert_eq!(e.key(), Some("LOG_FORMAT"));
    }
}
