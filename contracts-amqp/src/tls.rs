//! TLS to the broker: `amqps://`, and Nameko's `AMQP_SSL` options (a CA to trust, a client
//! certificate and key).
//!
//! The broker's certificate is always verified, against the system's roots plus `ca_certs`,
//! and its name against the host in `AMQP_URI`. Nameko (through kombu and py-amqp) can also
//! connect without verifying (`AMQP_SSL: true`, or `cert_reqs: 0`); that is refused here with
//! an error saying what to configure instead, because an unverified connection hands the
//! broker's credentials to whoever answers.
//!
//! The files are read on every connection attempt, so that certificates renewed on disk are
//! used at the next reconnection.

use std::path::{Path, PathBuf};

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};

/// Nameko's `AMQP_SSL` mapping, in the part that matters to a client that always verifies.
///
/// ```
/// use contracts_amqp::{BrokerUri, TlsOptions};
///
/// let tls = TlsOptions::new()
///     .ca_certs("/etc/rabbitmq/ca.pem")
///     .client_cert("/etc/app/client.pem", "/etc/app/client.key");
/// let broker: BrokerUri = "amqp://app:s3cret@rabbit:5671/%2f".parse().unwrap();
/// let broker = broker.with_tls(tls.clone());
/// assert_eq!(broker.to_string(), "amqps://app:***@rabbit:5671/%2f");
/// assert_eq!(broker.tls(), &tls);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    ca_certs: Option<PathBuf>,
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
}

/// Why an `AMQP_SSL` value was refused: the text says which option and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTls(String);

impl TlsOptions {
    /// TLS with the system's roots only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust the CAs in this PEM file too (`ca_certs`).
    #[must_use]
    pub fn ca_certs(mut self, pem: impl Into<PathBuf>) -> Self {
        self.ca_certs = Some(pem.into());
        self
    }

    /// Present this client certificate (a PEM chain, `certfile`) with its PEM key (`keyfile`).
    #[must_use]
    pub fn client_cert(
        mut self,
        certfile: impl Into<PathBuf>,
        keyfile: impl Into<PathBuf>,
    ) -> Self {
        self.certfile = Some(certfile.into());
        self.keyfile = Some(keyfile.into());
        self
    }

    /// Read Nameko's `AMQP_SSL`: a mapping with `ca_certs`, `certfile`, `keyfile` (which may be
    /// left out when `certfile` holds the key too, as in Python) and `cert_reqs` (only
    /// `2`/`CERT_REQUIRED`; other keys of Python's `ssl.wrap_socket` are ignored). `true` and
    /// `cert_reqs` other than required ask for no verification, which is refused.
    pub fn from_nameko(value: &serde_json::Value) -> Result<Option<Self>, InvalidTls> {
        let unverified = || {
            InvalidTls(
                "TLS without verifying the broker's certificate is not supported; give \
                 `ca_certs` (the CA that signed the broker's certificate) instead"
                    .into(),
            )
        };
        let map = match value {
            serde_json::Value::Null | serde_json::Value::Bool(false) => return Ok(None),
            serde_json::Value::Bool(true) => return Err(unverified()),
            serde_json::Value::Object(map) => map,
            other => {
                return Err(InvalidTls(format!(
                    "expected a mapping of ssl options (ca_certs, certfile, keyfile), got {other}"
                )));
            }
        };
        let path = |key: &str| -> Result<Option<PathBuf>, InvalidTls> {
            match map.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(p)) => Ok(Some(PathBuf::from(p))),
                Some(other) => Err(InvalidTls(format!(
                    "`{key}`: expected a file path, got {other}"
                ))),
            }
        };
        match map.get("cert_reqs") {
            None | Some(serde_json::Value::Null) => {}
            Some(v) if v.as_u64() == Some(2) || v.as_str() == Some("CERT_REQUIRED") => {}
            Some(_) => return Err(unverified()),
        }
        let certfile = path("certfile")?;
        let keyfile = path("keyfile")?;
        if keyfile.is_some() && certfile.is_none() {
            return Err(InvalidTls("`keyfile` without `certfile`".into()));
        }
        Ok(Some(Self {
            ca_certs: path("ca_certs")?,
            keyfile: keyfile.or_else(|| certfile.clone()),
            certfile,
        }))
    }

    /// Read the files into lapin's form.
    pub(crate) fn load(&self) -> Result<OwnedTLSConfig, InvalidTls> {
        let read = |what: &str, path: &Path| {
            std::fs::read(path).map_err(|e| {
                InvalidTls(format!(
                    "cannot read AMQP_SSL {what} {}: {e}",
                    path.display()
                ))
            })
        };
        let cert_chain = match &self.ca_certs {
            Some(path) => Some(String::from_utf8(read("ca_certs", path)?).map_err(|_| {
                InvalidTls(format!(
                    "AMQP_SSL ca_certs {} is not PEM text",
                    path.display()
                ))
            })?),
            None => None,
        };
        let identity = match (&self.certfile, &self.keyfile) {
            (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
                pem: read("certfile", cert)?,
                key: read("keyfile", key)?,
            }),
            _ => None,
        };
        Ok(OwnedTLSConfig {
            identity,
            cert_chain,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nameko_mapping() {
        let tls = TlsOptions::from_nameko(&json!({
            "ca_certs": "ca.pem", "certfile": "c.pem", "keyfile": "c.key", "cert_reqs": 2
        }))
        .unwrap()
        .unwrap();
        assert_eq!(
            tls,
            TlsOptions::new()
                .ca_certs("ca.pem")
                .client_cert("c.pem", "c.key")
        );
        // The key may sit in the certificate's file, as Python's ssl allows.
        let tls = TlsOptions::from_nameko(&json!({"certfile": "both.pem"}))
            .unwrap()
            .unwrap();
        assert_eq!(tls, TlsOptions::new().client_cert("both.pem", "both.pem"));
        assert_eq!(TlsOptions::from_nameko(&json!(null)).unwrap(), None);
        assert_eq!(TlsOptions::from_nameko(&json!(false)).unwrap(), None);
    }

    #[test]
    fn no_verification_is_refused_with_what_to_do() {
        for value in [
            json!(true),
            json!({"cert_reqs": 0}),
            json!({"cert_reqs": "CERT_NONE"}),
        ] {
            let e = TlsOptions::from_nameko(&value).unwrap_err();
            assert!(e.to_string().contains("ca_certs"), "{e}");
        }
        let e = TlsOptions::from_nameko(&json!({"keyfile": "k"})).unwrap_err();
        assert!(e.to_string().contains("certfile"), "{e}");
        let e = TlsOptions::from_nameko(&json!({"ca_certs": 3})).unwrap_err();
        assert!(e.to_string().contains("ca_certs"), "{e}");
    }

    #[test]
    fn missing_files_are_named() {
        let e = TlsOptions::new()
            .ca_certs("/no/such/ca.pem")
            .load()
            .unwrap_err();
        assert!(e.to_string().contains("ca_certs /no/such/ca.pem"), "{e}");
    }
}
