//! `GET /metrics`: the dashboard's own counters in the Prometheus text
//! format — requests by route and status, request latency per route (a
//! histogram), ClickHouse errors and timeouts, alerts sent and failed (by
//! destination and reason), failed TLS handshakes, packet downloads and
//! their bytes by outcome.
//! Counters only, no flow data: it needs no token (like `/api/v1/health`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Upper bounds of the latency buckets, seconds.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Per bucket of [`BUCKETS`] (not cumulative), then `+Inf`.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

/// The counters, shared by the HTTP layer, the store and the alerter.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    /// Queries that failed (ClickHouse unreachable or answering an error).
    pub clickhouse_errors: AtomicU64,
    /// Queries abandoned at `clickhouse.timeout_seconds`.
    pub clickhouse_timeouts: AtomicU64,
    /// Alerts delivered to at least one destination.
    pub alerts_sent: AtomicU64,
    /// Deliveries that failed (per destination).
    pub alerts_failed: AtomicU64,
    /// Alerts waiting for the webhook to take them.
    pub alerts_pending: AtomicU64,
    /// Failed deliveries by destination and reason (`webhook`/`tls`, …).
    alert_failures: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// TLS handshakes that failed or timed out (plain HTTP on the HTTPS
    /// port, a client that does not trust the certificate, …).
    pub tls_handshake_failures: AtomicU64,
    /// Packet downloads (`/api/v1/packets`) and their bytes, by outcome.
    packet_downloads: Mutex<BTreeMap<&'static str, (u64, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Metrics {
    /// Count one request of `route` answered with `status` in `secs`.
    pub fn observe(&self, route: &str, status: u16, secs: f64) {
        *lock(&self.requests)
            .entry((route.to_string(), status))
            .or_default() += 1;
        let mut latency = lock(&self.latency);
        let h = latency.entry(route.to_string()).or_default();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        h.counts[i] += 1;
        h.sum += secs;
    }

    /// Count one failed delivery to `destination` (`webhook`, `syslog`)
    /// for `reason`.
    pub fn alert_failed(&self, destination: &'static str, reason: &'static str) {
        self.alerts_failed.fetch_add(1, Ordering::Relaxed);
        *lock(&self.alert_failures)
            .entry((destination, reason))
            .or_default() += 1;
    }

    /// Count one packet download of `bytes` ended with `outcome`
    /// (`complete`, `partial`, `unavailable`, `failed`).
    pub fn packets_downloaded(&self, outcome: &'static str, bytes: u64) {
        let mut downloads = lock(&self.packet_downloads);
        let entry = downloads.entry(outcome).or_default();
        entry.0 += 1;
        entry.1 += bytes;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP eastwest_dashboard_requests_total HTTP requests by route and status\n\
             # TYPE eastwest_dashboard_requests_total counter"
        );
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "eastwest_dashboard_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP eastwest_dashboard_request_seconds HTTP request latency by route\n\
             # TYPE eastwest_dashboard_request_seconds histogram"
        );
        for (route, h) in lock(&self.latency).iter() {
            let route = escape(route);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                let _ = writeln!(
                    out,
                    "eastwest_dashboard_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += h.counts[BUCKETS.len()];
            let _ = writeln!(
                out,
                "eastwest_dashboard_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}\n\
                 eastwest_dashboard_request_seconds_sum{{route=\"{route}\"}} {}\n\
                 eastwest_dashboard_request_seconds_count{{route=\"{route}\"}} {cumulative}",
                h.sum
            );
        }
        for (name, help, value) in [
            (
                "clickhouse_errors_total",
                "ClickHouse queries that failed (unreachable or an error)",
                &self.clickhouse_errors,
            ),
            (
                "clickhouse_timeouts_total",
                "ClickHouse queries abandoned at clickhouse.timeout_seconds",
                &self.clickhouse_timeouts,
            ),
            (
                "alerts_sent_total",
                "alerts delivered to at least one destination",
                &self.alerts_sent,
            ),
            (
                "alerts_failed_total",
                "alert deliveries that failed (per destination)",
                &self.alerts_failed,
            ),
            (
                "tls_handshake_failures_total",
                "TLS handshakes that failed or timed out",
                &self.tls_handshake_failures,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP eastwest_dashboard_{name} {help}\n# TYPE eastwest_dashboard_{name} counter\n\
                 eastwest_dashboard_{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP eastwest_dashboard_alerts_pending alerts waiting for the webhook to take them\n\
             # TYPE eastwest_dashboard_alerts_pending gauge\n\
             eastwest_dashboard_alerts_pending {}",
            self.alerts_pending.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP eastwest_dashboard_alert_failures_total failed alert deliveries by destination and reason\n\
             # TYPE eastwest_dashboard_alert_failures_total counter"
        );
        for ((destination, reason), n) in lock(&self.alert_failures).iter() {
            let _ = writeln!(
                out,
                "eastwest_dashboard_alert_failures_total{{destination=\"{destination}\",reason=\"{reason}\"}} {n}"
            );
        }
        let downloads = lock(&self.packet_downloads);
        for (i, (name, help)) in [
            ("packet_downloads_total", "packet downloads by outcome"),
            (
                "packet_download_bytes_total",
                "bytes of packet downloads by outcome",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let _ = writeln!(
                out,
                "# HELP eastwest_dashboard_{name} {help}\n# TYPE eastwest_dashboard_{name} counter"
            );
            for (outcome, (n, bytes)) in downloads.iter() {
                let value = if i == 0 { n } else { bytes };
                let _ = writeln!(
                    out,
                    "eastwest_dashboard_{name}{{outcome=\"{outcome}\"}} {value}"
                );
            }
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
        .into_response()
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
        m.clickhouse_timeouts.fetch_add(1, Ordering::Relaxed);
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
}
