//! `GET /metrics`: the dashboard's own counters in the Prometheus text
//! format — requests by route and status, request latency per route (a
//! histogram), ClickHouse errors and timeouts, alerts sent and failed (by
//! destination and reason), failed TLS handshakes, packet downloads and
//! their bytes by outcome.
//! Counters only, no flow data: it needs no token (like `/api/v1/health`).
//!
//! The HTTP layer, the store, the alerter and the TLS listener each count
//! into their fields of [`Metrics`] (`prometheus-client` types, lock-free
//! but for the labelled families); [`Metrics::new`] registers them all.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::prometheus_text::{encode, CONTENT_TYPE};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A monotonic counter; clones share the value.
pub type Counter = prometheus_client::metrics::counter::Counter<u64, AtomicU64>;

/// A value that goes up and down; clones share the value.
pub type Gauge = prometheus_client::metrics::gauge::Gauge<u64, AtomicU64>;

/// Upper bounds of the latency buckets, seconds.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// `route`, `status`: one series of `requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

/// `route`: one histogram of `request_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Route {
    route: String,
}

/// `destination`, `reason`: one series of `alert_failures_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Failure {
    destination: &'static str,
    reason: &'static str,
}

/// `outcome`: one series of the packet download counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The counters, shared by the HTTP layer, the store, the alerter and the
/// TLS listener.
#[derive(Debug)]
pub struct Metrics {
    requests: Family<RouteStatus, Counter>,
    latency: Family<Route, Histogram, fn() -> Histogram>,
    /// Queries that failed (ClickHouse unreachable or answering an error).
    pub clickhouse_errors: Counter,
    /// Queries abandoned at `clickhouse.timeout_seconds`.
    pub clickhouse_timeouts: Counter,
    /// Alerts delivered to at least one destination.
    pub alerts_sent: Counter,
    /// Deliveries that failed (per destination).
    pub alerts_failed: Counter,
    /// Alerts waiting for the webhook to take them.
    pub alerts_pending: Gauge,
    /// Failed deliveries by destination and reason (`webhook`/`tls`, …).
    alert_failures: Family<Failure, Counter>,
    /// TLS handshakes that failed or timed out (plain HTTP on the HTTPS
    /// port, a client that does not trust the certificate, …).
    pub tls_handshake_failures: Counter,
    /// Packet downloads (`/api/v1/packets`) by outcome.
    packet_downloads: Family<Outcome, Counter>,
    /// Their bytes, by outcome.
    packet_download_bytes: Family<Outcome, Counter>,
    registry: Registry,
}

impl Metrics {
    /// Every counter at zero, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("eastwest_dashboard");
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "request_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let clickhouse_errors = counter(
            "clickhouse_errors",
            "ClickHouse queries that failed (unreachable or an error)",
        );
        let clickhouse_timeouts = counter(
            "clickhouse_timeouts",
            "ClickHouse queries abandoned at clickhouse.timeout_seconds",
        );
        let alerts_sent = counter(
            "alerts_sent",
            "alerts delivered to at least one destination",
        );
        let alerts_failed = counter(
            "alerts_failed",
            "alert deliveries that failed (per destination)",
        );
        let tls_handshake_failures = counter(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
        );
        let alerts_pending = Gauge::default();
        registry.register(
            "alerts_pending",
            "alerts waiting for the webhook to take them",
            alerts_pending.clone(),
        );
        let alert_failures = Family::<Failure, Counter>::default();
        registry.register(
            "alert_failures",
            "failed alert deliveries by destination and reason",
            alert_failures.clone(),
        );
        let packet_downloads = Family::<Outcome, Counter>::default();
        registry.register(
            "packet_downloads",
            "packet downloads (/api/v1/packets) by outcome",
            packet_downloads.clone(),
        );
        let packet_download_bytes = Family::<Outcome, Counter>::default();
        registry.register(
            "packet_download_bytes",
            "bytes of packet downloads by outcome",
            packet_download_bytes.clone(),
        );
        Metrics {
            requests,
            latency,
            clickhouse_errors,
            clickhouse_timeouts,
            alerts_sent,
            alerts_failed,
            alerts_pending,
            alert_failures,
            tls_handshake_failures,
            packet_downloads,
            packet_download_bytes,
            registry,
        }
    }

    /// Count one request of `route` answered with `status` in `secs`.
    pub fn observe(&self, route: &str, status: u16, secs: f64) {
        let route = route.to_string();
        self.latency
            .get_or_create(&Route {
                route: route.clone(),
            })
            .observe(secs);
        self.requests
            .get_or_create(&RouteStatus { route, status })
            .inc();
    }

    /// Count one packet download of `bytes` ended with `outcome`
    /// (`complete`, `partial`, `unavailable`, `failed`).
    pub fn packets_downloaded(&self, outcome: &'static str, bytes: u64) {
        let outcome = Outcome { outcome };
        self.packet_downloads.get_or_create(&outcome).inc();
        self.packet_download_bytes
            .get_or_create(&outcome)
            .inc_by(bytes);
    }

    /// Count one failed delivery to `destination` (`webhook`, `syslog`)
    /// for `reason`.
    pub fn alert_failed(&self, destination: &'static str, reason: &'static str) {
        self.alerts_failed.inc();
        self.alert_failures
            .get_or_create(&Failure {
                destination,
                reason,
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// Middleware: time and count every routed request (the route's pattern,
/// e.g. `/api/v1/vms/{name}`, never the raw path).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub async fn handler(State(metrics): State<Arc<Metrics>>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("/api/v1/conversations", 200, 0.004);
        m.observe("/api/v1/conversations", 200, 0.3);
        m.observe("/api/v1/conversations", 503, 40.0);
        m.clickhouse_timeouts.inc();
        let text = m.render();
        assert!(text.contains(
            "eastwest_dashboard_requests_total{route=\"/api/v1/conversations\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "eastwest_dashboard_requests_total{route=\"/api/v1/conversations\",status=\"503\"} 1"
        ));
        assert!(text.contains(
            "eastwest_dashboard_request_seconds_bucket{route=\"/api/v1/conversations\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "eastwest_dashboard_request_seconds_bucket{route=\"/api/v1/conversations\",le=\"0.5\"} 2"
        ));
        assert!(text.contains(
            "eastwest_dashboard_request_seconds_bucket{route=\"/api/v1/conversations\",le=\"30\"} 2"
        ));
        assert!(text.contains(
            "eastwest_dashboard_request_seconds_bucket{route=\"/api/v1/conversations\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("eastwest_dashboard_clickhouse_timeouts_total 1"));
        assert!(text.contains("eastwest_dashboard_alerts_sent_total 0"));
        m.alert_failed("webhook", "tls");
        m.alert_failed("webhook", "tls");
        m.alert_failed("syslog", "send");
        let text = m.render();
        assert!(text.contains("eastwest_dashboard_alerts_failed_total 3"));
        assert!(text.contains(
            "eastwest_dashboard_alert_failures_total{destination=\"webhook\",reason=\"tls\"} 2"
        ));
        assert!(text.contains(
            "eastwest_dashboard_alert_failures_total{destination=\"syslog\",reason=\"send\"} 1"
        ));
    }

    #[test]
    fn escapes_label_values() {
        let m = Metrics::default();
        m.observe("/a\"b\\c\nd", 404, 0.001);
        assert!(m.render().contains(
            "eastwest_dashboard_requests_total{route=\"/a\\\"b\\\\c\\nd\",status=\"404\"} 1"
        ));
    }
}
