//! Where the dashboard reads flows from: the [`Store`] trait the handlers use
//! and [`ClickHouseStore`], its implementation over the tables of
//! [`eastwest_clickhouse::schema`] (`flows`, the `flows_1m`/`flows_1h` rollups,
//! `exporters`), with the SQL of [`crate::sql`].
//!
//! Every value that comes from a request is bound on the client side with the
//! `clickhouse` crate's `?` placeholder (escaped as a literal); the only SQL
//! text chosen by a request is the sort column, picked from a whitelist.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use clickhouse::Client;
use clickhouse::{RowOwned, RowRead};
use eastwest_clickhouse::schema::{
    migrate, partitions, query_settings, quote_ident, Layout, ServerVersion,
    CONVERSATIONS_SEEN_TABLE, DATASETS_TABLE, EXPORTERS_TABLE, FLOWS_10M, FLOWS_1D, FLOWS_1H,
    FLOWS_1M, FLOWS_TABLE, OBSERVED_1M_TABLE,
};

use crate::model::{
    Conversation, ConversationRow, Counters, DescribedRow, ExporterRow, FlowRecord, FlowRecordRow,
    HostRow, HostVms, MatrixCell, Page, Placement, Point, Totals, Violation, ViolationRow,
};
use crate::model::{Dataset, DatasetRow, ExporterSource};
use crate::query::{Params, TimeWindow};
use crate::report::{IntraHost, LossRow, PointRow, ReportData, ZonePairViolations};
use crate::sql::{self, Arg, Resolution, Sql, Tables};

/// Longest the schema migration at start-up may take.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(600);

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

/// [`Store`] over ClickHouse.
#[derive(Clone)]
pub struct ClickHouseStore {
    client: Client,
    /// Where the tables are (for `system.parts`: datasets' partitions).
    layout: Layout,
    version: ServerVersion,
    timeout: Duration,
    /// The tables, quoted with their database: statements name their
    /// database, so the SQL stands alone (as in the query log the chdb check
    /// replays).
    tables: Tables,
    /// Where failed and timed-out queries are counted (`/metrics`).
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// The settled hours of hourly time series (see [`HourSeries`]).
    hours: std::sync::Arc<std::sync::Mutex<HourSeries>>,
}

/// The buckets of hourly time series without filters (but the dataset),
/// per dataset and hour, with the flows stored in that hour when it was
/// counted. An hour's bucket costs a grouping of its conversations and of
/// their observation points (choosing the point to count each at), about
/// 1.5 s for a day of 30,000 conversations on ClickHouse 18.16; its flow
/// count per hour costs a read of `observed_1m` (a few rows per observer
/// and minute). So an hour is counted again only when its flow count has
/// changed (late or new flows, a deleted dataset or retention) or when it
/// ended less than `HourSeries::SETTLE_MS` ago (flows still arrive, and
/// the two tables are fed by two views of one insert).
#[derive(Debug, Default)]
pub struct HourSeries {
    buckets: HashMap<(Option<String>, u64), (u64, Option<Point>)>,
}

impl HourSeries {
    const STEP_MS: u64 = 3_600_000;
    /// How long after its end an hour may still change.
    const SETTLE_MS: u64 = 600_000;
    /// At most this many hours are kept (about 25 MB); past it, all are
    /// forgotten and counted again when asked for.
    const MAX_HOURS: usize = 200_000;

    /// The whole hours of a series of `step_ms` over `window` with
    /// `params`' filters that can be answered hour by hour (hourly steps,
    /// no filter but the dataset), if any: the partial hours at the
    /// window's edges are counted on their own each time.
    fn whole_hours(params: &Params, window: TimeWindow, step_ms: u64) -> Option<TimeWindow> {
        let inner = TimeWindow {
            from_ms: window.from_ms.div_ceil(Self::STEP_MS) * Self::STEP_MS,
            to_ms: window.to_ms / Self::STEP_MS * Self::STEP_MS,
        };
        let answers = step_ms == Self::STEP_MS
            && inner.from_ms < inner.to_ms
            && params.filters
                == crate::query::Filters {
                    dataset: params.filters.dataset.clone(),
                    ..Default::default()
                };
        answers.then_some(inner)
    }

    /// The hours of `counts` (`(t_ms, flows)`) not known or changed, or
    /// too recent at `now_ms`, in time order.
    fn unsettled(&self, dataset: &Option<String>, counts: &[(u64, u64)], now_ms: u64) -> Vec<u64> {
        counts
            .iter()
            .filter(|(t, n)| {
                t + Self::STEP_MS + Self::SETTLE_MS > now_ms
                    || self.buckets.get(&(dataset.clone(), *t)).map(|(m, _)| m) != Some(n)
            })
            .map(|(t, _)| *t)
            .collect()
    }

    /// `hours` cut into runs of consecutive hours, each as a window.
    fn runs(hours: &[u64]) -> Vec<TimeWindow> {
        let mut runs: Vec<TimeWindow> = Vec::new();
        for &t in hours {
            match runs.last_mut() {
                Some(run) if run.to_ms == t => run.to_ms = t + Self::STEP_MS,
                _ => runs.push(TimeWindow {
                    from_ms: t,
                    to_ms: t + Self::STEP_MS,
                }),
            }
        }
        runs
    }

    /// Keep `points` (counted now) for the hours of `counts`, then answer
    /// every hour of `counts` from what is kept.
    fn settle(
        &mut self,
        dataset: &Option<String>,
        counts: &[(u64, u64)],
        counted: &[u64],
        points: &[Point],
    ) -> Vec<Point> {
        if self.buckets.len() + counted.len() > Self::MAX_HOURS {
            self.buckets.clear();
        }
        let mut fresh: HashMap<u64, Point> = points.iter().map(|p| (p.t_ms, *p)).collect();
        let mut answer = Vec::with_capacity(counts.len());
        for &(t, n) in counts {
            let key = (dataset.clone(), t);
            let point = if counted.binary_search(&t).is_ok() {
                let point = fresh.remove(&t);
                self.buckets.insert(key, (n, point));
                point
            } else {
                self.buckets.get(&key).and_then(|(_, p)| *p)
            };
            answer.extend(point);
        }
        answer
    }
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
            },
            metrics: None,
            hours: Default::default(),
        })
    }

    /// Count failed and timed-out queries in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
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
    async fn partitions(&self) -> Result<Vec<partitions::Partition>, StoreError> {
        let mut all = Vec::new();
        for (_, table) in self.layout.partitioned_tables() {
            all.extend(
                self.with_timeout(partitions::list(&self.client, &self.layout, &table))
                    .await?,
            );
        }
        Ok(all)
    }

    async fn all<T>(&self, sql: &Sql) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead,
    {
        self.with_timeout(self.query(sql).fetch_all::<T>()).await
    }

    async fn one<T>(&self, sql: &Sql) -> Result<T, StoreError>
    where
        T: RowOwned + RowRead,
    {
        self.with_timeout(self.query(sql).fetch_one::<T>()).await
    }

    async fn with_timeout<T>(
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

/// The answer of [`sql::conversation_keys_and_totals`] in `TSV`: a row per
/// conversation of the page (its key, then its counters), then an empty
/// line and the totals row (`WITH TOTALS`; absent when nothing matched).
pub fn keys_and_totals(tsv: &[u8]) -> Result<(Vec<(u64, Counters)>, Totals), String> {
    let text = std::str::from_utf8(tsv).map_err(|e| format!("keys and totals: {e}"))?;
    let numbers = |line: &str| -> Result<[u64; 8], String> {
        let fields = line
            .split('\t')
            .map(str::parse::<u64>)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|e| format!("keys and totals: {e} in {line:?}"))?;
        <[u64; 8]>::try_from(fields.as_slice()).map_err(|_| {
            format!(
                "keys and totals: {} fields in {line:?}, not 8",
                fields.len()
            )
        })
    };
    let mut keys = Vec::new();
    let mut lines = text.lines();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let [key, _, _, flows, packets, bytes, packets_fwd, bytes_fwd] = numbers(line)?;
        let counters = Counters {
            flows,
            packets,
            bytes,
            packets_fwd,
            bytes_fwd,
        };
        keys.push((key, counters));
    }
    let totals = match lines.next() {
        Some(line) => {
            let [_, conversations, violations, flows, packets, bytes, _, _] = numbers(line)?;
            Totals {
                conversations,
                violations,
                flows,
                packets,
                bytes,
            }
        }
        None => Totals::default(),
    };
    Ok((keys, totals))
}

impl Store for ClickHouseStore {
    async fn conversations(&self, params: &Params) -> Result<(Page, Resolution), StoreError> {
        let resolution = Resolution::for_window(params.window);
        let (rows, totals) = if params.limit <= sql::MAX_PAGE_KEYS {
            // The page's keys and the totals from the cheap grouping, then
            // those conversations alone in full.
            let keys = sql::conversation_keys_and_totals(&self.tables, resolution, params);
            let text = self
                .with_timeout(async { self.query(&keys).fetch_bytes("TSV")?.collect().await })
                .await?;
            let (keys, totals) = keys_and_totals(&text).map_err(StoreError::Query)?;
            let rows = if keys.is_empty() {
                Vec::new()
            } else {
                let hashes: Vec<u64> = keys.iter().map(|(key, _)| *key).collect();
                let page = sql::conversation_page(&self.tables, resolution, params, &hashes);
                // Their first and last seen, beside (see `sql::seen_lookup`).
                let lookup = sql::seen_lookup(
                    &self.tables,
                    params.window,
                    params.filters.dataset.as_deref(),
                    &hashes,
                );
                let (rows, seen) = tokio::try_join!(self.all::<DescribedRow>(&page), async {
                    match &lookup {
                        Some(sql) => self.all::<(u64, u64, u64, u8)>(sql).await,
                        None => Ok(Vec::new()),
                    }
                })?;
                let seen: HashMap<u64, (u64, u64)> = seen
                    .into_iter()
                    .map(|(key, first, last, _)| (key, (first, last)))
                    .collect();
                let mut described: HashMap<u64, DescribedRow> = rows
                    .into_iter()
                    .map(|mut row| {
                        (row.start_ms, row.end_ms) = sql::seen_times(
                            params.window,
                            (row.start_ms, row.end_ms),
                            seen.get(&row.conv_hash).copied(),
                        );
                        (row.conv_hash, row)
                    })
                    .collect();
                // In the keys' order. A conversation gone between the two
                // statements (a TTL's merge) is left out.
                keys.iter()
                    .filter_map(|(key, counters)| {
                        described.remove(key).map(|row| row.with(*counters))
                    })
                    .collect()
            };
            (rows, totals)
        } else {
            let totals = sql::conversation_totals(&self.tables, resolution, params);
            let page = sql::conversations_in_one(&self.tables, resolution, params);
            tokio::try_join!(
                self.all::<ConversationRow>(&page),
                self.one::<Totals>(&totals),
            )?
        };
        let page = Page {
            totals,
            conversations: rows.into_iter().map(Conversation::from).collect(),
        };
        Ok((page, resolution.used_for(params.window)))
    }

    async fn matrix(&self, params: &Params) -> Result<(Vec<MatrixCell>, Resolution), StoreError> {
        let resolution = Resolution::for_window(params.window);
        let cells = self
            .all::<MatrixCell>(&sql::matrix(&self.tables, resolution, params))
            .await?;
        Ok((cells, resolution.used_for(params.window)))
    }

    async fn violations(&self, params: &Params) -> Result<(Vec<Violation>, u64), StoreError> {
        let (page, total) = sql::violations(&self.tables, params);
        let (rows, total) =
            tokio::try_join!(self.all::<ViolationRow>(&page), self.one::<u64>(&total),)?;
        Ok((rows.into_iter().map(Violation::from).collect(), total))
    }

    async fn flows(&self, params: &Params) -> Result<(Vec<FlowRecord>, u64), StoreError> {
        let (page, total) = sql::flows(&self.tables, params);
        let (rows, total) =
            tokio::try_join!(self.all::<FlowRecordRow>(&page), self.one::<u64>(&total),)?;
        Ok((rows.into_iter().map(FlowRecord::from).collect(), total))
    }

    async fn placements(&self, params: &Params, vm: &str) -> Result<Vec<Placement>, StoreError> {
        let resolution = Resolution::for_window(params.window);
        self.all(&sql::vm_placements(&self.tables, resolution, params, vm))
            .await
    }

    async fn hosts(
        &self,
        params: &Params,
    ) -> Result<(Vec<HostRow>, Vec<HostVms>, Resolution), StoreError> {
        let resolution = Resolution::for_window(params.window);
        let hosts = sql::hosts(&self.tables, resolution, params);
        let vms = sql::host_vms(&self.tables, resolution, params, None);
        let (rows, vms) =
            tokio::try_join!(self.all::<HostRow>(&hosts), self.all::<HostVms>(&vms),)?;
        Ok((rows, vms, resolution.used_for(params.window)))
    }

    async fn host_vms(&self, params: &Params, host: &str) -> Result<Vec<String>, StoreError> {
        let resolution = Resolution::for_window(params.window);
        let rows = self
            .all::<HostVms>(&sql::host_vms(&self.tables, resolution, params, Some(host)))
            .await?;
        Ok(rows.into_iter().flat_map(|r| r.vms).collect())
    }

    async fn timeseries(
        &self,
        params: &Params,
        window: TimeWindow,
        step_ms: u64,
    ) -> Result<(Vec<Point>, Resolution), StoreError> {
        let resolution = Resolution::for_step(step_ms);
        let mut params = params.clone();
        params.window = Some(window);
        let Some(inner) = HourSeries::whole_hours(&params, window, step_ms) else {
            let points = self
                .all::<Point>(&sql::timeseries(&self.tables, resolution, &params, step_ms))
                .await?;
            return Ok((points, resolution.used_for(Some(window))));
        };
        let mut edges = Vec::new();
        for edge in [
            TimeWindow {
                from_ms: window.from_ms,
                to_ms: inner.from_ms,
            },
            TimeWindow {
                from_ms: inner.to_ms,
                to_ms: window.to_ms,
            },
        ] {
            if edge.from_ms < edge.to_ms {
                params.window = Some(edge);
                edges.extend(
                    self.all::<Point>(&sql::timeseries(&self.tables, resolution, &params, step_ms))
                        .await?,
                );
            }
        }
        let dataset = params.filters.dataset.clone();
        let counts = self
            .all::<(u64, u64)>(&sql::hour_counts(&self.tables, inner, dataset.as_deref()))
            .await?;
        let unsettled = self
            .hours
            .lock()
            .map_err(|_| StoreError::Query("hourly series lock poisoned".into()))?
            .unsettled(&dataset, &counts, eastwest_core::clock::now_ms());
        let mut points = Vec::new();
        for run in HourSeries::runs(&unsettled) {
            params.window = Some(run);
            points.extend(
                self.all::<Point>(&sql::timeseries(&self.tables, resolution, &params, step_ms))
                    .await?,
            );
        }
        let mut points = self
            .hours
            .lock()
            .map_err(|_| StoreError::Query("hourly series lock poisoned".into()))?
            .settle(&dataset, &counts, &unsettled, &points);
        points.extend(edges);
        points.sort_by_key(|p| p.t_ms);
        Ok((points, resolution.used_for(Some(window))))
    }

    async fn rows_in(
        &self,
        resolution: Resolution,
        window: TimeWindow,
        dataset: Option<&str>,
        at_most: u64,
    ) -> Result<u64, StoreError> {
        self.one::<u64>(&sql::rows_in(
            &self.tables,
            resolution,
            window,
            dataset,
            at_most,
        ))
        .await
    }

    async fn time_span(&self, dataset: Option<&str>) -> Result<Option<(u64, u64)>, StoreError> {
        let (first, last, count) = self
            .one::<(u64, u64, u64)>(&sql::time_span(&self.tables, dataset))
            .await?;
        Ok((count > 0).then_some((first, last)))
    }

    async fn report(&self, params: &Params) -> Result<(ReportData, Resolution), StoreError> {
        let t = &self.tables;
        let resolution = Resolution::for_window(params.window);
        let (points, vm_hosts, violations, intra_host, losses) = (
            sql::report_points(t, params),
            sql::report_vm_hosts(t, resolution, params),
            sql::report_violations(t, resolution, params),
            sql::report_intra_host(t, resolution, params),
            sql::report_exporter_losses(t, params),
        );
        let (points, vm_hosts, violations, intra_host, losses) = tokio::try_join!(
            self.all::<PointRow>(&points),
            self.all::<String>(&vm_hosts),
            self.all::<ZonePairViolations>(&violations),
            self.all::<IntraHost>(&intra_host),
            self.all::<LossRow>(&losses),
        )?;
        Ok((
            ReportData {
                points,
                vm_hosts,
                violations,
                intra_host,
                losses,
            },
            resolution.used_for(params.window),
        ))
    }

    async fn exporters(&self) -> Result<(Vec<ExporterRow>, ExporterSource), StoreError> {
        let rows: Vec<ExporterRow> = self.all(&sql::exporters(&self.tables)).await?;
        if !rows.is_empty() {
            return Ok((rows, ExporterSource::Exporters));
        }
        let rows = self.all(&sql::exporters_from_flows(&self.tables)).await?;
        Ok((rows, ExporterSource::Flows))
    }

    async fn datasets(&self) -> Result<Vec<Dataset>, StoreError> {
        let rows: Vec<DatasetRow> = self.all(&sql::datasets(&self.tables)).await?;
        let mut bytes: HashMap<String, u64> = HashMap::new();
        for partition in self.partitions().await? {
            *bytes.entry(partition.dataset).or_default() += partition.bytes;
        }
        Ok(rows
            .into_iter()
            .map(|r| Dataset {
                bytes: bytes.get(&r.dataset).copied().unwrap_or(0),
                name: r.dataset,
                live: false,
                flows: r.flows,
                first_ms: r.first_ms,
                last_ms: r.last_ms,
                stored_first_ms: u64::from(r.stored_first) * 1000,
                stored_last_ms: u64::from(r.stored_last) * 1000,
            })
            .collect())
    }

    async fn delete_dataset(&self, dataset: &str) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for partition in self.partitions().await? {
            if partition.dataset == dataset {
                self.with_timeout(partitions::drop(&self.client, &self.layout, &partition))
                    .await?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.with_timeout(self.client.query("SELECT 1").fetch_one::<u8>())
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_counted_again_when_changed_or_recent() {
        let h = HourSeries::STEP_MS;
        let point = |t_ms, bytes| Point {
            t_ms,
            bytes,
            ..Point::default()
        };
        let lab = Some("lab".to_string());
        let mut hours = HourSeries::default();
        let counts = [(0, 5), (h, 7), (3 * h, 2)];
        let now = 10 * h;
        assert_eq!(hours.unsettled(&lab, &counts, now), [0, h, 3 * h]);
        assert_eq!(
            HourSeries::runs(&[0, h, 3 * h]),
            [
                TimeWindow {
                    from_ms: 0,
                    to_ms: 2 * h
                },
                TimeWindow {
                    from_ms: 3 * h,
                    to_ms: 4 * h
                }
            ]
        );
        let counted = [point(0, 50), point(h, 70), point(3 * h, 20)];
        let answer = hours.settle(&lab, &counts, &[0, h, 3 * h], &counted);
        assert_eq!(answer, counted);
        // Nothing changed: nothing to count, the same answer.
        assert!(hours.unsettled(&lab, &counts, now).is_empty());
        assert_eq!(hours.settle(&lab, &counts, &[], &[]), counted);
        // Another dataset is another series.
        assert_eq!(hours.unsettled(&None, &counts, now).len(), 3);
        // Late flows in the second hour, a new fourth hour; an hour that
        // ended less than SETTLE_MS ago is counted every time.
        let later = [(0, 5), (h, 8), (3 * h, 2), (4 * h, 1)];
        assert_eq!(hours.unsettled(&lab, &later, now), [h, 4 * h]);
        assert_eq!(
            hours.unsettled(&lab, &later, 5 * h + HourSeries::SETTLE_MS - 1),
            [h, 4 * h]
        );
        let answer = hours.settle(&lab, &later, &[h, 4 * h], &[point(h, 80), point(4 * h, 10)]);
        assert_eq!(
            answer,
            [
                point(0, 50),
                point(h, 80),
                point(3 * h, 20),
                point(4 * h, 10)
            ]
        );
        assert_eq!(
            hours.unsettled(&lab, &later, 5 * h + HourSeries::SETTLE_MS - 1),
            [4 * h]
        );
    }

    #[test]
    fn keys_then_the_totals_row() {
        let tsv = b"11\t1\t0\t5\t50\t500\t30\t300\n7\t1\t1\t2\t20\t200\t20\t0\n\n\
                    0\t30\t4\t70\t700\t7000\t400\t4000\n";
        let (keys, totals) = keys_and_totals(tsv).unwrap();
        let counters = |flows, packets, bytes, packets_fwd, bytes_fwd| Counters {
            flows,
            packets,
            bytes,
            packets_fwd,
            bytes_fwd,
        };
        assert_eq!(
            keys,
            vec![
                (11, counters(5, 50, 500, 30, 300)),
                (7, counters(2, 20, 200, 20, 0))
            ]
        );
        assert_eq!(
            totals,
            Totals {
                conversations: 30,
                violations: 4,
                flows: 70,
                packets: 700,
                bytes: 7000
            }
        );
        // A page past the end: the totals alone.
        let (keys, totals) = keys_and_totals(b"\n0\t30\t4\t70\t700\t7000\t1\t1\n").unwrap();
        assert!(keys.is_empty());
        assert_eq!(totals.conversations, 30);
        // Nothing matched.
        assert_eq!(
            keys_and_totals(b"").unwrap(),
            (Vec::new(), Totals::default())
        );
        // Not what the statement returns: an error, not a panic.
        assert!(keys_and_totals(b"11\t1\n")
            .unwrap_err()
            .contains("2 fields"));
        assert!(keys_and_totals(b"x\t1\t0\t5\t50\t500\t1\t1\n").is_err());
        assert!(keys_and_totals(b"\n0\t30\t4\t70\t700\t7000\n").is_err());
        assert!(keys_and_totals(&[0xff, b'\n']).is_err());
    }
}
