//! [`ClickHouseStore`]: connecting to ClickHouse (version, settings,
//! migration), binding statements and bounding them in time.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use clickhouse::Client;
use clickhouse::{RowOwned, RowRead};
use eastwest_clickhouse::schema::{
    migrate, partitions, query_settings, quote_ident, Layout, ServerVersion, CONVERSATIONS_1H,
    CONVERSATIONS_SEEN_TABLE, DATASETS_TABLE, EXPORTERS_TABLE, FLOWS_10M, FLOWS_1D, FLOWS_1H,
    FLOWS_1M, FLOWS_TABLE, FLOW_EXPORTERS_TABLE, OBSERVED_1M_TABLE, PLACEMENTS_1D, PLACEMENTS_1H,
    SERIES_BUCKETS_TABLE,
};

use super::{ClickHouseSettings, ConnectError, StoreError};
use crate::query::{Params, SortKey, TimeWindow};
use crate::sql::{self, Arg, Resolution, Sql, Tables};

/// Longest the schema migration at start-up may take.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(600);

/// [`Store`](super::Store) over ClickHouse.
#[derive(Clone)]
pub struct ClickHouseStore {
    pub(super) client: Client,
    /// Where the tables are (for `system.parts`: datasets' partitions).
    pub(super) layout: Layout,
    pub(super) version: ServerVersion,
    pub(super) timeout: Duration,
    /// The tables, quoted with their database: statements name their
    /// database, so the SQL stands alone (as in the query log the chdb check
    /// replays).
    pub(super) tables: Tables,
    /// Where failed and timed-out queries are counted (`/metrics`).
    pub(super) metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// Whether time series read the sealed buckets of `series_buckets`
    /// (see [`Self::without_sealed_series`]).
    pub(super) sealed_series: bool,
    /// Whether a conversation list over a week or more that ends after
    /// the newest stored flow reads its last partial day whole (see
    /// [`Self::settled`], [`Self::without_settled_tail`]).
    pub(super) settled_tail: bool,
    /// Whether the violations list tries the window's newest slices of
    /// flows before its whole raw read (see [`Self::without_violation_slices`]).
    pub(super) violation_slices: bool,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("version", &self.version)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClickHouseStore {
    /// Reach the server, detect its version, adapt the client to it, and
    /// (if `settings.migrate`) bring the schema up to date.
    pub async fn connect(settings: &ClickHouseSettings) -> Result<ClickHouseStore, ConnectError> {
        let url = settings.url.clone();
        let mut base = eastwest_clickhouse::http::client().with_url(&settings.url);
        if let Some(user) = &settings.user {
            base = base.with_user(user);
        }
        if let Some(password) = &settings.password {
            base = base.with_password(password);
        }
        let unreachable = |reason: String| ConnectError::Unreachable {
            url: url.clone(),
            reason,
        };
        // RowBinary works on every server, so the version is read without
        // validation (which needs RowBinaryWithNamesAndTypes, absent in 18.x).
        let version_query = base
            .clone()
            .with_validation(false)
            .query("SELECT version()")
            .fetch_one::<String>();
        let version_text = tokio::time::timeout(settings.timeout, version_query)
            .await
            .map_err(|_| unreachable(format!("no answer within {:?}", settings.timeout)))?
            .map_err(|e| unreachable(eastwest_core::error::Chain(&e).to_string()))?;
        let version = ServerVersion::parse(&version_text).ok_or_else(|| ConnectError::Version {
            url: url.clone(),
            version: version_text.clone(),
        })?;
        let mut client = base.with_validation(!version.needs_legacy_settings());
        for (name, value) in query_settings(version) {
            client = client.with_setting(*name, *value);
        }
        if settings.migrate {
            let layout = Layout::single(&settings.database);
            let run = migrate(&client, &layout);
            let failed = |reason: String| ConnectError::Migrate {
                url: url.clone(),
                database: settings.database.clone(),
                reason,
            };
            // Not the API's timeout: a migration may backfill a new rollup
            // from a large table (the server answered the version probe).
            tokio::time::timeout(MIGRATE_TIMEOUT, run)
                .await
                .map_err(|_| failed(format!("not done within {MIGRATE_TIMEOUT:?}")))?
                .map_err(|e| failed(e.to_string()))?;
        }
        let qualified =
            |table: &str| format!("{}.{}", quote_ident(&settings.database), quote_ident(table));
        tracing::info!(%url, version = %version_text, database = %settings.database, "connected to ClickHouse");
        // The server stops a query at the same timeout the API gives up at
        // (a query the client abandoned would otherwise keep running and
        // pile up under load: 18.16 does not cancel on disconnect).
        let client = client.with_setting(
            "max_execution_time",
            settings.timeout.as_secs().max(1).to_string(),
        );
        Ok(ClickHouseStore {
            client: client.with_database(&settings.database),
            layout: Layout::single(&settings.database),
            version,
            timeout: settings.timeout,
            tables: Tables {
                flows: qualified(FLOWS_TABLE),
                flows_1m: qualified(FLOWS_1M.table),
                flows_10m: qualified(FLOWS_10M.table),
                flows_1h: qualified(FLOWS_1H.table),
                flows_1d: qualified(FLOWS_1D.table),
                exporters: qualified(EXPORTERS_TABLE),
                datasets: qualified(DATASETS_TABLE),
                observed_1m: qualified(OBSERVED_1M_TABLE),
                conversations_seen: qualified(CONVERSATIONS_SEEN_TABLE),
                conversations_1h: qualified(CONVERSATIONS_1H.table),
                placements_1h: qualified(PLACEMENTS_1H.table),
                placements_1d: qualified(PLACEMENTS_1D.table),
                flow_exporters: qualified(FLOW_EXPORTERS_TABLE),
                series_buckets: qualified(SERIES_BUCKETS_TABLE),
            },
            metrics: None,
            sealed_series: true,
            settled_tail: true,
            violation_slices: true,
        })
    }

    /// Count failed and timed-out queries in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Read every violations page from the whole window's raw flows, never
    /// from its newest slices: the answer the slices must give, slower (to
    /// compare the two).
    pub fn without_violation_slices(mut self) -> Self {
        self.violation_slices = false;
        self
    }

    /// Count every bucket of every time series live, never reading the
    /// sealed buckets: the answer they must give, slower (to compare the
    /// two).
    pub fn without_sealed_series(mut self) -> Self {
        self.sealed_series = false;
        self
    }

    /// Read every conversation list over its window as asked, never
    /// moving the end of a week that ends after the newest stored flow out
    /// to the end of its last day: the same counters, slower (to compare
    /// the two).
    pub fn without_settled_tail(mut self) -> Self {
        self.settled_tail = false;
        self
    }

    /// `params` with the end of a window read by days (from
    /// [`sql::DAY_WINDOW_MS`] on) moved out to the end of its last day when
    /// no stored flow (of the dataset asked for) ends at or after the
    /// window's end: no flow starts between the two ends, so the rows are
    /// the same, and the window's last part is one day of `flows_1d`
    /// instead of up to 23 hours of `flows_1h` (in live use every "last 7
    /// days" window ends after the newest flow: on 100M flows over 7 days,
    /// a page's keys read 752,000 rows instead of 1.05M). Shorter windows
    /// are read as asked: their last part is at most 50 minutes of
    /// `flows_10m`. The times a rollup gives are its buckets' bounds, so
    /// only a list not sorted by time is read so; its first and last seen
    /// come from `conversations_seen` over the moved window's whole hours,
    /// its last day's included, so they stay the real ones. A flow stored
    /// between this check and the list's statements that starts after the
    /// window's end (a clock ahead of this one) would be counted.
    pub(super) async fn settled(&self, params: &Params) -> Result<Params, StoreError> {
        let day = Resolution::Day.step_ms();
        let Some(window) = params.window.filter(|w| {
            self.settled_tail
                && !matches!(params.sort.key, SortKey::StartMs | SortKey::EndMs)
                && Resolution::for_window(Some(*w)) == Resolution::Day
                && w.to_ms % day != 0
        }) else {
            return Ok(params.clone());
        };
        let end = window.to_ms.div_ceil(day) * day;
        let newest: u64 = self
            .one(&sql::stored_end(
                &self.tables,
                params.filters.dataset.as_deref(),
            ))
            .await?;
        let mut settled = params.clone();
        if newest < window.to_ms {
            settled.window = Some(TimeWindow {
                from_ms: window.from_ms,
                to_ms: end,
            });
        }
        Ok(settled)
    }

    /// The client, adapted to the server and with the database selected,
    /// for the policy module's statements.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The server version detected at connect time.
    pub fn version(&self) -> ServerVersion {
        self.version
    }

    /// A statement with its values bound.
    pub fn query(&self, sql: &Sql) -> clickhouse::query::Query {
        let mut query = self.client.query(&sql.text);
        for arg in &sql.args {
            query = match arg {
                Arg::Text(text) => query.bind(text.as_str()),
                Arg::U64(n) => query.bind(*n),
                Arg::U32(n) => query.bind(*n),
                Arg::U16(n) => query.bind(*n),
                Arg::U8(n) => query.bind(*n),
            };
        }
        query
    }

    /// The quoted table names.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The partitions of every table that holds flows.
    pub(super) async fn partitions(&self) -> Result<Vec<partitions::Partition>, StoreError> {
        let mut all = Vec::new();
        for (_, table) in self.layout.partitioned_tables() {
            all.extend(
                self.with_timeout(partitions::list(&self.client, &self.layout, &table))
                    .await?,
            );
        }
        Ok(all)
    }

    pub(super) async fn all<T>(&self, sql: &Sql) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead,
    {
        self.with_timeout(self.query(sql).fetch_all::<T>()).await
    }

    /// The rows of `page` and, read at the same time, the first and last
    /// seen of its conversations `keys` over `window`'s whole hours from
    /// `conversations_seen` (see [`crate::sql::seen_lookup`]), by key.
    pub(super) async fn all_with_seen<T>(
        &self,
        page: &Sql,
        window: Option<TimeWindow>,
        dataset: Option<&str>,
        keys: &[u64],
    ) -> Result<(Vec<T>, HashMap<u64, (u64, u64)>), StoreError>
    where
        T: RowOwned + RowRead,
    {
        let lookup = sql::seen_lookup(&self.tables, window, dataset, keys);
        let (rows, seen) = tokio::try_join!(self.all::<T>(page), async {
            match &lookup {
                Some(sql) => self.all::<(u64, u64, u64, u8)>(sql).await,
                None => Ok(Vec::new()),
            }
        })?;
        let seen = seen
            .into_iter()
            .map(|(key, first, last, _)| (key, (first, last)))
            .collect();
        Ok((rows, seen))
    }

    pub(super) async fn one<T>(&self, sql: &Sql) -> Result<T, StoreError>
    where
        T: RowOwned + RowRead,
    {
        self.with_timeout(self.query(sql).fetch_one::<T>()).await
    }

    pub(super) async fn with_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, clickhouse::error::Error>>,
    ) -> Result<T, StoreError> {
        let answer = tokio::time::timeout(self.timeout, work).await;
        if let Some(metrics) = &self.metrics {
            match &answer {
                Err(_) => metrics.clickhouse_timeouts.inc(),
                Ok(Err(_)) => metrics.clickhouse_errors.inc(),
                Ok(Ok(_)) => 0,
            };
        }
        answer
            .map_err(|_| StoreError::Unavailable(format!("no answer within {:?}", self.timeout)))?
            .map_err(StoreError::from)
    }
}
