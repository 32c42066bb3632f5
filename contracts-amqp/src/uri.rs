//! The broker address: parsed once, printed without its password.

use std::fmt;
use std::str::FromStr;

use lapin::uri::{AMQPScheme, AMQPUri};

use crate::tls::TlsOptions;

/// Where the broker is when nothing says otherwise: RabbitMQ's defaults on this host.
pub const DEFAULT_AMQP_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A parsed `AMQP_URI`. `amqp://` and `amqps://` (TLS) are accepted, and so is Nameko's
/// `pyamqp://` spelling of `amqp://`; the vhost is the URL-encoded path (`%2f` is `/`).
///
/// `Display` and `Debug` hide the password, so the value can be logged.
///
/// ```
/// use contracts_amqp::BrokerUri;
///
/// let uri: BrokerUri = "pyamqp://app:s3cret@rabbit:5672/orders".parse().unwrap();
/// assert_eq!(uri.to_string(), "amqp://app:***@rabbit:5672/orders");
/// assert_eq!(uri.vhost(), "orders");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUri {
    parsed: AMQPUri,
    tls: TlsOptions,
}

/// Why an `AMQP_URI` was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid AMQP_URI `{uri}`: {reason}")]
#[non_exhaustive]
pub struct InvalidUri {
    /// The address with its password hidden.
    pub uri: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for BrokerUri {
    type Err = InvalidUri;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let normalised = match text.strip_prefix("pyamqp://") {
            Some(rest) => format!("amqp://{rest}"),
            None => text.to_owned(),
        };
        let mut parsed = normalised.parse::<AMQPUri>().map_err(|reason| InvalidUri {
            uri: redact(text),
            reason,
        })?;
        // kombu reads an empty path (`amqp://host:5672/`, the article's own URI) as the
        // default vhost `/`, not as a vhost named "".
        if parsed.vhost.is_empty() {
            parsed.vhost = "/".to_owned();
        }
        Ok(Self {
            parsed,
            tls: TlsOptions::default(),
        })
    }
}

impl Default for BrokerUri {
    fn default() -> Self {
        DEFAULT_AMQP_URI.parse().expect("the default URI parses")
    }
}

impl BrokerUri {
    /// The virtual host.
    pub fn vhost(&self) -> &str {
        &self.parsed.vhost
    }

    /// The same broker, another virtual host.
    #[must_use]
    pub fn with_vhost(&self, vhost: &str) -> Self {
        let mut uri = self.clone();
        uri.parsed.vhost = vhost.to_owned();
        uri
    }

    /// The same broker with a heartbeat interval in seconds (Nameko's `HEARTBEAT`; 0 turns it
    /// off).
    #[must_use]
    pub fn with_heartbeat(&self, seconds: u16) -> Self {
        let mut uri = self.clone();
        uri.parsed.query.heartbeat = Some(seconds);
        uri
    }

    /// The heartbeat requested in the URI, if any.
    pub fn heartbeat(&self) -> Option<u16> {
        self.parsed.query.heartbeat
    }

    /// Host and port, for messages.
    pub fn host(&self) -> String {
        format!(
            "{}:{}",
            self.parsed.authority.host, self.parsed.authority.port
        )
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.parsed.authority.userinfo.username
    }

    /// The same broker over TLS with `options` (Nameko's `AMQP_SSL`): the scheme becomes
    /// `amqps`, the port stays as written (as with Nameko, where `AMQP_URI` names the TLS
    /// port and `AMQP_SSL` turns TLS on).
    #[must_use]
    pub fn with_tls(&self, options: TlsOptions) -> Self {
        let mut uri = self.clone();
        uri.parsed.scheme = AMQPScheme::AMQPS;
        uri.tls = options;
        uri
    }

    /// Whether connections to this broker use TLS.
    pub fn is_tls(&self) -> bool {
        self.parsed.scheme == AMQPScheme::AMQPS
    }

    /// The TLS options beyond the system's roots.
    pub fn tls(&self) -> &TlsOptions {
        &self.tls
    }

    pub(crate) fn to_lapin(&self) -> AMQPUri {
        self.parsed.clone()
    }
}

impl fmt::Display for BrokerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.parsed.scheme {
            AMQPScheme::AMQP => "amqp",
            AMQPScheme::AMQPS => "amqps",
        };
        let user = &self.parsed.authority.userinfo;
        let vhost = match self.parsed.vhost.as_str() {
            "/" => "%2f".to_owned(),
            other => other.replace('/', "%2f"),
        };
        write!(
            f,
            "{scheme}://{}:***@{}/{vhost}",
            user.username,
            self.host()
        )
    }
}

impl fmt::Debug for BrokerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerUri({self})")
    }
}

/// Hide the password of a URI that did not parse, as well as a string search can.
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}:***@{host}")
        }
        None => authority.to_owned(),
    };
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_local_guest() {
        let uri = BrokerUri::default();
        assert_eq!(uri.vhost(), "/");
        assert_eq!(uri.host(), "127.0.0.1:5672");
        assert_eq!(uri.to_string(), "amqp://guest:***@127.0.0.1:5672/%2f");
    }

    #[test]
    fn an_empty_path_is_the_default_vhost_as_in_kombu() {
        for text in [
            "pyamqp://guest:guest@localhost:5672/",
            "amqp://guest:guest@localhost:5672",
        ] {
            let uri: BrokerUri = text.parse().unwrap();
            assert_eq!(uri.vhost(), "/", "{text}");
        }
        let named: BrokerUri = "amqp://guest:guest@localhost:5672/orders".parse().unwrap();
        assert_eq!(named.vhost(), "orders");
    }

    #[test]
    fn tls_and_vhost() {
        let uri: BrokerUri = "amqps://u:p@broker.example:5671/a%2fb".parse().unwrap();
        assert_eq!(uri.vhost(), "a/b");
        assert_eq!(uri.to_string(), "amqps://u:***@broker.example:5671/a%2fb");
    }

    #[test]
    fn password_never_printed() {
        let uri: BrokerUri = "amqp://user:hunter2@h:5672/v".parse().unwrap();
        assert!(!format!("{uri} {uri:?}").contains("hunter2"));
        let bad = "amqp://user:hunter2@h:notaport/v"
            .parse::<BrokerUri>()
            .unwrap_err();
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn heartbeat_is_set() {
        assert_eq!(
            BrokerUri::default().with_heartbeat(30).heartbeat(),
            Some(30)
        );
    }
}
