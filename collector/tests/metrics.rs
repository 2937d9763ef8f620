//! `/metrics` of a running collector (the binary, real UDP and ClickHouse)
//! read by a strict parser of the Prometheus text format: every family the
//! manual lists, with its type, and the values of the traffic sent.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result};
use eastwest_tests::{http, metric_families, tempdir, wait_for, CollectorProcess};

/// Every family of the collector's `/metrics` and its type.
const FAMILIES: [(&str, &str); 37] = [
    ("receive_packets_total", "counter"),
    ("receive_bytes_total", "counter"),
    ("receive_dropped_total", "counter"),
    ("receive_denied_total", "counter"),
    ("receive_kernel_drops_total", "counter"),
    ("receive_kernel_queue_bytes", "gauge"),
    ("receive_socket_errors_total", "counter"),
    ("receive_queue_depth", "gauge"),
    ("decode_packets_total", "counter"),
    ("decode_flows_total", "counter"),
    ("decode_late_packets_total", "counter"),
    ("decode_held_flowsets_total", "counter"),
    ("decode_templates_evicted_total", "counter"),
    ("decode_held_flowsets", "gauge"),
    ("decode_held_bytes", "gauge"),
    ("decode_errors_total", "counter"),
    ("decode_exporters", "gauge"),
    ("decode_sequence_gaps_total", "counter"),
    ("decode_exporter_flows_total", "counter"),
    ("enrich_known_vms_total", "counter"),
    ("verdict_flows_total", "counter"),
    ("sink_rows_total", "counter"),
    ("sink_batches_total", "counter"),
    ("sink_errors_total", "counter"),
    ("sink_dropped_rows_total", "counter"),
    ("sink_pending_rows", "gauge"),
    ("sink_up", "gauge"),
    ("spool_bytes", "gauge"),
    ("spool_segments", "gauge"),
    ("spool_rows", "gauge"),
    ("spool_dropped_rows_total", "counter"),
    ("spool_errors_total", "counter"),
    ("policy_reloads_total", "counter"),
    ("policy_reload_errors_total", "counter"),
    ("inventory_events_applied", "gauge"),
    ("inventory_events_refused", "gauge"),
    ("coresidency_pairs", "gauge"),
];

#[test]
fn a_running_collector_serves_every_family_in_the_prometheus_text_format() -> Result<()> {
    let ch = eastwest_tests::clickhouse()?;
    let dir = tempdir("collector-metrics")?;
    let udp = eastwest_tests::free_udp_port()?;
    let port = eastwest_tests::free_tcp_port()?;
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[receive]\nlisten = [\"127.0.0.1:{udp}\"]\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [clickhouse]\nurl = \"{}\"\ndatabase = \"collector_metrics\"\nflush_interval_ms = 200\n",
            ch.url
        ),
    )?;
    let collector = CollectorProcess::start(&config, port)?;
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, udp));
    for n in 0..3 {
        socket.send_to(&common::ten_flows(n), to)?;
    }
    // A header of NetFlow version 99, cut short: one decode error.
    let mut v99 = vec![0u8; 24];
    v99[1] = 99;
    socket.send_to(&v99, to)?;
    wait_for(30, "30 rows stored", || {
        Ok(collector.metric("eastwest_collector_sink_rows_total")? == 30)
    })?;
    // The per-exporter series come with decode's next snapshot.
    wait_for(10, "the exporter snapshot of every flow", || {
        Ok(collector
            .metric("eastwest_collector_decode_exporter_flows_total")
            .is_ok_and(|flows| flows == 30))
    })?;

    let (status, text) = http(port, "GET", "/metrics", &[], b"", Duration::from_secs(5))?;
    assert_eq!(status, 200, "{text}");
    let families = metric_families(&text)?;
    let expected: std::collections::BTreeMap<String, String> = FAMILIES
        .iter()
        .map(|(name, kind)| (format!("eastwest_collector_{name}"), kind.to_string()))
        .collect();
    assert_eq!(families, expected, "{text}");

    let value = |series: &str| -> Result<String> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(str::to_string)
            .with_context(|| format!("{series} not in\n{text}"))
    };
    for (series, expected) in [
        ("eastwest_collector_receive_packets_total", "4"),
        ("eastwest_collector_decode_flows_total", "30"),
        (
            "eastwest_collector_decode_errors_total{reason=\"missing_template\"}",
            "0",
        ),
        (
            "eastwest_collector_decode_exporter_flows_total{exporter=\"127.0.0.1\",source_id=\"7\"}",
            "30",
        ),
        (
            "eastwest_collector_verdict_flows_total{verdict=\"unknown\"}",
            "30",
        ),
        (
            "eastwest_collector_enrich_known_vms_total{side=\"src\"}",
            "0",
        ),
        (
            "eastwest_collector_policy_reload_errors_total{file=\"policy\"}",
            "0",
        ),
        (
            &format!("eastwest_collector_receive_kernel_drops_total{{listen=\"127.0.0.1:{udp}\"}}"),
            "0",
        ),
        (
            "eastwest_collector_decode_errors_total{reason=\"truncated\"}",
            "1",
        ),
        ("eastwest_collector_decode_exporters", "1"),
        ("eastwest_collector_receive_queue_depth", "0"),
        ("eastwest_collector_sink_up", "1"),
    ] {
        assert_eq!(value(series)?, expected, "{series} in\n{text}");
    }
    Ok(())
}
