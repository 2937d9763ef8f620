//! Retention: drop the partitions of data older than kept.
//!
//! Every table that holds flows (`flows`, the rollups, `conversations_1h`,
//! the placements, `datasets`, `observed_1m`, `conversations_seen`,
//! `flow_exporters`, and the dashboard's sealed time-series buckets
//! `series_buckets`) is partitioned by `(dataset, date)` (see `eastwest_clickhouse::schema::partitions`).
//! Every `interval_ms` (and once at start-up) the collector lists the
//! active partitions of each table in `system.parts` and drops, with
//! `ALTER TABLE ... DROP PARTITION ID`:
//!
//! * of the live dataset (the collector's `enrich.dataset_default`, or an
//!   empty name), the days older than `today - days` of that table
//!   (`flows_days`, `flows_1m_days`, `flows_1h_days`; `datasets` and
//!   `flow_exporters` follow `flows`, `flows_10m` follows `flows_1m`, `flows_1d`,
//!   `conversations_1h`, the placements, `observed_1m` and `series_buckets`
//!   follow `flows_1h`),
//!   counted by the flows' own time: `days` full days plus today
//!   are kept, 0 keeps a table forever;
//! * of a replayed dataset (any other name), nothing, unless
//!   `datasets_days` is set: then the whole dataset, in every table, once
//!   its last flow was stored that many days ago. A replay's flows keep the
//!   capture's own time, which says nothing of how long ago it was stored:
//!   an investigation's capture from March stays until it is deleted
//!   (`DELETE /api/v1/datasets/{name}` on the dashboard).
//!
//! This works on ClickHouse 18.16 and on current servers, where table TTL
//! (the modern way) does not exist on 18.16.

use eastwest_core::clock;
use std::collections::BTreeSet;
use std::time::Duration;

use clickhouse::Client;
use eastwest_clickhouse::schema::partitions::{self, Action};
use eastwest_clickhouse::schema::{
    Layout, CONVERSATIONS_1H, CONVERSATIONS_SEEN_TABLE, DATASETS_TABLE, FLOWS_10M, FLOWS_1D,
    FLOWS_1H, FLOWS_1M, FLOWS_TABLE, FLOW_EXPORTERS_TABLE, OBSERVED_1M_TABLE, PLACEMENTS,
    SERIES_BUCKETS_TABLE,
};
use tokio::sync::watch;

use crate::config::RetentionConfig;

const DAY_MS: u64 = 86_400_000;

/// The retention stage.
#[derive(Debug, Clone)]
pub struct Retention {
    client: Client,
    layout: Layout,
    config: RetentionConfig,
    /// The live dataset's name (`enrich.dataset_default`).
    live: String,
}

/// A partition dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub table: String,
    pub dataset: String,
    /// YYYYMMDD of the partition's day.
    pub day: u32,
}

impl Retention {
    pub fn new(client: Client, layout: Layout, config: RetentionConfig, live: &str) -> Retention {
        Retention {
            client,
            layout,
            config,
            live: live.to_string(),
        }
    }

    /// Days the live dataset keeps in a table (0 = forever).
    fn days(&self, table: &str) -> u32 {
        match table {
            // The exporters as the flows show them, as long as the flows.
            t if t == FLOWS_TABLE || t == DATASETS_TABLE || t == FLOW_EXPORTERS_TABLE => {
                self.config.flows_days
            }
            // The 10-minute rollup answers the edges the minute one does.
            t if t == FLOWS_1M.table || t == FLOWS_10M.table => self.config.flows_1m_days,
            // The report's revisions and coverage of a period, the daily
            // rollup, the hourly one by conversation, the conversations'
            // first and last seen, the placements and the sealed series
            // buckets last as long as the hourly rollup.
            t if t == FLOWS_1H.table
                || PLACEMENTS.iter().any(|p| p.table == t)
                || t == CONVERSATIONS_1H.table
                || t == FLOWS_1D.table
                || t == OBSERVED_1M_TABLE
                || t == CONVERSATIONS_SEEN_TABLE
                || t == SERIES_BUCKETS_TABLE =>
            {
                self.config.flows_1h_days
            }
            _ => 0,
        }
    }

    fn is_live(&self, dataset: &str) -> bool {
        partitions::is_live(dataset, &self.live)
    }

    /// The replayed datasets whose last flow was stored `datasets_days` or
    /// more before `now_ms`; none when `datasets_days` is 0.
    async fn expired_datasets(
        &self,
        now_ms: u64,
    ) -> Result<BTreeSet<String>, clickhouse::error::Error> {
        let days = u64::from(self.config.datasets_days);
        if days == 0 {
            return Ok(BTreeSet::new());
        }
        let stored: Vec<(String, u32)> = self
            .client
            .query(&format!(
                "SELECT dataset, maxMerge(stored_last) FROM {} GROUP BY dataset",
                self.layout.table(DATASETS_TABLE)
            ))
            .fetch_all()
            .await?;
        Ok(stored
            .into_iter()
            .filter(|(dataset, last)| {
                !self.is_live(dataset) && u64::from(*last) * 1000 + days * DAY_MS <= now_ms
            })
            .map(|(dataset, _)| dataset)
            .collect())
    }

    /// Drop the partitions older than kept, as of `now_ms` (epoch ms).
    pub async fn run_once(&self, now_ms: u64) -> Result<Vec<Dropped>, clickhouse::error::Error> {
        let today = now_ms / DAY_MS;
        let expired = self.expired_datasets(now_ms).await?;
        let mut dropped = Vec::new();
        for (name, storage) in self.layout.partitioned_tables() {
            let days = u64::from(self.days(name));
            for partition in partitions::list(&self.client, &self.layout, &storage).await? {
                let why = if self.is_live(&partition.dataset) {
                    let old = days > 0 && u64::from(partition.day) + days < today;
                    old.then_some("a live day older than kept")
                } else {
                    expired
                        .contains(&partition.dataset)
                        .then_some("a replayed dataset stored longer ago than kept")
                };
                let Some(why) = why else { continue };
                partitions::apply(&self.client, &self.layout, &partition, Action::Drop).await?;
                tracing::info!(
                    table = %storage,
                    dataset = %partition.dataset,
                    day = yyyymmdd(u64::from(partition.day)),
                    rows = partition.rows,
                    "retention: dropped {why}"
                );
                dropped.push(Dropped {
                    table: storage.clone(),
                    dataset: partition.dataset,
                    day: yyyymmdd(u64::from(partition.day)),
                });
            }
        }
        Ok(dropped)
    }

    /// Run at start-up and then every `interval_ms` until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let every = Duration::from_millis(self.config.interval_ms);
        loop {
            if let Err(err) = self.run_once(clock::now_ms()).await {
                tracing::warn!(%err, "retention: could not drop old partitions, will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|&s| s) => return,
            }
        }
    }
}

/// YYYYMMDD of a day counted from 1970-01-01 (UTC), as ClickHouse names a
/// `Date` partition.
pub fn yyyymmdd(days: u64) -> u32 {
    // Civil from days (Howard Hinnant's algorithm), for days >= 0.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y * 10_000 + m * 100 + d) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_of_days() {
        assert_eq!(yyyymmdd(0), 19_700_101);
        assert_eq!(yyyymmdd(59), 19_700_301);
        assert_eq!(yyyymmdd(11_016), 20_000_229);
        assert_eq!(yyyymmdd(20_759), 20_261_102);
        assert_eq!(yyyymmdd(20_819), 20_270_101);
    }
}
