//! Unit tests of the handlers over fake stores: errors, CSV, steps.

use super::series::MAX_POINTS;
use super::*;
use crate::model::{
    Dataset, ExporterRow, FlowRecord, HostRow, HostVms, MatrixCell, Page, Placement, Point,
    Violation,
};
use crate::query::TimeWindow;
use crate::sql::Resolution;
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
    async fn violations_rolled_up(&self, _: &Params) -> Result<Vec<Violation>, StoreError> {
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
    async fn announced_exporters(&self) -> Result<Vec<ExporterRow>, StoreError> {
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

#[test]
fn the_steps_of_windows_from_a_day_to_360_days_are_sealed() {
    let mut steps: Vec<u64> = (24..=360 * 24)
        .flat_map(|hours: u64| {
            let span = hours * 3_600_000;
            [step_for(span, 0), step_for(span, 3_600_000)]
        })
        .collect();
    steps.sort_unstable();
    steps.dedup();
    assert_eq!(steps, crate::store::SEALED_STEPS_MS);
}
