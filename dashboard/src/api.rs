//! The HTTP surface: [`router`] with the JSON API under `/api/v1` and the
//! web page, and [`ApiError`], the one error type handlers return.

use eastwest_core::clock;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{middleware, Extension, Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Auth};
use crate::coalesce;
use crate::doc;
pub use crate::error::{ApiError, ErrorBody};
pub use crate::policy::{CoResidency, CoResidencySource};
pub use eastwest_api::answers::{
    ConversationsResponse, DatasetsResponse, ExportersResponse, FlowsResponse, HostResponse,
    HostsResponse, MatrixResponse, TimeseriesResponse, ViolationsResponse, VmResponse,
};

use crate::model::{to_csv, CsvRow};
use crate::query::{Format, Params, RawParams};
use crate::store::Store;
use crate::web;

mod compliance;
mod inventory;
pub mod openapi;
pub mod packets;
mod series;
#[cfg(test)]
mod tests;
mod traffic;

use compliance::report;
pub use inventory::DatasetDeleted;
use inventory::{datasets, delete_dataset, exporters, host, hosts, vm};
use series::timeseries;
pub use series::{step_for, DEFAULT_MAX_MINUTE_ROWS};
use traffic::{conversations, flows, matrix, violations};

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

/// The routes of [`router`] under `/api/v1`, as OpenAPI paths (each
/// handler's `#[utoipa::path]`).
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(
    health,
    openapi,
    traffic::conversations,
    traffic::matrix,
    traffic::violations,
    traffic::flows,
    inventory::vm,
    inventory::hosts,
    inventory::host,
    series::timeseries,
    inventory::exporters,
    crate::packets::packets,
    compliance::report,
    inventory::datasets,
    inventory::delete_dataset,
))]
pub struct Paths;

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
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
}

#[utoipa::path(
    get,
    path = "/health",
    summary = "ClickHouse answers",
    security(),
    responses(
        (status = 200, description = "OK", body = Health),
        (status = 503, response = doc::Unavailable),
    )
)]
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

#[utoipa::path(
    get,
    path = "/openapi.json",
    summary = "this document",
    security(),
    responses((status = 200, description = "OpenAPI 3.1", body = Object)),
)]
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
        .into_response()
}
