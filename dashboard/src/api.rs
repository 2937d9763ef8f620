//! The HTTP surface: [`router`] with the JSON API under `/api/v1` and the
//! web page, and [`ApiError`], the one error type handlers return.

use eastwest_core::clock;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{middleware, Extension, Json, Router};
use eastwest_clickhouse::schema::partitions;
use serde::{Deserialize, Serialize};

use crate::auth::{self, Admin, Auth};
use crate::coalesce;
pub use crate::error::{ApiError, ErrorBody};
pub use eastwest_api::answers::{
    ConversationsResponse, DatasetsResponse, ExportersResponse, FlowsResponse, HostResponse,
    HostsResponse, MatrixResponse, TimeseriesResponse, ViolationsResponse, VmResponse,
};

use crate::model::{to_csv, CsvRow, HostSummary, Point};
use crate::query::{allowed, epoch_ms, Format, Params, RawParams, TimeWindow};
use crate::report;
use crate::sql::Resolution;
use crate::store::Store;
use crate::web;

/// Where the report's co-residency periods come from (the policy module,
/// over the `[policy]` files and the stored inventory events): the
/// periods, as JSON objects, that share time with `[from_ms, to_ms)`.
pub trait CoResidencySource: Send + Sync + 'static {
    fn periods(
        &self,
        from_ms: Option<u64>,
        to_ms: Option<u64>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Vec<serde_json::Value>, ApiError>> + Send + '_>,
    >;
}

/// What every handler shares.
#[derive(Debug)]
pub struct AppState<S> {
    pub store: Arc<S>,
    /// Largest `limit` a client may ask for.
    pub max_limit: u64,
    /// Who may call the API.
    pub auth: Arc<Auth>,
    /// An exporter not heard from for this long is `stale`.
    pub stale_after_ms: u64,
    /// How report PDFs are printed.
    pub pdf: Arc<PdfRenderer>,
    /// The report's co-residency section (none: not available).
    pub coresidency: Option<CoResidency>,
    /// Most `flows_1m` rows a time series under an hourly step may read
    /// (past it the step becomes hourly).
    pub timeseries_max_minute_rows: u64,
    /// The live dataset's name (every other is a replay).
    pub live_dataset: Arc<str>,
    /// `[packets]`: where `/api/v1/packets` fetches from.
    pub packets: Arc<crate::packets::PacketsConfig>,
    /// The counters `/metrics` shows (the packet downloads).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// A [`CoResidencySource`] in [`AppState`].
#[derive(Clone)]
pub struct CoResidency(pub Arc<dyn CoResidencySource>);

impl std::fmt::Debug for CoResidency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoResidency")
    }
}

/// The program printing report PDFs and how long it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfRenderer {
    pub program: String,
    pub timeout: std::time::Duration,
}

impl Default for PdfRenderer {
    fn default() -> PdfRenderer {
        PdfRenderer {
            program: "chromium".into(),
            timeout: std::time::Duration::from_secs(60),
        }
    }
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            store: Arc::clone(&self.store),
            max_limit: self.max_limit,
            auth: Arc::clone(&self.auth),
            stale_after_ms: self.stale_after_ms,
            pdf: Arc::clone(&self.pdf),
            coresidency: self.coresidency.clone(),
            timeseries_max_minute_rows: self.timeseries_max_minute_rows,
            live_dataset: Arc::clone(&self.live_dataset),
            packets: Arc::clone(&self.packets),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

impl<S> AppState<S> {
    /// State with authentication off (see [`AppState::with_auth`]).
    pub fn new(store: S, max_limit: u64) -> AppState<S> {
        AppState {
            store: Arc::new(store),
            max_limit,
            auth: Arc::new(Auth::Disabled),
            stale_after_ms: 300_000,
            pdf: Arc::new(PdfRenderer::default()),
            coresidency: None,
            timeseries_max_minute_rows: DEFAULT_MAX_MINUTE_ROWS,
            live_dataset: Arc::from("live"),
            packets: Arc::default(),
            metrics: Arc::default(),
        }
    }

    /// Fill the report's co-residency section from `source`.
    pub fn with_coresidency(mut self, source: Arc<dyn CoResidencySource>) -> AppState<S> {
        self.coresidency = Some(CoResidency(source));
        self
    }

    pub fn with_pdf(mut self, pdf: PdfRenderer) -> AppState<S> {
        self.pdf = Arc::new(pdf);
        self
    }

    pub fn with_timeseries_max_minute_rows(mut self, rows: u64) -> AppState<S> {
        self.timeseries_max_minute_rows = rows;
        self
    }

    pub fn with_live_dataset(mut self, name: &str) -> AppState<S> {
        self.live_dataset = Arc::from(name);
        self
    }

    pub fn with_stale_after(mut self, stale_after: std::time::Duration) -> AppState<S> {
        self.stale_after_ms = u64::try_from(stale_after.as_millis()).unwrap_or(u64::MAX);
        self
    }

    pub fn with_packets(mut self, packets: crate::packets::PacketsConfig) -> AppState<S> {
        self.packets = Arc::new(packets);
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> AppState<S> {
        self.metrics = metrics;
        self
    }

    pub fn with_auth(mut self, auth: Auth) -> AppState<S> {
        self.auth = Arc::new(auth);
        self
    }
}

/// The dashboard's routes.
pub fn router<S: Store>(state: AppState<S>) -> Router {
    let auth = Arc::clone(&state.auth);
    Router::new()
        .route("/", get(web::index))
        .route("/assets/app.js", get(web::app_js))
        .route("/assets/style.css", get(web::style_css))
        .route("/api/v1/health", get(health::<S>))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/conversations", get(conversations::<S>))
        .route("/api/v1/zones/matrix", get(matrix::<S>))
        .route("/api/v1/violations", get(violations::<S>))
        .route("/api/v1/flows", get(flows::<S>))
        .route("/api/v1/vms/{name}", get(vm::<S>))
        .route("/api/v1/hosts", get(hosts::<S>))
        .route("/api/v1/hosts/{name}", get(host::<S>))
        .route("/api/v1/timeseries", get(timeseries::<S>))
        .route("/api/v1/exporters", get(exporters::<S>))
        .route("/api/v1/packets", get(crate::packets::packets::<S>))
        .route("/api/v1/report", get(report::<S>))
        .route("/api/v1/datasets", get(datasets::<S>))
        .route("/api/v1/datasets/{name}", delete(delete_dataset::<S>))
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            coalesce::InFlight::default(),
            coalesce::share,
        ))
        .layer(middleware::from_fn(auth::require_viewer))
        .layer(Extension(auth))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Body of `GET /api/v1/health`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

async fn health<S: Store>(State(state): State<AppState<S>>) -> Result<Json<Health>, ApiError> {
    state.store.health().await?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

/// `text/csv` download named `name`.
fn csv_response(name: &'static str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{name}.csv\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

/// JSON, or the CSV of `rows`.
fn list<T: Serialize, R: CsvRow>(
    format: Format,
    name: &'static str,
    json: T,
    rows: &[R],
) -> Response {
    match format {
        Format::Csv => csv_response(name, to_csv(rows)),
        _ => Json(json).into_response(),
    }
}

/// Check the query string of an endpoint taking `allowed`.
pub(crate) fn params<S>(
    state: &AppState<S>,
    raw: Result<Query<RawParams>, QueryRejection>,
    allowed: &[&str],
) -> Result<Params, ApiError> {
    let Query(raw) = raw?;
    raw.allow_only(allowed)?;
    Ok(Params::parse(&raw, clock::now(), state.max_limit)?)
}

pub(crate) type RawQuery = Result<Query<RawParams>, QueryRejection>;

async fn conversations<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::CONVERSATIONS)?;
    let (page, resolution) = state.store.conversations(&p).await?;
    let body = ConversationsResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        sort: p.sort.to_param(),
        limit: p.limit,
        offset: p.offset,
        totals: page.totals,
        conversations: page.conversations,
    };
    Ok(list(p.format, "conversations", &body, &body.conversations))
}

async fn matrix<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::MATRIX)?;
    let (cells, resolution) = state.store.matrix(&p).await?;
    let zones: BTreeSet<String> = cells
        .iter()
        .flat_map(|c| [c.client_zone.clone(), c.server_zone.clone()])
        .collect();
    let body = MatrixResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        zones: zones.into_iter().collect(),
        cells,
    };
    Ok(list(p.format, "zone-matrix", &body, &body.cells))
}

async fn violations<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::VIOLATIONS)?;
    let (violations, total) = state.store.violations(&p).await?;
    let body = ViolationsResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        limit: p.limit,
        offset: p.offset,
        total,
        violations,
    };
    Ok(list(p.format, "violations", &body, &body.violations))
}

async fn flows<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::FLOWS)?;
    let (flows, total) = state.store.flows(&p).await?;
    let body = FlowsResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        limit: p.limit,
        offset: p.offset,
        total,
        flows,
    };
    Ok(list(p.format, "flows", &body, &body.flows))
}

async fn vm<S: Store>(
    State(state): State<AppState<S>>,
    Path(name): Path<String>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let mut p = params(&state, raw, &allowed::VM)?;
    p.filters.vm = Some(name.clone());
    let (placements, (page, resolution)) = tokio::try_join!(
        state.store.placements(&p, &name),
        state.store.conversations(&p)
    )?;
    if placements.is_empty() {
        return Err(ApiError::NotFoundWhat(format!(
            "vm {name:?} not seen in the window"
        )));
    }
    let zones: BTreeSet<String> = placements.iter().flat_map(|p| p.zones.clone()).collect();
    Ok(Json(VmResponse {
        name,
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        zones: zones.into_iter().collect(),
        placements,
        totals: page.totals,
        conversations: page.conversations,
    })
    .into_response())
}

async fn hosts<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::HOSTS)?;
    let (rows, vms, resolution) = state.store.hosts(&p).await?;
    let mut by_host: BTreeMap<String, HostSummary> = BTreeMap::new();
    for row in rows {
        by_host.insert(
            row.host.clone(),
            HostSummary {
                host: row.host,
                vms: 0,
                conversations: row.conversations,
                local_conversations: row.local_conversations,
                local_bytes: row.local_bytes,
                local_cross_zone: row.local_cross_zone,
                violations: row.violations,
                bytes: row.bytes,
                last_ms: row.last_ms,
            },
        );
    }
    for host in vms {
        if let Some(summary) = by_host.get_mut(&host.host) {
            summary.vms = u64::try_from(host.vms.len()).unwrap_or(u64::MAX);
        }
    }
    let body = HostsResponse {
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        hosts: by_host.into_values().collect(),
    };
    Ok(list(p.format, "hosts", &body, &body.hosts))
}

async fn host<S: Store>(
    State(state): State<AppState<S>>,
    Path(name): Path<String>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let mut p = params(&state, raw, &allowed::HOST)?;
    p.filters.host = Some(name.clone());
    p.filters.same_host = Some(true);
    let (vms, (page, resolution)) = tokio::try_join!(
        state.store.host_vms(&p, &name),
        state.store.conversations(&p)
    )?;
    if vms.is_empty() && page.totals.conversations == 0 {
        return Err(ApiError::NotFoundWhat(format!(
            "host {name:?} not seen in the window"
        )));
    }
    let body = HostResponse {
        host: name,
        from_ms: p.window.map(|w| w.from_ms),
        to_ms: p.window.map(|w| w.to_ms),
        resolution: resolution.as_str().into(),
        vms,
        totals: page.totals,
        conversations: page.conversations,
    };
    Ok(list(p.format, "host", &body, &body.conversations))
}

/// Steps a time series may use, finest first.
const STEPS_MS: [u64; 6] = [60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000];

/// Most points a time series returns (about).
const MAX_POINTS: u64 = 360;

/// Default of `api.timeseries_max_minute_rows`: most `flows_1m` rows a
/// time series with a step under an hour may read; past it the step
/// becomes hourly (read from `flows_1h`). Each of those
/// rows is grouped per bucket and conversation; on a 2-core machine with
/// ClickHouse 18.16 about a million rows is a second, and a busy day of
/// 10M flows leaves ~10M minute rows (each conversation has a flow every
/// few minutes, so the minute rollup merges little).
pub const DEFAULT_MAX_MINUTE_ROWS: u64 = 1_000_000;

/// The finest step of at least `min_step_ms` giving at most
/// `MAX_POINTS` over `span_ms` (whole days past the table).
pub fn step_for(span_ms: u64, min_step_ms: u64) -> u64 {
    STEPS_MS
        .into_iter()
        .find(|step| *step >= min_step_ms && span_ms.div_ceil(*step) <= MAX_POINTS)
        .unwrap_or_else(|| span_ms.div_ceil(MAX_POINTS).div_ceil(86_400_000).max(1) * 86_400_000)
}

async fn timeseries<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::TIMESERIES)?;
    let window = match p.window {
        Some(window) => Some(window),
        None => state
            .store
            .time_span(p.filters.dataset.as_deref())
            .await?
            .map(|(first, last)| TimeWindow {
                from_ms: first,
                to_ms: last + 1,
            }),
    };
    let Some(window) = window else {
        // All time over an empty dataset.
        let body = TimeseriesResponse {
            from_ms: None,
            to_ms: None,
            resolution: Resolution::Hour.as_str().into(),
            step_ms: STEPS_MS[0],
            points: Vec::new(),
        };
        return Ok(list(p.format, "timeseries", &body, &body.points));
    };
    let span_ms = window.to_ms - window.from_ms;
    let mut step_ms = step_for(span_ms, 0);
    // A step under an hour reads flows_1m: if the window holds too many of
    // its rows, an hourly step answers from flows_1h in time instead.
    if step_ms < Resolution::Hour.step_ms() {
        let rows = state
            .store
            .rows_in(
                Resolution::for_step(step_ms),
                window,
                p.filters.dataset.as_deref(),
                state.timeseries_max_minute_rows.saturating_add(1),
            )
            .await?;
        if rows > state.timeseries_max_minute_rows {
            step_ms = step_for(span_ms, Resolution::Hour.step_ms());
        }
    }
    // Buckets on multiples of the step; an all-time window is widened to them.
    let grid = TimeWindow {
        from_ms: window.from_ms / step_ms * step_ms,
        to_ms: window.to_ms.div_ceil(step_ms) * step_ms,
    };
    let query_window = if p.window.is_some() { window } else { grid };
    let (found, resolution) = state.store.timeseries(&p, query_window, step_ms).await?;
    let found: BTreeMap<u64, Point> = found.into_iter().map(|pt| (pt.t_ms, pt)).collect();
    let points = (grid.from_ms..grid.to_ms)
        .step_by(usize::try_from(step_ms).unwrap_or(usize::MAX))
        .map(|t_ms| {
            found.get(&t_ms).copied().unwrap_or(Point {
                t_ms,
                ..Point::default()
            })
        })
        .collect();
    let body = TimeseriesResponse {
        from_ms: Some(query_window.from_ms),
        to_ms: Some(query_window.to_ms),
        resolution: resolution.as_str().into(),
        step_ms,
        points,
    };
    Ok(list(p.format, "timeseries", &body, &body.points))
}

async fn exporters<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::EXPORTERS)?;
    let now_ms = epoch_ms(clock::now());
    let (rows, source) = state.store.exporters().await?;
    let body = ExportersResponse {
        now_ms,
        stale_after_s: state.stale_after_ms / 1000,
        source,
        exporters: rows
            .into_iter()
            .map(|r| r.status(now_ms, state.stale_after_ms))
            .collect(),
    };
    Ok(list(p.format, "exporters", &body, &body.exporters))
}

async fn datasets<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let p = params(&state, raw, &allowed::DATASETS)?;
    let mut datasets = state.store.datasets().await?;
    for dataset in &mut datasets {
        dataset.live = partitions::is_live(&dataset.name, &state.live_dataset);
    }
    let body = DatasetsResponse { datasets };
    Ok(list(p.format, "datasets", &body, &body.datasets))
}

/// Body of `DELETE /api/v1/datasets/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetDeleted {
    pub name: String,
    /// Partitions dropped (one per table and day).
    pub partitions: usize,
}

async fn delete_dataset<S: Store>(
    Admin(who): Admin,
    State(state): State<AppState<S>>,
    Path(name): Path<String>,
) -> Result<Json<DatasetDeleted>, ApiError> {
    if partitions::is_live(&name, &state.live_dataset) {
        return Err(ApiError::BadRequest(format!(
            "{name:?} is the live dataset: the collector's retention (flows_days) keeps it, \
             it is not deleted through the API"
        )));
    }
    let partitions = state.store.delete_dataset(&name).await?;
    if partitions == 0 {
        return Err(ApiError::NotFoundWhat(format!("no dataset {name:?}")));
    }
    tracing::info!(who = %who.name, dataset = %name, partitions, "datasets: deleted");
    Ok(Json(DatasetDeleted { name, partitions }))
}

/// The report's violating conversations with their evidence links.
async fn report_evidence<S: Store>(
    state: &AppState<S>,
    p: &Params,
) -> Result<Vec<report::ViolationEvidence>, ApiError> {
    let mut listed = p.clone();
    listed.limit = report::MAX_VIOLATING_CONVERSATIONS;
    listed.offset = 0;
    let (violations, _) = state.store.violations(&listed).await?;
    let (exporters, _) = state.store.exporters().await?;
    let statuses: Vec<_> = exporters
        .into_iter()
        .map(|e| e.status(0, u64::MAX))
        .collect();
    Ok(report::evidence(
        violations,
        &statuses,
        p.filters.dataset.as_deref(),
    ))
}

async fn report<S: Store>(
    State(state): State<AppState<S>>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let Query(raw) = raw?;
    raw.allow_only(&allowed::REPORT)?;
    let p = Params::parse_for(&raw, clock::now(), state.max_limit, true)?;
    let (data, resolution) = state.store.report(&p).await?;
    let (from_ms, to_ms) = (p.window.map(|w| w.from_ms), p.window.map(|w| w.to_ms));
    let coresidency = match &state.coresidency {
        None => None,
        // The report is still given when the policy files do not load; the
        // section then says "not available" (and the log why).
        Some(source) => match source.0.periods(from_ms, to_ms).await {
            Ok(periods) => Some(periods),
            Err(err) => {
                tracing::warn!(?err, "report: co-residency periods not available");
                None
            }
        },
    };
    let mut report = report::assemble(
        data,
        p.window.map(|w| w.from_ms),
        p.window.map(|w| w.to_ms),
        p.filters.dataset.clone(),
        resolution.as_str(),
        epoch_ms(clock::now()),
    );
    report.coresidency = coresidency;
    report.violating_conversations = report_evidence(&state, &p).await?;
    Ok(match p.format {
        Format::Json => Json(report).into_response(),
        Format::Csv => csv_response("compliance-report", report::to_csv(&report)),
        Format::Html => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            report::to_html(&report),
        )
            .into_response(),
        Format::Pdf => {
            let pdf = report::to_pdf(
                &report::to_html(&report),
                &state.pdf.program,
                state.pdf.timeout,
            )
            .await
            .map_err(|e| ApiError::RendererUnavailable(e.to_string()))?;
            (
                [
                    (header::CONTENT_TYPE, "application/pdf"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"compliance-report.pdf\"",
                    ),
                ],
                pdf,
            )
                .into_response()
        }
    })
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Dataset, ExporterRow, FlowRecord, HostRow, HostVms, MatrixCell, Page, Placement, Violation,
    };
    use crate::store::StoreError;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// A store that fails the way a broken query does, to check that the
    /// detail stays out of the response.
    struct FailingStore;

    fn broken<T>() -> Result<T, StoreError> {
        Err(StoreError::Query(
            "Code: 60, Table secret_db.flows doesn't exist".into(),
        ))
    }

    impl Store for FailingStore {
        async fn conversations(&self, _: &Params) -> Result<(Page, Resolution), StoreError> {
            broken()
        }
        async fn matrix(&self, _: &Params) -> Result<(Vec<MatrixCell>, Resolution), StoreError> {
            broken()
        }
        async fn violations(&self, _: &Params) -> Result<(Vec<Violation>, u64), StoreError> {
            broken()
        }
        async fn flows(&self, _: &Params) -> Result<(Vec<FlowRecord>, u64), StoreError> {
            broken()
        }
        async fn placements(&self, _: &Params, _: &str) -> Result<Vec<Placement>, StoreError> {
            broken()
        }
        async fn hosts(
            &self,
            _: &Params,
        ) -> Result<(Vec<HostRow>, Vec<HostVms>, Resolution), StoreError> {
            broken()
        }
        async fn host_vms(&self, _: &Params, _: &str) -> Result<Vec<String>, StoreError> {
            broken()
        }
        async fn timeseries(
            &self,
            _: &Params,
            _: TimeWindow,
            _: u64,
        ) -> Result<(Vec<Point>, Resolution), StoreError> {
            broken()
        }
        async fn rows_in(
            &self,
            _: Resolution,
            _: TimeWindow,
            _: Option<&str>,
            _: u64,
        ) -> Result<u64, StoreError> {
            broken()
        }
        async fn time_span(&self, _: Option<&str>) -> Result<Option<(u64, u64)>, StoreError> {
            broken()
        }
        async fn report(
            &self,
            _: &Params,
        ) -> Result<(crate::report::ReportData, Resolution), StoreError> {
            broken()
        }
        async fn exporters(
            &self,
        ) -> Result<(Vec<ExporterRow>, crate::model::ExporterSource), StoreError> {
            broken()
        }
        async fn datasets(&self) -> Result<Vec<Dataset>, StoreError> {
            broken()
        }
        async fn delete_dataset(&self, _: &str) -> Result<usize, StoreError> {
            broken()
        }
        async fn health(&self) -> Result<(), StoreError> {
            Err(StoreError::Unavailable(
                "connection refused to 10.9.9.9".into(),
            ))
        }
    }

    async fn get(uri: &str) -> (StatusCode, String) {
        let response = router(AppState::new(FailingStore, 100))
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn internal_details_are_not_sent() {
        for uri in [
            "/api/v1/conversations?range=all",
            "/api/v1/zones/matrix",
            "/api/v1/violations",
            "/api/v1/flows",
            "/api/v1/vms/x",
            "/api/v1/hosts",
            "/api/v1/hosts/esx-01",
            "/api/v1/timeseries?range=all",
            "/api/v1/exporters",
            "/api/v1/report?format=html",
        ] {
            let (status, body) = get(uri).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
            assert_eq!(body, r#"{"error":"internal error"}"#, "{uri}");
        }
        let (status, body) = get("/api/v1/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, r#"{"error":"storage unavailable"}"#);
    }

    #[tokio::test]
    async fn bad_parameters_are_400_before_storage() {
        let (status, body) = get("/api/v1/conversations?verdict=maybe").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("verdict"), "{body}");
        let (status, body) = get("/api/v1/conversations?colour=red").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("colour"), "{body}");
        let (status, body) = get("/api/v1/zones/matrix?sort=bytes").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("sort: not a parameter"), "{body}");
        let (status, _) = get("/api/v1/exporters?range=1h").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = get("/api/v2/nothing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, r#"{"error":"not found"}"#);
    }

    #[tokio::test]
    async fn openapi_lists_every_route() {
        let (status, body) = get("/api/v1/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in [
            "/health",
            "/conversations",
            "/zones/matrix",
            "/violations",
            "/flows",
            "/vms/{name}",
            "/hosts",
            "/hosts/{name}",
            "/timeseries",
            "/exporters",
            "/report",
            "/policy",
            "/policy/whatif",
            "/coresidency",
            "/inventory/events",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
    }

    #[test]
    fn steps_keep_series_short() {
        assert_eq!(step_for(3_600_000, 0), 60_000);
        assert_eq!(step_for(86_400_000, 0), 300_000);
        assert_eq!(step_for(7 * 86_400_000, 0), 3_600_000);
        assert_eq!(step_for(1000 * 86_400_000, 0), 3 * 86_400_000);
        // Too many minute rows: the finest hourly step.
        assert_eq!(step_for(86_400_000, 3_600_000), 3_600_000);
        assert_eq!(step_for(3_600_000, 3_600_000), 3_600_000);
        assert_eq!(step_for(7 * 86_400_000, 3_600_000), 3_600_000);
        for span in [1u64, 59_999, 3_600_000, 86_400_000, 400 * 86_400_000] {
            assert!(span.div_ceil(step_for(span, 0)) <= MAX_POINTS, "{span}");
        }
    }
}
