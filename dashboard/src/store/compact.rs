//! Compaction of the tables read by conversation key
//! ([`BY_KEY_TABLES`]): each of their partitions merged into one part.
//!
//! A page of conversations reads its keys' rows of `conversations_1h` and
//! `conversations_seen`: per key, a granule of each part of each partition
//! of the window, and per granule a compressed block (64 KiB and more) of
//! every column read. ClickHouse's background merges leave a day in four
//! or five parts on this data (they merge parts of similar size and stop),
//! so a page paid four or five times what one part costs: 30M flows over
//! 24 h, a page of 100 read 51,912 rows of `conversations_1h` in 68 ms in
//! nine parts, 14,270 rows in 31 ms in two.
//!
//! So the dashboard merges, at start-up and then every [`INTERVAL`], every
//! partition of those tables that holds more than one part
//! (`OPTIMIZE ... PARTITION ID ... FINAL`, [`Action::Compact`], as the
//! engine merges: the answers do not change). A closed day is merged once; today's partition
//! again each time (a day of 30,000 conversations: about a second of the
//! server's CPU). Several dashboards on one database each compact: a
//! partition already in one part is left alone.

use std::time::{Duration, Instant};

use eastwest_clickhouse::schema::partitions::{self, Action};
use eastwest_clickhouse::schema::BY_KEY_TABLES;

use super::{ClickHouseStore, StoreError};

/// How often the by-key tables are compacted after start-up.
pub const INTERVAL: Duration = Duration::from_secs(600);

/// The longest one partition's merge is waited for (not the API's
/// timeout: the server goes on merging a partition it was asked to
/// whether the client waits or not).
const MERGE_TIMEOUT: Duration = Duration::from_secs(1800);

impl ClickHouseStore {
    /// Merge every partition of [`BY_KEY_TABLES`] that holds more than one
    /// part into one; how many were merged. A partition that fails is
    /// logged and left for the next run.
    pub async fn compact_by_key(&self) -> Result<usize, StoreError> {
        let mut merged = 0;
        for table in BY_KEY_TABLES {
            let listed = self
                .with_timeout(partitions::list(&self.client, &self.layout, table))
                .await?;
            for partition in listed.iter().filter(|p| p.parts > 1) {
                let started = Instant::now();
                let run = partitions::apply(&self.client, &self.layout, partition, Action::Compact);
                match tokio::time::timeout(MERGE_TIMEOUT, run).await {
                    Ok(Ok(())) => {
                        merged += 1;
                        tracing::debug!(
                            table,
                            dataset = %partition.dataset,
                            parts = partition.parts,
                            rows = partition.rows,
                            seconds = started.elapsed().as_secs_f64(),
                            "by-key table: partition merged into one part"
                        );
                    }
                    Ok(Err(err)) => tracing::warn!(
                        table,
                        dataset = %partition.dataset,
                        "by-key table: merging a partition failed: {err}"
                    ),
                    Err(_) => tracing::warn!(
                        table,
                        dataset = %partition.dataset,
                        "by-key table: merging a partition took over {MERGE_TIMEOUT:?}"
                    ),
                }
            }
        }
        Ok(merged)
    }

    /// [`Self::compact_by_key`] at once and then every `interval`. The
    /// first run that succeeds logs `by-key tables: every partition in one part` with
    /// how many it merged and how long that took.
    pub async fn compact_in_background(self, interval: Duration) {
        let mut first = true;
        loop {
            let started = Instant::now();
            match self.compact_by_key().await {
                Ok(merged) => {
                    if first {
                        tracing::info!(
                            partitions = merged,
                            seconds = started.elapsed().as_secs_f64(),
                            "by-key tables: every partition in one part"
                        );
                    }
                    first = false;
                }
                Err(err) => tracing::warn!("compacting the by-key tables: {err}"),
            }
            tokio::time::sleep(interval).await;
        }
    }
}
