//! Telemetry: the spans of calls and of the events they cause (see `samenspel_kit::trace`), and
//! the node's metrics (`metrics.rs`), exported over OTLP/gRPC to a collector when `[telemetry]
//! otlp_endpoint` names one, and kept nowhere when it does not. Span and metric attributes name
//! methods, organisations' directory ids, roles, event kinds, positions, peers and read models —
//! never a value of a request or a payload.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
pub use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How long a batch of spans waits before it is sent (the SDK's default is 5 s).
const EXPORT_DELAY: Duration = Duration::from_secs(1);
/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP/gRPC endpoint of a collector (`http://127.0.0.1:4317`); empty: nothing is
    /// exported.
    pub otlp_endpoint: String,
    /// The share of traces kept, 0.0 to 1.0, decided where a trace starts (a call with no
    /// `traceparent`); a call or an event that continues a trace follows the decision made
    /// there, on this node and on its peers.
    pub sampling_ratio: f64,
    /// The `service.name` spans and metrics are exported under.
    pub service_name: String,
    /// How often the metrics are exported, in milliseconds.
    pub metrics_every_millis: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            sampling_ratio: 1.0,
            service_name: "samenspel".into(),
            metrics_every_millis: 60_000,
        }
    }
}

impl TelemetryConfig {
    /// What is wrong with the settings, by name.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            out.push(format!("telemetry.sampling_ratio: {} is not between 0.0 and 1.0", self.sampling_ratio));
        }
        let endpoint = self.otlp_endpoint.trim();
        if !endpoint.is_empty()
            && (!(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
                || endpoint.parse::<http::Uri>().is_err())
        {
            out.push(format!("telemetry.otlp_endpoint: {endpoint:?} is not an http:// or https:// address"));
        }
        if self.service_name.trim().is_empty() {
            out.push("telemetry.service_name: must not be empty".into());
        }
        if self.metrics_every_millis < 100 {
            out.push(format!("telemetry.metrics_every_millis: {} is under 100", self.metrics_every_millis));
        }
        out
    }
}

/// The exporting tracer and meters of a node, while it runs.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Starts exporting as `config` says, the spans labelled with `instance` (the node's
    /// address); call it inside a tokio runtime (the exporter's client is tonic's).
    pub fn start(config: &TelemetryConfig, instance: &str) -> Result<Self> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Error::Config(problems.join("; ")));
        }
        if config.otlp_endpoint.trim().is_empty() {
            return Ok(Self { provider: None, meters: None });
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.otlp_endpoint.trim())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| Error::Config(format!("telemetry.otlp_endpoint: {e}")))?;
        let batches = BatchConfigBuilder::default().with_scheduled_delay(EXPORT_DELAY).build();
        let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batches).build();
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(KeyValue::new("service.instance.id", instance.to_string()))
            .build();
        let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sampling_ratio)));
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler)
            .with_resource(resource.clone())
            .build();
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(config.otlp_endpoint.trim())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| Error::Config(format!("telemetry.otlp_endpoint: {e}")))?;
        let reader =
            PeriodicReader::builder(exporter).with_interval(Duration::from_millis(config.metrics_every_millis)).build();
        let meters = SdkMeterProvider::builder().with_reader(reader).with_resource(resource).build();
        // The node's instruments are made on the global meter (`metrics.rs`): this provider's.
        opentelemetry::global::set_meter_provider(meters.clone());
        Ok(Self { provider: Some(provider), meters: Some(meters) })
    }

    /// The tracer that exports spans, for the binary's `tracing_opentelemetry` layer (first on
    /// the registry: a reload layer would hide the span contexts it keeps); `None` when nothing
    /// is exported.
    pub fn tracer(&self) -> Option<SdkTracer> {
        Some(self.provider.as_ref()?.tracer("samenspel"))
    }

    /// Sends what is still batched and stops. The SDK's shutdown blocks: it runs beside the
    /// runtime, not on it.
    pub async fn shutdown(self) {
        if let Some(meters) = self.meters {
            let done = tokio::task::spawn_blocking(move || meters.shutdown()).await;
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "the last metrics could not be exported");
            }
        }
        if let Some(provider) = self.provider {
            let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "the last spans could not be exported");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_named_and_empty_exports_nothing() {
        let bad = TelemetryConfig {
            otlp_endpoint: "127.0.0.1:4317".into(),
            sampling_ratio: 1.5,
            service_name: " ".into(),
            metrics_every_millis: 5,
        };
        let problems = bad.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        let names = [
            "telemetry.otlp_endpoint",
            "telemetry.sampling_ratio",
            "telemetry.service_name",
            "telemetry.metrics_every_millis",
        ];
        for name in names {
            assert!(problems.iter().any(|p| p.starts_with(name)), "{name} in {problems:?}");
        }
        assert!(matches!(Telemetry::start(&bad, "x"), Err(Error::Config(_))));
        let off = Telemetry::start(&TelemetryConfig::default(), "x").unwrap();
        assert!(off.tracer().is_none());
    }
}
