//! `series_buckets`: the sealed buckets of the dashboard's time series.

use super::*;

/// The buckets of unfiltered time series the dashboard has counted once
/// they were settled (see the dashboard's `store::sealed`), so a series
/// over whole settled buckets reads a row per bucket instead of grouping
/// every conversation of the window again.
pub const SERIES_BUCKETS_TABLE: &str = "series_buckets";

/// Columns of `series_buckets`, in the order of [`SeriesBucketRow`].
///
/// A `ReplacingMergeTree(sealed_ms)` ordered by
/// `(every, step_ms, dataset, t_ms)`: a bucket counted again (late flows)
/// or by two dashboards at once is one row after the background merges;
/// until then readers take the row whose `stored_flows` is the bucket's
/// current flow count, so a duplicate never changes an answer. Partitioned
/// by [`PARTITION_KEY`] like the rollups, so retention and the deletion of
/// a dataset drop a dataset's buckets with its flows. A bucket of the
/// series over every dataset (`every` = 1) is written once per dataset
/// with flows in it (`dataset`): whichever of them is dropped, its copy
/// goes, and the others no longer match the bucket's flow count.
pub const SERIES_BUCKETS_COLUMNS: &[Column] = &[
    col("date", "Date", "day of `t_ms` (UTC), the partition key"),
    col(
        "dataset",
        "LowCardinality(String)",
        "the dataset the series is of, or (`every` = 1) one with flows in the bucket",
    ),
    col(
        "every",
        "UInt8",
        "1: the series over every dataset; 0: over `dataset` alone",
    ),
    col("step_ms", "UInt64", "the series' step, milliseconds"),
    col("t_ms", "UInt64", "start of the bucket, epoch milliseconds"),
    col(
        "stored_flows",
        "UInt64",
        "flows stored in the bucket (of the series' datasets) when it was counted",
    ),
    col("flows", "UInt64", "the point's flows"),
    col("packets", "UInt64", "the point's packets"),
    col("bytes", "UInt64", "the point's bytes"),
    col("violations", "UInt64", "the point's violating flows"),
    col("violation_bytes", "UInt64", "the point's violating bytes"),
    col(
        "sealed_ms",
        "UInt64",
        "when it was counted, epoch milliseconds (the newest row is kept)",
    ),
];

/// One row of `series_buckets`.
#[derive(
    Default, Debug, Clone, PartialEq, Eq, clickhouse::Row, serde::Serialize, serde::Deserialize,
)]
pub struct SeriesBucketRow {
    pub date: u16,
    pub dataset: String,
    pub every: u8,
    pub step_ms: u64,
    pub t_ms: u64,
    pub stored_flows: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub violations: u64,
    pub violation_bytes: u64,
    pub sealed_ms: u64,
}

/// The idempotent DDL of `series_buckets` (part of [`migrations`]): a
/// database of an earlier schema gets the table empty; the dashboard fills
/// it in the background.
pub(super) fn series_buckets_migrations(layout: &Layout) -> Vec<Step> {
    let mut steps = vec![Step::always(format!(
        "CREATE TABLE IF NOT EXISTS {table}{on} (\n{cols}\n) \
         ENGINE = ReplacingMergeTree(sealed_ms) \
         PARTITION BY {PARTITION_KEY} ORDER BY (every, step_ms, dataset, t_ms)",
        table = layout.storage(SERIES_BUCKETS_TABLE),
        on = layout.on_cluster(),
        cols = column_ddl(SERIES_BUCKETS_COLUMNS),
    ))];
    steps.extend(distributed_step(
        layout,
        SERIES_BUCKETS_TABLE,
        SERIES_BUCKETS_COLUMNS,
        "rand()",
    ));
    steps
}
