//! Retention: drop the daily partitions older than each table keeps.
//!
//! `flows` and the rollups are partitioned by `date` (UTC day). Every
//! `interval_ms` (and once at start-up) the collector lists the active
//! partitions of each table in `system.parts` and drops, with
//! `ALTER TABLE ... DROP PARTITION ID 'YYYYMMDD'`, those whose day is older
//! than `today - days` (so `days` full days plus today are kept). This works
//! on ClickHouse 18.16 and on current servers, where table TTL (the modern
//! way) does not exist on 18.16. `days = 0` keeps a table forever.

use std::time::Duration;

use clickhouse::Client;
use eastwest_core::schema::{quote_ident, quote_str, Layout, FLOWS_1H, FLOWS_1M, FLOWS_TABLE};
use tokio::sync::watch;

use crate::config::RetentionConfig;

/// The retention stage.
#[derive(Debug, Clone)]
pub struct Retention {
    client: Client,
    layout: Layout,
    config: RetentionConfig,
}

/// A partition dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub table: String,
    pub partition: String,
}

impl Retention {
    pub fn new(client: Client, layout: Layout, config: RetentionConfig) -> Retention {
        Retention {
            client,
            layout,
            config,
        }
    }

    /// Days kept for a table (0 = forever).
    fn days(&self, table: &str) -> u32 {
        match table {
            t if t == FLOWS_TABLE => self.config.flows_days,
            t if t == FLOWS_1M.table => self.config.flows_1m_days,
            t if t == FLOWS_1H.table => self.config.flows_1h_days,
            _ => 0,
        }
    }

    /// Drop the partitions older than kept, as of `now_ms` (epoch ms).
    pub async fn run_once(&self, now_ms: u64) -> Result<Vec<Dropped>, clickhouse::error::Error> {
        let today = now_ms / 86_400_000;
        let mut dropped = Vec::new();
        for (name, storage) in self.layout.partitioned_tables() {
            let days = self.days(name);
            if days == 0 {
                continue;
            }
            let Some(first_kept) = today.checked_sub(u64::from(days)) else {
                continue;
            };
            let cutoff = yyyymmdd(first_kept);
            let ids: Vec<String> = self
                .client
                .query(&format!(
                    "SELECT DISTINCT partition_id FROM system.parts WHERE database = {} \
                     AND table = {} AND active",
                    quote_str(&self.layout.database),
                    quote_str(&storage)
                ))
                .fetch_all()
                .await?;
            for id in ids {
                // Partitions of a `date` key are named YYYYMMDD.
                let Ok(day) = id.parse::<u32>() else {
                    continue;
                };
                if id.len() != 8 || day >= cutoff {
                    continue;
                }
                let on = match &self.layout.cluster {
                    Some(cluster) => format!(" ON CLUSTER {}", quote_ident(cluster)),
                    None => String::new(),
                };
                self.client
                    .query(&format!(
                        "ALTER TABLE {}{on} DROP PARTITION ID {}",
                        self.layout.table(&storage),
                        quote_str(&id)
                    ))
                    .execute()
                    .await?;
                tracing::info!(table = %storage, partition = %id, days, "retention: dropped a day older than kept");
                dropped.push(Dropped {
                    table: storage.clone(),
                    partition: id,
                });
            }
        }
        Ok(dropped)
    }

    /// Run at start-up and then every `interval_ms` until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let every = Duration::from_millis(self.config.interval_ms);
        loop {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            if let Err(err) = self.run_once(now_ms).await {
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
