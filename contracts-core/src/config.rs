//! Configuration keys, read one way by every crate: a key's value is the environment variable
//! of its name in upper case (`MAX_WORKERS` for `max_workers`), else the config file's value,
//! else the crate's default. The transport's keys (`contracts-amqp`), telemetry's
//! (`contracts-telemetry`) and the gateway's (`contracts-http`) are each declared once, as a
//! [`Key`], and read from the same [`Settings`]; a wrong value is one [`ConfigError`] naming its
//! key.
//!
//! ```
//! use contracts_core::config::{Key, Settings};
//!
//! const WORKERS: Key = Key::new("max_workers", "calls handled at once per service");
//! let file = serde_json::json!({"max_workers": 4, "LOGGING": {"version": 1}});
//! let file = file.as_object().unwrap().clone();
//! let settings = Settings::new(file.clone(), |_| None);
//! assert_eq!(settings.number::<usize>(&WORKERS).unwrap(), Some(4));
//! let from_env = Settings::new(file, |name| (name == "MAX_WORKERS").then(|| "20".into()));
//! assert_eq!(from_env.number::<usize>(&WORKERS).unwrap(), Some(20));
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

/// A configuration key: its name in the file, and what it sets. Its environment variable is
/// the name in upper case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key as the file writes it (`max_workers`, `AMQP_URI`).
    pub name: &'static str,
    /// What it sets, for documents and errors.
    pub doc: &'static str,
}

impl Key {
    /// A key named `name`.
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        Self { name, doc }
    }

    /// The environment variable that overrides the key.
    pub fn variable(&self) -> String {
        self.name.to_ascii_uppercase()
    }
}

/// Why a configuration was refused: one type for every crate's keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the config language (YAML).
    #[error("config is not YAML")]
    Syntax(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The file is not a mapping of keys to values.
    #[error("config is not a YAML mapping: the top level is {0}")]
    NotAMapping(String),
    /// A key has a value of the wrong kind.
    #[error("config key `{key}`: {reason}")]
    Key {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A key's value is refused by what reads it (a broker URI that does not parse, say).
    #[error("config key `{key}`")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why it is refused.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ConfigError {
    /// `key`'s value is wrong, for `reason`.
    pub fn wrong(key: &Key, reason: impl Into<String>) -> Self {
        Self::Key {
            key: key.name,
            reason: reason.into(),
        }
    }

    /// The key whose value was refused, if it is about one.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            Self::Key { key, .. } | Self::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
type Scalar = fn(&str) -> Value;

/// A process's settings: the config file's keys and the environment that overrides them.
#[derive(Clone)]
pub struct Settings {
    file: Map<String, Value>,
    env: Env,
    scalar: Scalar,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets (a broker password): the keys are enough to debug with.
        f.debug_struct("Settings")
            .field("file_keys", &self.file.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Settings {
    /// Settings are equal when their files are: the environment is the process's.
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file
    }
}

impl Default for Settings {
    /// No file, the process's environment.
    fn default() -> Self {
        Self::from_process_env(Map::new())
    }
}

/// An environment value as JSON when it is a JSON scalar (`20`, `0.5`, `true`), else text.
fn json_scalar(text: &str) -> Value {
    match serde_json::from_str(text) {
        Ok(value @ (Value::Number(_) | Value::Bool(_))) => value,
        _ => Value::String(text.to_owned()),
    }
}

impl Settings {
    /// The keys of `file`, overridden by `env` (a variable's value by name).
    pub fn new(
        file: Map<String, Value>,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            file,
            env: Arc::new(env),
            scalar: json_scalar,
        }
    }

    /// The keys of `file`, overridden by the process's environment.
    pub fn from_process_env(file: Map<String, Value>) -> Self {
        Self::new(file, |name| std::env::var(name).ok())
    }

    /// The same settings, environment values read by `scalar` (the config language's reading
    /// of a lone value: YAML's, for a YAML file, so `AMQP_SSL='{ca_certs: ca.pem}'` is a
    /// mapping). By default a JSON number or boolean is one, anything else text.
    #[must_use]
    pub fn reading_values_with(mut self, scalar: fn(&str) -> Value) -> Self {
        self.scalar = scalar;
        self
    }

    /// The file's keys, as written (after `${VAR}` substitution).
    pub fn file(&self) -> &Map<String, Value> {
        &self.file
    }

    /// The environment variable `name`, as is: for standard variables that stand in for a
    /// key (`OTEL_SERVICE_NAME`, `RUST_LOG`).
    pub fn variable(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// `key`'s value: its environment variable, else the file's; `null` counts as absent.
    pub fn get(&self, key: &Key) -> Option<Value> {
        self.variable(&key.variable())
            .map(|text| (self.scalar)(&text))
            .or_else(|| self.file.get(key.name).cloned())
            .filter(|v| !v.is_null())
    }

    /// `key` as text (a number is taken as written).
    pub fn text(&self, key: &Key) -> Result<Option<String>, ConfigError> {
        self.get(key)
            .map(|value| match value {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(ConfigError::wrong(
                    key,
                    format!("expected text, got {other}"),
                )),
            })
            .transpose()
    }

    /// `key` as a whole number in `T`'s range.
    pub fn number<T: TryFrom<u64>>(&self, key: &Key) -> Result<Option<T>, ConfigError> {
        self.get(key)
            .map(|value| {
                let n = match &value {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                n.and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
                    ConfigError::wrong(
                        key,
                        format!("expected a whole number in range, got {value}"),
                    )
                })
            })
            .transpose()
    }

    /// `key` as a port number.
    pub fn port(&self, key: &Key) -> Result<Option<u16>, ConfigError> {
        self.number(key).map_err(|_| {
            let value = self.get(key).unwrap_or_default();
            ConfigError::wrong(
                key,
                format!("expected a port number (0 to 65535), got {value}"),
            )
        })
    }

    /// `key` as a positive number of seconds.
    pub fn seconds(&self, key: &Key) -> Result<Option<Duration>, ConfigError> {
        self.get(key)
            .map(|value| {
                let seconds = match &value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                seconds
                    .filter(|s| *s > 0.0 && s.is_finite())
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        ConfigError::wrong(
                            key,
                            format!("expected a positive number of seconds, got {value}"),
                        )
                    })
            })
            .transpose()
    }

    /// `key` as a flag: a boolean, or `true`/`yes`/`on`/`1` and `false`/`no`/`off`/`0`.
    pub fn flag(&self, key: &Key) -> Result<Option<bool>, ConfigError> {
        self.get(key)
            .map(|value| match &value {
                Value::Bool(b) => Ok(*b),
                Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
                Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
                Value::String(s) => match s.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "1" => Ok(true),
                    "false" | "no" | "off" | "0" | "" => Ok(false),
                    _ => Err(ConfigError::wrong(
                        key,
                        format!("expected true or false, got `{s}`"),
                    )),
                },
                other => Err(ConfigError::wrong(
                    key,
                    format!("expected true or false, got {other}"),
                )),
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PORT: Key = Key::new("WEB_SERVER_PORT", "the gateway's port");
    const DELAY: Key = Key::new("reconnect_delay", "seconds");

    fn settings(file: Value, env: &'static [(&'static str, &'static str)]) -> Settings {
        let Value::Object(file) = file else {
            unreachable!()
        };
        Settings::new(file, move |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_variable_of_the_upper_case_name_wins_over_the_file() {
        let s = settings(json!({"WEB_SERVER_PORT": 8000}), &[]);
        assert_eq!(s.port(&PORT).unwrap(), Some(8000));
        let s = settings(
            json!({"WEB_SERVER_PORT": 8000}),
            &[("WEB_SERVER_PORT", "9000")],
        );
        assert_eq!(s.port(&PORT).unwrap(), Some(9000));
        let s = settings(json!({}), &[("RECONNECT_DELAY", "0.5")]);
        assert_eq!(s.seconds(&DELAY).unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(settings(json!({}), &[]).port(&PORT).unwrap(), None);
    }

    #[test]
    fn wrong_values_name_their_key() {
        let error = settings(json!({"WEB_SERVER_PORT": "http"}), &[])
            .port(&PORT)
            .unwrap_err();
        assert!(error.to_string().contains("`WEB_SERVER_PORT`"), "{error}");
        let error = settings(json!({"reconnect_delay": -1}), &[])
            .seconds(&DELAY)
            .unwrap_err();
        assert!(error.to_string().contains("positive"), "{error}");
    }
}
