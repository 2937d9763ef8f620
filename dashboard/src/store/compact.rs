//! Compaction: partitions merged into one part, so a view reads each key's
//! rows once.
//!
//! The tables read by conversation key ([`BY_KEY_TABLES`]): a page of
//! conversations reads its keys' rows of `conversations_1h` and
//! `conversations_seen`: per key, a granule of each part of each partition
//! of the window, and per granule a compressed block (64 KiB and more) of
//! every column read. ClickHouse's background merges leave a day in four
//! or five parts on this data (they merge parts of similar size and stop),
//! so a page paid four or five times what one part costs: 30M flows over
//! 24 h, a page of 100 read 51,912 rows of `conversations_1h` in 68 ms in
//! nine parts, 14,270 rows in 31 ms in two. Every such partition in more
//! than one part is merged, today's included (a day of 30,000
//! conversations: about a second of the server's CPU).
//!
//! The tables read by time ([`SETTLED_TABLES`]: `flows_10m`, `flows_1h`,
//! `flows_1d`, the placements): rows of one key in two parts are summed
//! only when a merge meets them, so a window read about a third more rows
//! than its sums need (24 h of 100M flows: 1.13M rows of `flows_1h` in 14
//! parts, 0.80M in 2; the keys statement 153 -> 129 ms of CPU). A
//! partition is merged once it has settled: no part written for
//! [`SETTLE`] (a closed day, a replay imported). Today's live partition,
//! inserted into all the time, is left to the background merges.
//!
//! At start-up and then every [`INTERVAL`] (`OPTIMIZE ... PARTITION ID ...
//! FINAL`, [`Action::Compact`], as the engine merges: the answers do not
//! change). Several dashboards on one database each compact: a partition
//! already in one part is left alone.

use std::time::{Duration, Instant};

use eastwest_clickhouse::schema::partitions::{self, Action};
use eastwest_clickhouse::schema::{BY_KEY_TABLES, SETTLED_TABLES};

use super::{ClickHouseStore, StoreError};

/// How often the tables are compacted after start-up.
pub const INTERVAL: Duration = Duration::from_secs(600);

/// How long a partition of [`SETTLED_TABLES`] must have gone without a
/// new part before it is merged.
pub const SETTLE: Duration = Duration::from_secs(600);

/// The longest one partition's merge is waited for (not the API's
/// timeout: the server goes on merging a partition it was asked to
/// whether the client waits or not).
const MERGE_TIMEOUT: Duration = Duration::from_secs(1800);

impl ClickHouseStore {
    /// Merge into one every partition of [`BY_KEY_TABLES`] that holds
    /// more than one part, and every such partition of [`SETTLED_TABLES`]
    /// that no part was written to for `settle`; how many were merged. A
    /// partition that fails is logged and left for the next run.
    pub async fn compact(&self, settle: Duration) -> Result<usize, StoreError> {
        let mut merged = 0;
        let tables = BY_KEY_TABLES
            .iter()
            .map(|t| (*t, 0))
            .chain(SETTLED_TABLES.iter().map(|t| (*t, settle.as_secs())));
        for (table, idle_secs) in tables {
            let listed = self
                .with_timeout(partitions::list(&self.client, &self.layout, table))
                .await?;
            let due = listed
                .iter()
                .filter(|p| p.parts > 1 && p.idle_secs >= idle_secs);
            for partition in due {
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
                            "compaction: partition merged into one part"
                        );
                    }
                    Ok(Err(err)) => tracing::warn!(
                        table,
                        dataset = %partition.dataset,
                        "compaction: merging a partition failed: {err}"
                    ),
                    Err(_) => tracing::warn!(
                        table,
                        dataset = %partition.dataset,
                        "compaction: merging a partition took over {MERGE_TIMEOUT:?}"
                    ),
                }
            }
        }
        Ok(merged)
    }

    /// [`Self::compact`] (settled after 10 minutes) at once and then every
    /// `interval`. The first run that succeeds logs `compaction: first
    /// pass done` with how many partitions it merged and how long that
    /// took.
    pub async fn compact_in_background(self, interval: Duration) {
        let mut first = true;
        loop {
            let started = Instant::now();
            match self.compact(SETTLE).await {
                Ok(merged) => {
                    if first {
                        tracing::info!(
                            partitions = merged,
                            seconds = started.elapsed().as_secs_f64(),
                            "compaction: first pass done"
                        );
                    }
                    first = false;
                }
                Err(err) => tracing::warn!("compaction: {err}"),
            }
            tokio::time::sleep(interval).await;
        }
    }
}
