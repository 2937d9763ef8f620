//! What `/metrics` of the evidence server shows, and how it writes it:
//! the store's figures are read from its status at each scrape
//! ([`StoreMetrics`]), the evidence server counts its own
//! ([`EvidenceMetrics`]), and [`Metrics`] assembles them into one
//! registry, which [`crate::serve`] shows. It imports only the store's
//! status handle; the store does not import it.
//!
//! Names follow the parts: `exporter_store_<what>`,
//! `exporter_evidence_<what>`.

use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::store::StatusHandle;

/// The scrape's content type: the Prometheus text format 0.0.4.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A monotonic counter; clones share the value.
pub type Counter = prometheus_client::metrics::counter::Counter<u64, AtomicU64>;

/// Every series name starts with this and `_`.
pub const PREFIX: &str = "exporter";

/// The packet store's figures (`exporter_store_*`), read from its status
/// at each scrape: the store's own thread keeps the status, so the figures
/// are a copy of it rather than counters of their own.
#[derive(Debug)]
pub struct StoreMetrics {
    pub status: StatusHandle,
}

impl Collector for StoreMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let st = self.status.get();
        let gauges = [
            ("segments", "Sealed segments held.", st.segments),
            ("bytes", "Bytes held on disk.", st.bytes),
            (
                "oldest_seconds",
                "Capture time of the oldest frame held (Unix seconds).",
                st.oldest_ns.unwrap_or(0) / 1_000_000_000,
            ),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        let counters = [
            (
                "segments_expired",
                "Segments removed by retention.",
                st.segments_expired,
            ),
            (
                "segments_recovered",
                "Segments re-indexed at start-up.",
                st.segments_recovered,
            ),
        ];
        for (name, help, value) in counters {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)?;
        }
        ConstGauge::new(u64::from(st.stopped.is_some())).encode(encoder.encode_descriptor(
            "stopped",
            "1 when a write error stopped the store.",
            None,
            MetricType::Gauge,
        )?)
    }
}

/// What the evidence server counts itself (`exporter_evidence_*`).
#[derive(Debug, Clone, Default)]
pub struct EvidenceMetrics {
    /// HTTPS handshakes that failed or timed out.
    pub tls_handshake_failures: Counter,
}

impl EvidenceMetrics {
    /// Its counters, registered in `registry` (prefixed `evidence`).
    pub fn new(registry: &mut Registry) -> EvidenceMetrics {
        let metrics = EvidenceMetrics::default();
        registry.register(
            "tls_handshake_failures",
            "HTTPS handshakes that failed or timed out (with evidence.tls)",
            metrics.tls_handshake_failures.clone(),
        );
        metrics
    }
}

/// The registry `/metrics` shows: the store's figures, then the evidence
/// server's.
#[derive(Debug)]
pub struct Metrics {
    pub evidence: EvidenceMetrics,
    registry: Registry,
}

impl Metrics {
    /// The store's figures read from `status`, and the evidence server's
    /// counters, at zero.
    pub fn new(status: StatusHandle) -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        registry
            .sub_registry_with_prefix("store")
            .register_collector(Box::new(StoreMetrics { status }));
        let evidence = EvidenceMetrics::new(registry.sub_registry_with_prefix("evidence"));
        Metrics { evidence, registry }
    }

    /// The exposition in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; a metric's encoder can only
        // fail by the writer failing.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
