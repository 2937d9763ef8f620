//! The operations endpoint: `/metrics` (Prometheus text), `/healthz` and
//! `/status`. [`Metrics`] assembles the stages' metrics into the one
//! registry `/metrics` shows.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::decode::DecodeMetrics;
use crate::enrich::EnrichMetrics;
use crate::metrics::{self, Registry, PREFIX};
use crate::receive::ReceiveMetrics;
use crate::reload::ReloadMetrics;
use crate::sink::SinkMetrics;
use crate::verdict::VerdictMetrics;

/// Every stage's metrics and the registry that shows them.
#[derive(Debug)]
pub struct Metrics {
    pub receive: Arc<ReceiveMetrics>,
    pub decode: Arc<DecodeMetrics>,
    pub enrich: EnrichMetrics,
    pub verdict: VerdictMetrics,
    /// Inventory/policy reloads and their status (`GET /status`).
    pub reload: Arc<ReloadMetrics>,
    /// The sink's, its spool's among them.
    pub sink: Arc<SinkMetrics>,
    registry: Registry,
}

impl Metrics {
    /// Every stage's metrics, registered in pipeline order.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let receive = ReceiveMetrics::new(&mut registry);
        let decode = DecodeMetrics::new(&mut registry);
        registry.register_collector(Box::new(QueueDepth {
            receive: receive.clone(),
            decode: decode.clone(),
        }));
        let enrich = EnrichMetrics::new(&mut registry);
        let verdict = VerdictMetrics::new(&mut registry);
        let sink = SinkMetrics::new(&mut registry);
        let reload = ReloadMetrics::new(&mut registry);
        Metrics {
            receive,
            decode,
            enrich,
            verdict,
            reload,
            sink,
            registry,
        }
    }

    /// Datagrams received and queued but not yet decoded.
    pub fn queue_depth(&self) -> u64 {
        queue_depth(&self.receive, &self.decode)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        metrics::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

fn queue_depth(receive: &ReceiveMetrics, decode: &DecodeMetrics) -> u64 {
    let queued = receive
        .packets
        .get()
        .saturating_sub(receive.dropped.get())
        .saturating_sub(receive.denied.get());
    queued.saturating_sub(decode.packets.get())
}

/// `receive_queue_depth`: what receive queued and decode has not taken
/// yet, computed at each scrape.
#[derive(Debug)]
struct QueueDepth {
    receive: Arc<ReceiveMetrics>,
    decode: Arc<DecodeMetrics>,
}

impl Collector for QueueDepth {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encoder
            .encode_descriptor(
                "receive_queue_depth",
                "Datagrams waiting for decode.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&queue_depth(&self.receive, &self.decode))
    }
}

/// The routes, apart from serving them (tests call it with `oneshot`).
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/status", get(status))
        .with_state(metrics)
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics.render(),
    )
}

/// The inventory and policy in use, the last reload errors, refused
/// inventory events and current co-residency (JSON, see [`crate::reload`]).
async fn status(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    axum::Json(metrics.reload.status())
}

/// 200 while the last insert succeeded, 503 while ClickHouse is failing.
async fn healthz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.sink.up.get() == 1 {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "clickhouse inserts failing\n",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{ErrorReason, ExporterStats};

    #[test]
    fn renders_every_reason_and_values() {
        let metrics = Metrics::new();
        metrics.receive.packets.inc_by(3);
        metrics.decode.error(ErrorReason::MissingTemplate);
        let text = metrics.render();
        assert!(
            text.contains("eastwest_collector_receive_packets_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "eastwest_collector_decode_errors_total{reason=\"missing_template\"} 1\n"
            ),
            "{text}"
        );
        for reason in ErrorReason::ALL {
            assert!(text.contains(&format!("reason=\"{}\"", reason.as_str())));
        }
        assert!(text.contains("eastwest_collector_receive_queue_depth 3\n"));
        assert_eq!(metrics.queue_depth(), 3);
    }

    #[test]
    fn renders_the_exporter_snapshot_per_exporter() {
        let metrics = Metrics::new();
        let stats = ExporterStats {
            exporter: "192.0.2.9".parse().unwrap(),
            port: 5000,
            source_id: 7,
            version: 9,
            name: "esx-07".to_string(),
            dataset: String::new(),
            evidence_url: String::new(),
            first_seen_ms: 1,
            last_seen_ms: 2,
            packets: 10,
            flows: 180,
            sequence_gaps: 4,
            late: 0,
            errors: 0,
            templates: 2,
        };
        metrics.decode.exporters.send_replace(vec![stats].into());
        let text = metrics.render();
        for line in [
            "eastwest_collector_decode_exporters 1\n",
            "eastwest_collector_decode_sequence_gaps_total{exporter=\"192.0.2.9\",source_id=\"7\"} 4\n",
            "eastwest_collector_decode_exporter_flows_total{exporter=\"192.0.2.9\",source_id=\"7\"} 180\n",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
