//! Seeing into a contracts process: OpenTelemetry traces that cross Rust and Nameko services,
//! Prometheus metrics, JSON logs carrying trace ids, and health probes — switched on by a
//! service's config file.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = contracts_amqp::Config::load("config.yaml")?;
//! let telemetry =
//!     contracts_telemetry::install(&contracts_telemetry::TelemetryConfig::from_settings(&config.settings)?)
//!         .await?;
//! // ... serve and call as usual: every call and event is now traced, counted and logged.
//! telemetry.shutdown(); // flush the spans still buffered
//! # Ok(()) }
//! ```
//!
//! The keys are in [`TelemetryConfig`]; what is traced in [`traces`], what is counted in
//! [`metrics`], what a log line holds in [`logs`]. With only logs asked for (no traces, no
//! `METRICS_PORT`), [`install`] sets up logging alone and the runtime runs with no observer at
//! all.

mod config;
mod endpoint;
pub mod logs;
pub mod metrics;
mod observer;
pub mod traces;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

pub use config::{ConfigError, DEFAULT_OTLP_ENDPOINT, KEYS, LogFormat, TelemetryConfig};
pub use metrics::{Metrics, Readiness};

use crate::observer::TelemetryObserver;

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A config key is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `LOG_LEVEL` is not a `tracing` filter.
    #[error("config key `LOG_LEVEL`: {0}")]
    LogLevel(String),
    /// The OTLP exporter could not be built from the endpoint.
    #[error("OTLP exporter for `{endpoint}`: {reason}")]
    Exporter {
        /// `OPENTELEMETRY_EXPORTER_OTLP_ENDPOINT`.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The metrics and health server could not listen on `METRICS_PORT`.
    #[error("cannot serve metrics on port {port}")]
    Listen {
        /// `METRICS_PORT`.
        port: u16,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The process already has a `tracing` subscriber or a contracts observer: telemetry is
    /// set up once per process.
    #[error("telemetry is already set up in this process ({0})")]
    AlreadyInstalled(&'static str),
}

/// What [`install`] set up. Keep it for the process's lifetime: dropping it stops the
/// metrics server; [`Telemetry::shutdown`] also flushes buffered spans.
#[derive(Debug)]
#[must_use = "dropping it stops the metrics and health server"]
pub struct Telemetry {
    metrics: Option<Arc<Metrics>>,
    endpoint: Option<endpoint::Endpoint>,
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Where `/metrics` and the health probes are served, if they are.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.endpoint.as_ref().map(|e| e.addr)
    }

    /// The process's metrics, if the observer is installed.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Export every span ended so far now, instead of with the next batch.
    pub async fn flush(&self) {
        if let Some(provider) = self.provider.clone() {
            // The batch exporter's flush blocks until the exporter answers.
            let flushed = tokio::task::spawn_blocking(move || provider.force_flush()).await;
            if let Ok(Err(e)) = flushed {
                tracing::warn!(error = %e, "spans not all exported");
            }
        }
    }

    /// Export every span still buffered, then stop exporting.
    pub fn shutdown(self) {
        if let Some(provider) = &self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "spans not all exported at shutdown");
        }
    }
}

/// Set up logging, and tracing and metrics as `config` asks, writing log lines to standard
/// output. Call it once, early, inside the Tokio runtime (the OTLP exporter runs on it).
pub async fn install(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    install_with_writer(config, std::io::stdout).await
}

/// [`install`], writing log lines to `writer`.
pub async fn install_with_writer<W>(
    config: &TelemetryConfig,
    writer: W,
) -> Result<Telemetry, TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let provider = config.traces.then(|| tracer_provider(config)).transpose()?;
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let level = EnvFilter::try_new(&config.log_level)
        .map_err(|e| TelemetryError::LogLevel(e.to_string()))?;
    let log = if json {
        tracing_subscriber::fmt::layer()
            .fmt_fields(logs::SpanFields)
            .event_format(logs::JsonLines)
            .with_writer(writer)
            .with_filter(level)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .event_format(logs::TextLines::new())
            .with_writer(writer)
            .with_filter(level)
            .boxed()
    };
    let tracer = provider.as_ref().map(|p| p.tracer("contracts"));
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![log];
    if let Some(tracer) = &tracer {
        // For the spans handlers open with `tracing`: children of the call they run in (the
        // current OpenTelemetry context), and current themselves while entered.
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer.clone())
                .with_tracked_inactivity(false)
                .with_location(false)
                .with_threads(false)
                .with_filter(LevelFilter::INFO)
                .boxed(),
        );
    }
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled("a tracing subscriber is set"))?;

    // With nothing to feed (logs only: they read a call's ids themselves), the runtime runs
    // without an observer.
    if tracer.is_none() && config.metrics_port.is_none() {
        return Ok(Telemetry {
            metrics: None,
            endpoint: None,
            provider,
        });
    }
    let metrics = Arc::new(Metrics::new());
    contracts_core::observe::install(TelemetryObserver {
        metrics: metrics.clone(),
        tracer,
    })
    .map_err(|_| TelemetryError::AlreadyInstalled("an observer is installed"))?;
    let endpoint = match config.metrics_port {
        Some(port) => Some(
            endpoint::serve(port, metrics.clone())
                .await
                .map_err(|source| TelemetryError::Listen { port, source })?,
        ),
        None => None,
    };
    Ok(Telemetry {
        metrics: Some(metrics),
        endpoint,
        provider,
    })
}

/// Spans exported in batches over OTLP/gRPC, described by the service's resource attributes.
fn tracer_provider(config: &TelemetryConfig) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&config.otlp_endpoint)
        .build()
        .map_err(|e| TelemetryError::Exporter {
            endpoint: config.otlp_endpoint.clone(),
            reason: e.to_string(),
        })?;
    let mut resource = Resource::builder().with_attributes(
        config
            .resource_attributes
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    if let Some(name) = &config.service_name {
        resource = resource.with_service_name(name.clone());
    }
    resource = resource.with_attribute(KeyValue::new(
        "telemetry.sdk.semconv_version",
        traces::SEMCONV_VERSION,
    ));
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

// The crate's README (its registry page) is tested as documentation: its examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
