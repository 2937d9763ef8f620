//! The `exporters` table: decode's per-(exporter, source id) snapshot
//! ([`DecodeMetrics::exporters`], published about once a second) written to
//! ClickHouse every `clickhouse.exporters_interval_ms`, and once more at
//! shutdown.
//!
//! Only the scopes heard since the last successful write are written (a
//! quiet exporter keeps its last row). The table is a ReplacingMergeTree on
//! `updated`, so readers take the newest row per (exporter, source id,
//! collector). `updated` is in seconds and strictly increases per scope: a
//! second write within one second (after a retry, or the last one at
//! shutdown) is stamped one second after the previous row, so the newest
//! snapshot can never tie with an older one. A failed write is logged and retried at the next tick with
//! the then-current snapshot (a snapshot supersedes the previous one, so
//! nothing is spooled).

use eastwest_core::clock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clickhouse::Client;
use eastwest_clickhouse::schema::{addr_to_bytes, datetime_of_ms, ExporterRow, EXPORTERS_TABLE};
use tokio::sync::watch;

use crate::decode::{DecodeMetrics, ExporterStats};

/// The longest one write of the exporters table may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// An exporter scope: address, UDP source port, source id.
type Scope = (IpAddr, u16, u32);

/// What was last written of one scope.
#[derive(Debug, Clone, Copy)]
struct Written {
    last_seen_ms: u64,
    /// Datagrams and errors counted then: a burst can end within the
    /// millisecond of the last write, so `last_seen_ms` alone misses it.
    heard: (u64, u64),
    updated: u32,
}

/// Writes the snapshot to the `exporters` table.
#[derive(Debug)]
pub struct ExportersWriter {
    client: Client,
    metrics: Arc<DecodeMetrics>,
    /// This collector's name (its host name) and start time (epoch ms).
    collector: String,
    started_ms: u64,
    interval: Duration,
    /// Each scope's `last_seen_ms` and `updated` (epoch seconds) as last
    /// written.
    written: HashMap<Scope, Written>,
}

impl ExportersWriter {
    pub fn new(
        client: Client,
        metrics: Arc<DecodeMetrics>,
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
    /// Each with its scope and what to remember of it once written.
    fn changed_rows(
        &self,
        stats: &[ExporterStats],
        now_ms: u64,
    ) -> Vec<(Scope, Written, ExporterRow)> {
        stats
            .iter()
            .filter_map(|s| {
                let before = self.written.get(&(s.exporter, s.port, s.source_id));
                let now = datetime_of_ms(now_ms);
                match before {
                    Some(w)
                        if w.last_seen_ms >= s.last_seen_ms && w.heard == (s.packets, s.errors) =>
                    {
                        None
                    }
                    Some(w) => Some((s, now.max(w.updated.saturating_add(1)))),
                    None => Some((s, now)),
                }
            })
            .map(|(s, updated)| {
                let scope = (s.exporter, s.port, s.source_id);
                let written = Written {
                    last_seen_ms: s.last_seen_ms,
                    heard: (s.packets, s.errors),
                    updated,
                };
                (
                    scope,
                    written,
                    ExporterRow {
                        updated,
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
                        evidence_url: s.evidence_url.clone(),
                    },
                )
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
        // Bounded, so a server that stops answering cannot hold up the
        // collector's stop (the next interval retries).
        let mut insert = self
            .client
            .insert::<ExporterRow>(EXPORTERS_TABLE)
            .await?
            .with_timeouts(Some(WRITE_TIMEOUT), Some(WRITE_TIMEOUT));
        for (_, _, row) in &rows {
            insert.write(row).await?;
        }
        insert.end().await?;
        for (scope, written, _) in &rows {
            self.written.insert(*scope, *written);
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
            if let Err(err) = self.write_once(clock::now_ms()).await {
                tracing::warn!(%err, "exporters: cannot write the exporters table, will retry");
            }
            if stopping {
                return;
            }
        }
    }
}

/// This machine's host name (the `collector` column), from the kernel.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "collector".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn stats(last_seen_ms: u64, packets: u64) -> ExporterStats {
        ExporterStats {
            exporter: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 4000,
            source_id: 7,
            version: 9,
            name: "esx-01".into(),
            dataset: String::new(),
            evidence_url: String::new(),
            first_seen_ms: 1_000,
            last_seen_ms,
            packets,
            flows: packets * 10,
            sequence_gaps: 0,
            late: 0,
            errors: 0,
            templates: 2,
        }
    }

    fn remember(writer: &mut ExportersWriter, rows: &[(Scope, Written, ExporterRow)]) {
        for (scope, written, _) in rows {
            writer.written.insert(*scope, *written);
        }
    }

    #[test]
    fn updated_strictly_increases_per_scope_and_quiet_scopes_are_not_rewritten() {
        let mut writer = ExportersWriter::new(
            Client::default(),
            DecodeMetrics::new(&mut crate::metrics::Registry::default()),
            "collector-1".into(),
            0,
            Duration::from_millis(300),
        );
        // Two snapshots written within one second: the newer one is stamped
        // a second later, so `argMax(..., updated)` can only pick it.
        let first = writer.changed_rows(&[stats(10_100, 201)], 10_200);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].2.updated, 10);
        remember(&mut writer, &first);
        let second = writer.changed_rows(&[stats(10_900, 600)], 10_950);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].2.updated, 11);
        assert_eq!(second[0].2.packets, 600);
        remember(&mut writer, &second);
        // Nothing heard since: nothing written.
        assert!(writer
            .changed_rows(&[stats(10_900, 600)], 12_000)
            .is_empty());
        // More heard within the same millisecond: written.
        let burst = writer.changed_rows(&[stats(10_900, 648)], 12_100);
        assert_eq!(burst.len(), 1);
        assert_eq!((burst[0].2.packets, burst[0].2.updated), (648, 12));
        remember(&mut writer, &burst);
        // Heard again later: the wall clock applies once it is ahead.
        let third = writer.changed_rows(&[stats(20_000, 700)], 20_500);
        assert_eq!(third[0].2.updated, 20);
    }
}
