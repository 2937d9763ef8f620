//! Time series: conversations, flows and bytes per step.

use crate::query::{Params, TimeWindow};

use super::counting::{per_conversation, Detail};
use super::resolution::Resolution;
use super::source::{filtered_source, rows_where};
use super::statement::{Sql, Tables};

/// Bytes, packets, flows and violations per `step_ms` bucket (each
/// conversation counted once per bucket).
pub fn timeseries(tables: &Tables, resolution: Resolution, params: &Params, step_ms: u64) -> Sql {
    per_conversation(
        |c| filtered_source(tables, resolution, params.window, &params.filters, c),
        &params.filters,
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

/// Flows stored per hour of `window` in `dataset` (`(t_ms, flows)`, in
/// time order), from `observed_1m` (a few rows per observer and minute):
/// what tells whether an hour of a time series has changed since it was
/// last counted.
pub fn hour_counts(tables: &Tables, window: TimeWindow, dataset: Option<&str>) -> Sql {
    let mut sql = Sql::default();
    sql.push(&format!(
        "SELECT toUInt64(toStartOfHour(bucket)) * 1000 AS t, countMerge(flows) FROM {}",
        tables.observed_1m
    ));
    let mut sql = sql.then(rows_where(Resolution::Hour, Some(window), dataset));
    sql.push(" GROUP BY t ORDER BY t");
    sql
}
