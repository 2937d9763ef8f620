//! The partitions of the tables that hold flows: what retention and the
//! deletion of a dataset drop.
//!
//! `flows`, its rollups and `datasets` are partitioned by
//! [`PARTITION_KEY`], `(dataset, date)`: a dataset's rows never share a
//! partition with another's, so live data of an old day can be dropped
//! without touching a replay of the same day, and a replay is deleted by
//! dropping its partitions (no mutation rewriting the table). ClickHouse
//! 18.16 and current servers name such a partition by a hash
//! (`partition_id`) and show its value as text (`partition`,
//! `('lab','2026-11-02')`), which [`parse_partition`] reads.

use clickhouse::Client;

use super::{quote_str, Layout};

/// The partition key of every table that holds flows.
pub const PARTITION_KEY: &str = "(dataset, date)";

/// Whether `dataset` is the live one: `live` (the collector's
/// `enrich.dataset_default`), or empty (rows stored without a dataset).
/// Retention keeps a live dataset by day (`flows_days`) and a replay whole
/// (`datasets_days`); only a replay can be deleted through the API.
pub fn is_live(dataset: &str, live: &str) -> bool {
    dataset.is_empty() || dataset == live
}

/// One partition of one table, as `system.parts` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The table on this server (`T_local` in a cluster).
    pub table: String,
    /// ClickHouse's id of the partition (what `DROP PARTITION ID` takes).
    pub id: String,
    pub dataset: String,
    /// The day, counted from 1970-01-01 (UTC).
    pub day: u16,
    pub rows: u64,
    pub bytes: u64,
    /// Its active parts ([`Action::Compact`] merges them into one).
    pub parts: u64,
    /// Seconds since its newest part was written (an insert or a merge),
    /// by the server's clock.
    pub idle_secs: u64,
}

/// The dataset and day of a partition's value as `system.parts` shows it:
/// `('lab','2026-11-02')`. `None` for any other shape (a table still
/// partitioned by `date` alone, before its migration).
pub fn parse_partition(text: &str) -> Option<(String, u16)> {
    let rest = text.strip_prefix('(')?.strip_suffix(')')?;
    let (dataset, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(',')?.trim_start();
    let (date, rest) = quoted(rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some((dataset, day_of_date(&date)?))
}

/// A single-quoted ClickHouse string literal at the start of `text`, and
/// what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('\'')?.char_indices();
    let mut out = String::new();
    while let Some((at, c)) = chars.next() {
        match c {
            '\'' => return Some((out, &text[at + 2..])),
            '\\' => {
                let (_, escaped) = chars.next()?;
                out.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
    None
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn day_of_date(text: &str) -> Option<u16> {
    let mut parts = text.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let epoch = time::Date::from_ordinal_date(1970, 1).ok()?;
    u16::try_from(date.to_julian_day() - epoch.to_julian_day()).ok()
}

/// The active partitions of `table` (the name on this server) in the
/// layout's database, one entry per partition.
pub async fn list(
    client: &Client,
    layout: &Layout,
    table: &str,
) -> Result<Vec<Partition>, clickhouse::error::Error> {
    let rows: Vec<(String, String, u64, u64, u64, u64)> = client
        .query(&format!(
            "SELECT partition_id, any(partition), sum(rows), sum(bytes_on_disk), count(), \
             toUInt64(greatest(toInt64(now()) - toInt64(max(modification_time)), toInt64(0))) \
             FROM system.parts WHERE database = {} AND table = {} AND active \
             GROUP BY partition_id ORDER BY partition_id",
            quote_str(&layout.database),
            quote_str(table)
        ))
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, value, rows, bytes, parts, idle_secs)| {
            let (dataset, day) = parse_partition(&value)?;
            Some(Partition {
                table: table.to_string(),
                id,
                dataset,
                day,
                rows,
                bytes,
                parts,
                idle_secs,
            })
        })
        .collect())
}

/// What [`apply`] does to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Drop it (`ALTER TABLE ... DROP PARTITION`): retention, the
    /// deletion of a dataset.
    Drop,
    /// Merge its parts into one, summing or aggregating its rows as the
    /// table's engine does (`OPTIMIZE ... FINAL`). ClickHouse merges a
    /// partition's parts in the background only as far as its merge
    /// heuristics go (a day of `conversations_1h` often stays in four or
    /// five parts); a table read by key costs per part a key is in.
    Compact,
}

/// Do `action` to one partition (on this server; per node in a cluster
/// layout).
pub async fn apply(
    client: &Client,
    layout: &Layout,
    partition: &Partition,
    action: Action,
) -> Result<(), clickhouse::error::Error> {
    let (table, id) = (layout.table(&partition.table), quote_str(&partition.id));
    let sql = match action {
        Action::Drop => format!("ALTER TABLE {table} DROP PARTITION ID {id}"),
        Action::Compact => format!("OPTIMIZE TABLE {table} PARTITION ID {id} FINAL"),
    };
    client.query(&sql).execute().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_read() {
        assert_eq!(
            parse_partition("('lab','2026-11-02')"),
            Some(("lab".to_string(), 20_759))
        );
        assert_eq!(
            parse_partition("('it\\'s, (odd)','1970-01-01')"),
            Some(("it's, (odd)".to_string(), 0))
        );
        assert_eq!(
            parse_partition("('live', '2026-11-03')"),
            Some(("live".to_string(), 20_760))
        );
        // A table partitioned by `date` alone, and garbage.
        assert_eq!(parse_partition("20261102"), None);
        assert_eq!(parse_partition("'2026-11-02'"), None);
        assert_eq!(parse_partition("('lab','2026-13-02')"), None);
        assert_eq!(parse_partition("('lab','2026-11-02',1)"), None);
        assert_eq!(parse_partition("('lab"), None);
        assert_eq!(parse_partition("('lab\\"), None);
        assert_eq!(parse_partition(""), None);
    }
}
