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

use serde_json::{Map, Value};

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

/// A key with a value of the wrong kind.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct ConfigError {
    /// The key.
    pub key: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl TelemetryConfig {
    /// Read the keys from a config file's mapping (for a `contracts_amqp::Config`, its
    /// `extra`) and the process's environment.
    pub fn from_keys(keys: &Map<String, Value>) -> Result<Self, ConfigError> {
        Self::from_sources(keys, |name| std::env::var(name).ok())
    }

    /// Read the keys from the environment only.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_keys(&Map::new())
    }

    /// [`TelemetryConfig::from_keys`] with `env` standing in for the environment (tests).
    pub fn from_sources(
        keys: &Map<String, Value>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        // The file's key, overridden by the variable of the same name.
        let key = |name: &str| -> Option<Value> {
            env(name)
                .map(Value::String)
                .or_else(|| keys.get(name).cloned())
                .filter(|v| !v.is_null())
        };
        let traces = match key("OPENTELEMETRY_ENABLED") {
            Some(v) => flag("OPENTELEMETRY_ENABLED", &v)?,
            // The standard variable says whether the SDK is *disabled*; unset means neither.
            None => env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("false")),
        };
        let otlp_endpoint = match key("OPENTELEMETRY_EXPORTER_OTLP_ENDPOINT") {
            Some(v) => text("OPENTELEMETRY_EXPORTER_OTLP_ENDPOINT", &v)?,
            None => env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
                .unwrap_or_else(|| DEFAULT_OTLP_ENDPOINT.to_owned()),
        };
        let service_name = match key("OPENTELEMETRY_SERVICE_NAME") {
            Some(v) => Some(text("OPENTELEMETRY_SERVICE_NAME", &v)?),
            None => env("OTEL_SERVICE_NAME"),
        };
        let mut resource_attributes = env("OTEL_RESOURCE_ATTRIBUTES")
            .map(|v| pairs("OTEL_RESOURCE_ATTRIBUTES", &v))
            .transpose()?
            .unwrap_or_default();
        match key("OPENTELEMETRY_RESOURCE_ATTRIBUTES") {
            None => {}
            Some(Value::String(s)) => {
                resource_attributes.extend(pairs("OPENTELEMETRY_RESOURCE_ATTRIBUTES", &s)?)
            }
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
                return Err(ConfigError {
                    key: "OPENTELEMETRY_RESOURCE_ATTRIBUTES",
                    reason: format!("expected `k=v,k2=v2` or a mapping, got {other}"),
                });
            }
        }
        let metrics_port = key("METRICS_PORT")
            .map(|v| port("METRICS_PORT", &v))
            .transpose()?;
        let log_format = match key("LOG_FORMAT") {
            None => LogFormat::Auto,
            Some(v) => match text("LOG_FORMAT", &v)?.to_ascii_lowercase().as_str() {
                "auto" => LogFormat::Auto,
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => {
                    return Err(ConfigError {
                        key: "LOG_FORMAT",
                        reason: format!("expected json, text or auto, got `{other}`"),
                    });
                }
            },
        };
        let log_level = match key("LOG_LEVEL") {
            Some(v) => text("LOG_LEVEL", &v)?,
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

fn flag(key: &'static str, value: &Value) -> Result<bool, ConfigError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" | "" => Ok(false),
            _ => Err(ConfigError {
                key,
                reason: format!("expected true or false, got `{s}`"),
            }),
        },
        other => Err(ConfigError {
            key,
            reason: format!("expected true or false, got {other}"),
        }),
    }
}

fn text(key: &'static str, value: &Value) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(ConfigError {
            key,
            reason: format!("expected a string, got {other}"),
        }),
    }
}

fn port(key: &'static str, value: &Value) -> Result<u16, ConfigError> {
    text(key, value)?.trim().parse().map_err(|_| ConfigError {
        key,
        reason: format!("expected a port number (0 to 65535), got {value}"),
    })
}

/// `k=v,k2=v2` as the OpenTelemetry specification writes resource attributes.
fn pairs(key: &'static str, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(ConfigError {
                key,
                reason: format!("expected `key=value` pairs separated by commas, got `{pair}`"),
            }),
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
        TelemetryConfig::from_sources(&keys, |name| env.get(name).cloned())
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
        assert_eq!(e.key, "OPENTELEMETRY_ENABLED");
        let e = read(json!({"METRICS_PORT": 70000}), &[]).unwrap_err();
        assert_eq!(e.key, "METRICS_PORT");
        let e = read(json!({"OPENTELEMETRY_RESOURCE_ATTRIBUTES": "novalue"}), &[]).unwrap_err();
        assert!(e.to_string().contains("`novalue`"), "{e}");
        let e = read(json!({"LOG_FORMAT": "xml"}), &[]).unwrap_err();
        assert_eq!(e.key, "LOG_FORMAT");
    }
}
