//! The collector's counters, rendered in the Prometheus text format.
//!
//! Names follow the stages: `eastwest_collector_<stage>_<what>`. Every stage
//! updates plain atomics (no lock per packet); `/metrics` reads them.

use std::fmt::Write;
use std::sync::{Arc, OnceLock};

use eastwest_core::policy::VerdictKind;
use tokio::sync::watch;

pub use crate::counter::{Counter, Gauge};
use crate::decode::{ErrorReason, ExporterStats};
use crate::kernel::{kernel_stats, Listener};

/// Every counter of the collector.
#[derive(Debug, Default)]
pub struct Metrics {
    pub receive_packets: Counter,
    pub receive_bytes: Counter,
    /// Datagrams dropped because the receive → decode queue was full.
    pub receive_dropped: Counter,
    /// Datagrams dropped because their sender is outside `receive.allow`.
    pub receive_denied: Counter,
    /// Our UDP sockets, whose kernel drops `/metrics` reads from
    /// `/proc/net/udp{,6}`; set once they are bound.
    pub listeners: OnceLock<Vec<Listener>>,
    pub receive_socket_errors: Counter,
    /// Datagrams taken off the queue by decode (queue depth = packets -
    /// dropped - dequeued).
    pub decode_packets: Counter,
    pub decode_flows: Counter,
    /// Export packets that arrived after a later one of the same scope.
    pub decode_late: Counter,
    /// Data flowsets put on hold until their template arrives.
    pub decode_held: Counter,
    pub decode_templates_evicted: Counter,
    /// Held flowsets (and their bytes) waiting for a template right now.
    pub decode_held_flowsets: Gauge,
    pub decode_held_bytes: Gauge,
    decode_errors: [Counter; ErrorReason::ALL.len()],
    /// The latest per-(exporter, source id) snapshot, published by decode
    /// about once a second; the sink writes it to the `exporters` table and
    /// `/metrics` renders the per-exporter series from it.
    pub exporters: watch::Sender<Arc<[ExporterStats]>>,
    /// Flows whose source or destination VM the inventory knew.
    pub enrich_src_known: Counter,
    pub enrich_dst_known: Counter,
    pub verdict_allowed: Counter,
    pub verdict_violation: Counter,
    pub verdict_unknown: Counter,
    /// Inventory/policy reloads and their status (`GET /status`).
    pub reload: Arc<crate::reload::ReloadMetrics>,
    pub sink_rows: Counter,
    pub sink_batches: Counter,
    pub sink_errors: Counter,
    pub sink_dropped_rows: Counter,
    pub sink_pending_rows: Gauge,
    /// 1 while the last insert succeeded (or none was tried yet).
    pub sink_up: Gauge,
    /// The on-disk spool (see `spool.rs`): what it holds, what it lost.
    pub spool_bytes: Gauge,
    pub spool_segments: Gauge,
    pub spool_rows: Gauge,
    pub spool_dropped_rows: Counter,
    pub spool_errors: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let metrics = Metrics::default();
        metrics.sink_up.set(1);
        metrics
    }

    pub fn decode_error(&self, reason: ErrorReason) {
        self.decode_errors[reason as usize].inc();
    }

    pub fn decode_errors(&self, reason: ErrorReason) -> u64 {
        self.decode_errors[reason as usize].get()
    }

    pub fn verdict(&self, verdict: VerdictKind) {
        match verdict {
            VerdictKind::Allowed => self.verdict_allowed.inc(),
            VerdictKind::Violation => self.verdict_violation.inc(),
            VerdictKind::Unknown => self.verdict_unknown.inc(),
        }
    }

    /// Datagrams received and queued but not yet decoded.
    pub fn queue_depth(&self) -> u64 {
        let queued = self
            .receive_packets
            .get()
            .saturating_sub(self.receive_dropped.get())
            .saturating_sub(self.receive_denied.get());
        queued.saturating_sub(self.decode_packets.get())
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut one = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP eastwest_collector_{name} {help}");
            let _ = writeln!(out, "# TYPE eastwest_collector_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "eastwest_collector_{name}{labels} {value}");
            }
        };
        let counter = "counter";
        let gauge = "gauge";
        one(
            "receive_packets_total",
            counter,
            "UDP datagrams received.",
            &[("", self.receive_packets.get())],
        );
        one(
            "receive_bytes_total",
            counter,
            "UDP payload bytes received.",
            &[("", self.receive_bytes.get())],
        );
        one(
            "receive_dropped_total",
            counter,
            "Datagrams dropped because the decode queue was full.",
            &[("", self.receive_dropped.get())],
        );
        one(
            "receive_denied_total",
            counter,
            "Datagrams dropped because their sender is outside receive.allow.",
            &[("", self.receive_denied.get())],
        );
        let kernel = kernel_stats(self.listeners.get().map_or(&[], Vec::as_slice));
        let labels: Vec<String> = kernel
            .iter()
            .map(|k| format!("{{listen=\"{}\"}}", k.listener.addr))
            .collect();
        let drops: Vec<(&str, u64)> = kernel
            .iter()
            .zip(&labels)
            .map(|(k, l)| (l.as_str(), k.drops))
            .collect();
        one(
            "receive_kernel_drops_total",
            counter,
            "Datagrams the kernel dropped for our socket before we read them (its buffer was full), from /proc/net/udp{,6}.",
            &drops,
        );
        let queued: Vec<(&str, u64)> = kernel
            .iter()
            .zip(&labels)
            .map(|(k, l)| (l.as_str(), k.queue_bytes))
            .collect();
        one(
            "receive_kernel_queue_bytes",
            gauge,
            "Bytes waiting in our socket's kernel receive buffer.",
            &queued,
        );
        one(
            "receive_socket_errors_total",
            counter,
            "Errors reading the UDP sockets.",
            &[("", self.receive_socket_errors.get())],
        );
        one(
            "receive_queue_depth",
            gauge,
            "Datagrams waiting for decode.",
            &[("", self.queue_depth())],
        );
        one(
            "decode_packets_total",
            counter,
            "Datagrams decoded.",
            &[("", self.decode_packets.get())],
        );
        one(
            "decode_flows_total",
            counter,
            "Flow records decoded.",
            &[("", self.decode_flows.get())],
        );
        one(
            "decode_late_packets_total",
            counter,
            "Export packets that arrived after a later one of the same (exporter, source id); their units were counted in decode_sequence_gaps_total.",
            &[("", self.decode_late.get())],
        );
        one(
            "decode_held_flowsets_total",
            counter,
            "Data flowsets that arrived before their template and were held for it.",
            &[("", self.decode_held.get())],
        );
        one(
            "decode_templates_evicted_total",
            counter,
            "v9 data templates forgotten because their (exporter, source id) already held decode.max_templates.",
            &[("", self.decode_templates_evicted.get())],
        );
        one(
            "decode_held_flowsets",
            gauge,
            "Data flowsets waiting for their template now.",
            &[("", self.decode_held_flowsets.get())],
        );
        one(
            "decode_held_bytes",
            gauge,
            "Bytes of data flowsets waiting for their template now.",
            &[("", self.decode_held_bytes.get())],
        );
        let labels: Vec<String> = ErrorReason::ALL
            .iter()
            .map(|r| format!("{{reason=\"{}\"}}", r.as_str()))
            .collect();
        let errors: Vec<(&str, u64)> = ErrorReason::ALL
            .iter()
            .zip(&labels)
            .map(|(r, l)| (l.as_str(), self.decode_errors(*r)))
            .collect();
        one(
            "decode_errors_total",
            counter,
            "Datagrams, flowsets or records that could not be decoded, by reason.",
            &errors,
        );
        let exporters = self.exporters.borrow().clone();
        let labels: Vec<String> = exporters
            .iter()
            .map(|e| {
                format!(
                    "{{exporter=\"{}\",source_id=\"{}\"}}",
                    e.exporter, e.source_id
                )
            })
            .collect();
        let series = |value: fn(&ExporterStats) -> u64| -> Vec<(&str, u64)> {
            exporters
                .iter()
                .zip(&labels)
                .map(|(e, l)| (l.as_str(), value(e)))
                .collect()
        };
        one(
            "decode_exporters",
            gauge,
            "(exporter, source id) scopes heard and remembered.",
            &[("", exporters.len() as u64)],
        );
        one(
            "decode_sequence_gaps_total",
            counter,
            "Export packets (v9) or records (IPFIX, v5) the sequence numbers say were missed, per (exporter, source id).",
            &series(|e| e.sequence_gaps),
        );
        one(
            "decode_exporter_flows_total",
            counter,
            "Flow records decoded, per (exporter, source id).",
            &series(|e| e.flows),
        );
        one(
            "enrich_known_vms_total",
            counter,
            "Flow endpoints the inventory resolved to a VM.",
            &[
                ("{side=\"src\"}", self.enrich_src_known.get()),
                ("{side=\"dst\"}", self.enrich_dst_known.get()),
            ],
        );
        one(
            "verdict_flows_total",
            counter,
            "Flows judged, by verdict.",
            &[
                ("{verdict=\"allowed\"}", self.verdict_allowed.get()),
                ("{verdict=\"violation\"}", self.verdict_violation.get()),
                ("{verdict=\"unknown\"}", self.verdict_unknown.get()),
            ],
        );
        one(
            "sink_rows_total",
            counter,
            "Rows inserted into ClickHouse.",
            &[("", self.sink_rows.get())],
        );
        one(
            "sink_batches_total",
            counter,
            "Batches inserted into ClickHouse.",
            &[("", self.sink_batches.get())],
        );
        one(
            "sink_errors_total",
            counter,
            "Failed insert attempts.",
            &[("", self.sink_errors.get())],
        );
        one(
            "sink_dropped_rows_total",
            counter,
            "Rows dropped because ClickHouse stayed away longer than the memory bound allows.",
            &[("", self.sink_dropped_rows.get())],
        );
        one(
            "sink_pending_rows",
            gauge,
            "Rows held in memory waiting for ClickHouse.",
            &[("", self.sink_pending_rows.get())],
        );
        one(
            "sink_up",
            gauge,
            "1 when the last insert succeeded.",
            &[("", self.sink_up.get())],
        );
        one(
            "spool_bytes",
            gauge,
            "Bytes of batches spooled on disk while ClickHouse is away.",
            &[("", self.spool_bytes.get())],
        );
        one(
            "spool_segments",
            gauge,
            "Segment files (one batch each) in the spool.",
            &[("", self.spool_segments.get())],
        );
        one(
            "spool_rows",
            gauge,
            "Rows in the spool, fsynced, waiting for ClickHouse.",
            &[("", self.spool_rows.get())],
        );
        one(
            "spool_dropped_rows_total",
            counter,
            "Rows lost from the spool: oldest segments dropped at the size limit, or corrupt.",
            &[("", self.spool_dropped_rows.get())],
        );
        one(
            "spool_errors_total",
            counter,
            "Spool writes, reads or removals that failed (disk full, permissions).",
            &[("", self.spool_errors.get())],
        );
        self.reload.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_reason_and_values() {
        let metrics = Metrics::new();
        metrics.receive_packets.add(3);
        metrics.decode_error(ErrorReason::MissingTemplate);
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
        metrics.exporters.send_replace(vec![stats].into());
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
