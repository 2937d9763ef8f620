//! Where the dashboard reads flows from: the [`Store`] trait the handlers use
//! and [`ClickHouseStore`], its implementation over the tables of
//! [`eastwest_clickhouse::schema`] (`flows`, the `flows_1m`/`flows_1h` rollups,
//! `exporters`), with the SQL of [`crate::sql`].
//!
//! Every value that comes from a request is bound on the client side with the
//! `clickhouse` crate's `?` placeholder (escaped as a literal); the only SQL
//! text chosen by a request is the sort column, picked from a whitelist.

use std::future::Future;
use std::time::Duration;

use crate::model::{Dataset, ExporterSource};
use crate::model::{
    ExporterRow, FlowRecord, HostRow, HostVms, MatrixCell, Page, Placement, Point, Violation,
};
use crate::query::{Params, TimeWindow};
use crate::report::ReportData;
use crate::sql::Resolution;

mod answers;
mod compact;
mod database;
mod sealed;
mod violations;

pub use answers::keys_and_totals;
pub use compact::INTERVAL as COMPACT_INTERVAL;
pub use database::ClickHouseStore;
pub use sealed::STEPS_MS as SEALED_STEPS_MS;

/// Why the store could not answer. The text is for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (down, refused, timed out).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error.
    #[error("storage query failed: {0}")]
    Query(String),
}

impl From<clickhouse::error::Error> for StoreError {
    fn from(err: clickhouse::error::Error) -> StoreError {
        use clickhouse::error::Error;
        match err {
            Error::Network(_) | Error::TimedOut => {
                StoreError::Unavailable(eastwest_core::error::Chain(&err).to_string())
            }
            other => StoreError::Query(other.to_string()),
        }
    }
}

/// What the API needs from storage. Each list comes with the
/// [`Resolution`] that answered it.
pub trait Store: Send + Sync + 'static {
    /// The conversations matching `params`: the requested page and the totals.
    fn conversations(
        &self,
        params: &Params,
    ) -> impl Future<Output = Result<(Page, Resolution), StoreError>> + Send;

    /// Zone × zone cells.
    fn matrix(
        &self,
        params: &Params,
    ) -> impl Future<Output = Result<(Vec<MatrixCell>, Resolution), StoreError>> + Send;

    /// A page of violating conversations, newest first, and how many match.
    fn violations(
        &self,
        params: &Params,
    ) -> impl Future<Output = Result<(Vec<Violation>, u64), StoreError>> + Send;

    /// A page of violating conversations, newest first, read from the
    /// rollups (for the compliance report: times are bucket bounds, the
    /// policy revision empty; no count).
    fn violations_rolled_up(
        &self,
        params: &Params,
    ) -> impl Future<Output = Result<Vec<Violation>, StoreError>> + Send;

    /// A page of raw flow records, newest first, and how many match.
    fn flows(
        &self,
        params: &Params,
    ) -> impl Future<Output = Result<(Vec<FlowRecord>, u64), StoreError>> + Send;

    /// Where `vm` ran in the window (empty if it was not seen).
    fn placements(
        &self,
        params: &Params,
        vm: &str,
    ) -> impl Future<Output = Result<Vec<Placement>, StoreError>> + Send;

    /// Per host: conversation counters, and the VMs seen on it.
    fn hosts(
        &self,
        params: &Params,
    ) -> impl Future<Output = Result<(Vec<HostRow>, Vec<HostVms>, Resolution), StoreError>> + Send;

    /// The VMs seen on `host` in the window.
    fn host_vms(
        &self,
        params: &Params,
        host: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The non-empty buckets of a time series of `step_ms` over `window`.
    fn timeseries(
        &self,
        params: &Params,
        window: TimeWindow,
        step_ms: u64,
    ) -> impl Future<Output = Result<(Vec<Point>, Resolution), StoreError>> + Send;

    /// How many rows of the table of `resolution` cover `window` in the
    /// dataset (what a query at that resolution reads), counted up to
    /// `at_most` (a larger count answers `at_most`).
    fn rows_in(
        &self,
        resolution: Resolution,
        window: TimeWindow,
        dataset: Option<&str>,
        at_most: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// First and last flow start in the dataset (`None` when empty).
    fn time_span(
        &self,
        dataset: Option<&str>,
    ) -> impl Future<Output = Result<Option<(u64, u64)>, StoreError>> + Send;

    /// What a compliance report of the window needs, and the coarsest
    /// table that answered its conversation sections.
    fn report(
        &self,
        params: &Params,
    ) -> impl Future<Output = Result<(ReportData, Resolution), StoreError>> + Send;

    /// Every exporter's latest counters, from the `exporters` table, or
    /// from the flows while the collector has written no snapshot.
    fn exporters(
        &self,
    ) -> impl Future<Output = Result<(Vec<ExporterRow>, ExporterSource), StoreError>> + Send;

    /// The exporters of the `exporters` table only (what they announce,
    /// evidence URLs included), never counted from the flows.
    fn announced_exporters(
        &self,
    ) -> impl Future<Output = Result<Vec<ExporterRow>, StoreError>> + Send;

    /// Every dataset (`live` left false: the API knows which is live).
    fn datasets(&self) -> impl Future<Output = Result<Vec<Dataset>, StoreError>> + Send;

    /// Drop every partition of `dataset` in every table that holds flows;
    /// how many were dropped (0: no such dataset).
    fn delete_dataset(
        &self,
        dataset: &str,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Whether the database answers.
    fn health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where and how to reach ClickHouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseSettings {
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Run the schema migrations at connect time.
    pub migrate: bool,
    /// Longest a query (or the start-up check) may take.
    pub timeout: Duration,
}

/// Why [`ClickHouseStore::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("ClickHouse at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("ClickHouse at {url} reported an unknown version {version:?}")]
    Version { url: String, version: String },
    #[error("migrating database {database} at {url} failed: {reason}")]
    Migrate {
        url: String,
        database: String,
        reason: String,
    },
}
