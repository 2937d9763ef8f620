//! Time series: conversations, flows and bytes per step, and the sealed
//! buckets of `series_buckets` (see [`crate::store`]'s sealing).

use crate::query::{Filters, TimeWindow};

use super::counting::{per_conversation, Detail};
use super::resolution::Resolution;
use super::source::{filtered_source, rows_where};
use super::statement::{Arg, Sql, Tables};
use eastwest_clickhouse::schema::date_of_ms;

/// Bytes, packets, flows and violations per `step_ms` bucket of `window`
/// (each conversation counted once per bucket).
pub fn timeseries(
    tables: &Tables,
    resolution: Resolution,
    window: TimeWindow,
    filters: &Filters,
    step_ms: u64,
) -> Sql {
    per_conversation(
        |c| filtered_source(tables, resolution, Some(window), filters, c),
        filters,
        Some(step_ms),
        Detail::Counters,
    )
    .wrap(
        "SELECT t_ms, verdict, flows AS f, packets AS p, bytes AS b FROM ",
        "",
    )
    .wrap(
        "SELECT t_ms, sum(f) AS flows, sum(p) AS packets, sum(b) AS bytes, \
         sumIf(f, verdict = 'violation') AS violations, \
         sumIf(b, verdict = 'violation') AS violation_bytes FROM ",
        " GROUP BY t_ms ORDER BY t_ms",
    )
}

/// Flows stored per dataset and `step_ms` bucket (`(dataset, t_ms,
/// flows)`, in time order) of `window` (all time: `None`) in `dataset`
/// (every one: `None`), from `observed_1m` (a few rows per observer and
/// minute; `step_ms` a whole number of minutes): what tells whether a
/// sealed bucket still holds the flows it was counted from.
pub fn bucket_counts(
    tables: &Tables,
    window: Option<TimeWindow>,
    dataset: Option<&str>,
    step_ms: u64,
) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT dataset, intDiv(toUInt64(bucket) * 1000, {step_ms}) * {step_ms} AS t, \
         countMerge(flows) FROM {}",
        tables.observed_1m
    ));
    let mut sql = sql.then(rows_where(Resolution::Minute, window, dataset));
    sql.push(" GROUP BY dataset, t ORDER BY t");
    sql
}

/// The sealed buckets of the series of `step_ms` over `dataset` (every
/// dataset: `None`) in `window`: `(t_ms, stored_flows, flows, packets,
/// bytes, violations, violation_bytes)`, every copy (a bucket counted
/// again, or by two dashboards, has several rows until merged).
pub fn sealed_buckets(
    tables: &Tables,
    window: TimeWindow,
    dataset: Option<&str>,
    step_ms: u64,
) -> Sql {
    let mut sql = Sql::default();
    sql.clause(
        &format!(
            "SELECT t_ms, stored_flows, flows, packets, bytes, violations, violation_bytes \
             FROM {} WHERE every = ? AND step_ms = ?",
            tables.series_buckets
        ),
        [Arg::U8(u8::from(dataset.is_none())), Arg::U64(step_ms)],
    );
    if let Some(dataset) = dataset {
        sql.clause(" AND dataset = ?", [Arg::Text(dataset.to_string())]);
    }
    sql.clause(
        " AND t_ms >= ? AND t_ms < ? AND date >= toDate(?) AND date <= toDate(?)",
        [
            Arg::U64(window.from_ms),
            Arg::U64(window.to_ms),
            Arg::U16(date_of_ms(window.from_ms)),
            Arg::U16(date_of_ms(window.to_ms.saturating_sub(1))),
        ],
    );
    sql
}

/// Every sealed bucket, as `(every, dataset, step_ms, t_ms,
/// stored_flows)`: what the sealing compares with the flow counts.
pub fn sealed_index(tables: &Tables) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT every, dataset, step_ms, t_ms, stored_flows FROM {}",
        tables.series_buckets
    ));
    sql
}
