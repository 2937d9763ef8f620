//! The `exporters` table: decode's per-(exporter, source id) snapshot
//! ([`Metrics::exporters`], published about once a second) written to
//! ClickHouse every `clickhouse.exporters_interval_ms`, and once more at
//! shutdown.
//!
//! Only the scopes heard since the last successful write are written (a
//! quiet exporter keeps its last row). The table is a ReplacingMergeTree on
//! `updated`, so readers take the newest row per (exporter, source id,
//! collector). A failed write is logged and retried at the next tick with
//! the then-current snapshot (a snapshot supersedes the previous one, so
//! nothing is spooled).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clickhouse::Client;
use eastwest_core::schema::{addr_to_bytes, datetime_of_ms, ExporterRow, EXPORTERS_TABLE};
use tokio::sync::watch;

use crate::decode::ExporterStats;
use crate::metrics::Metrics;

/// Writes the snapshot to the `exporters` table.
#[derive(Debug)]
pub struct ExportersWriter {
    client: Client,
    metrics: Arc<Metrics>,
    /// This collector's name (its host name) and start time (epoch ms).
    collector: String,
    started_ms: u64,
    interval: Duration,
    /// `last_seen_ms` of each scope as last written.
    written: HashMap<(IpAddr, u16, u32), u64>,
}

impl ExportersWriter {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        collector: String,
        started_ms: u64,
        interval: Duration,
    ) -> ExportersWriter {
        ExportersWriter {
            client,
            metrics,
            collector,
            started_ms,
            interval,
            written: HashMap::new(),
        }
    }

    /// The rows of the scopes heard since the last write, as of `now_ms`.
    fn changed_rows(&self, stats: &[ExporterStats], now_ms: u64) -> Vec<ExporterRow> {
        stats
            .iter()
            .filter(|s| {
                self.written
                    .get(&(s.exporter, s.port, s.source_id))
                    .is_none_or(|&seen| seen < s.last_seen_ms)
            })
            .map(|s| ExporterRow {
                updated: datetime_of_ms(now_ms),
                collector: self.collector.clone(),
                started: datetime_of_ms(self.started_ms),
                exporter: addr_to_bytes(s.exporter),
                source_id: s.source_id,
                name: s.name.clone(),
                last_seen: datetime_of_ms(s.last_seen_ms),
                packets: s.packets,
                flows: s.flows,
                sequence_gaps: s.sequence_gaps,
                templates: s.templates,
                drops: s.errors,
                version: s.version,
                port: s.port,
                dataset: s.dataset.clone(),
                first_seen: datetime_of_ms(s.first_seen_ms),
                late: s.late,
            })
            .collect()
    }

    /// Write the current snapshot's changed scopes; returns the rows written.
    pub async fn write_once(&mut self, now_ms: u64) -> Result<usize, clickhouse::error::Error> {
        let stats = self.metrics.exporters.borrow().clone();
        let rows = self.changed_rows(&stats, now_ms);
        if rows.is_empty() {
            return Ok(0);
        }
        let mut insert = self.client.insert::<ExporterRow>(EXPORTERS_TABLE).await?;
        for row in &rows {
            insert.write(row).await?;
        }
        insert.end().await?;
        for s in stats.iter() {
            self.written
                .insert((s.exporter, s.port, s.source_id), s.last_seen_ms);
        }
        Ok(rows.len())
    }

    /// Write every interval until `stop`, then once more.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(self.interval) => false,
                _ = stop.wait_for(|&s| s) => true,
            };
            if let Err(err) = self.write_once(now_ms()).await {
                tracing::warn!(%err, "exporters: cannot write the exporters table, will retry");
            }
            if stopping {
                return;
            }
        }
    }
}

/// Epoch milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// This machine's host name (the `collector` column), from the kernel.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "collector".to_string())
}
