//! `/metrics` of the running `eastwest-dashboard` binary (on a real
//! ClickHouse) read by a strict parser of the Prometheus text format: every
//! family the manual lists, with its type, and the requests made.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eastwest_tests::{http, metric_families};

/// Every family of the dashboard's `/metrics` and its type; a family
/// without series (`alert_failures_total` until a delivery fails) is not
/// written at all.
const FAMILIES: [(&str, &str); 8] = [
    ("requests_total", "counter"),
    ("request_seconds", "histogram"),
    ("clickhouse_errors_total", "counter"),
    ("clickhouse_timeouts_total", "counter"),
    ("alerts_sent_total", "counter"),
    ("alerts_failed_total", "counter"),
    ("tls_handshake_failures_total", "counter"),
    ("alerts_pending", "gauge"),
];

struct Dashboard(std::process::Child);

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_running_dashboard_serves_every_family_in_the_prometheus_text_format() {
    let server = eastwest_tests::clickhouse().expect("ClickHouse for tests");
    let database = eastwest_tests::unique_database("dash_metrics");
    let port = eastwest_tests::free_tcp_port().unwrap();
    let mut dashboard = Dashboard(
        Command::new(env!("CARGO_BIN_EXE_eastwest-dashboard"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--clickhouse-url", &server.url, "--database", &database])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let get = |target: &str| http(port, "GET", target, &[], b"", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(get("/api/v1/health"), Ok((200, _))) {
        assert!(
            dashboard.0.try_wait().unwrap().is_none(),
            "the dashboard exited"
        );
        assert!(Instant::now() < deadline, "the dashboard did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get("/api/v1/vms/no-such-vm").unwrap().0, 404);
    assert_eq!(get("/no/such/page/api").unwrap().0, 404);

    let (status, text) = get("/metrics").unwrap();
    assert_eq!(status, 200, "{text}");
    let families = metric_families(&text).unwrap();
    let expected: std::collections::BTreeMap<String, String> = FAMILIES
        .iter()
        .map(|(name, kind)| (format!("eastwest_dashboard_{name}"), kind.to_string()))
        .collect();
    assert_eq!(families, expected, "{text}");

    let value = |series: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{series} not in\n{text}"))
    };
    assert!(
        value("eastwest_dashboard_requests_total{route=\"/api/v1/health\",status=\"200\"}") >= 1
    );
    assert_eq!(
        value("eastwest_dashboard_requests_total{route=\"/api/v1/vms/{name}\",status=\"404\"}"),
        1
    );
    assert_eq!(
        value("eastwest_dashboard_request_seconds_count{route=\"/api/v1/vms/{name}\"}"),
        1
    );
    assert_eq!(
        value(
            "eastwest_dashboard_request_seconds_bucket{route=\"/api/v1/vms/{name}\",le=\"+Inf\"}"
        ),
        1
    );
    assert_eq!(value("eastwest_dashboard_clickhouse_timeouts_total"), 0);
    assert_eq!(value("eastwest_dashboard_alerts_pending"), 0);
}
