//! The HTTP surface: [`router`] with the JSON API under `/api/v1` and the
//! web page, and [`ApiError`], the one error type handlers return.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Extension, Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Auth};
use crate::query::{ConversationQuery, Format, ParamError, RawParams};
use crate::store::{Conversation, Store, StoreError, Totals};
use crate::web;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState<S> {
    pub store: Arc<S>,
    /// Largest `limit` a client may ask for.
    pub max_limit: u64,
    /// Who may call the API.
    pub auth: Arc<Auth>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            store: Arc::clone(&self.store),
            max_limit: self.max_limit,
            auth: Arc::clone(&self.auth),
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
        }
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
        .route("/api/v1/conversations", get(conversations::<S>))
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn(auth::require_viewer))
        .layer(Extension(auth))
}

/// The error of every handler. Clients get a status and a short JSON
/// message (`{"error": "..."}`); internals are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is wrong; the message only describes the client's input.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or one the configuration does not know.
    #[error("authentication required")]
    Unauthorized,
    /// A valid token whose role is too low.
    #[error("forbidden: admin role required")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// Storage is down or too slow.
    #[error("storage unavailable")]
    Unavailable(String),
    /// Anything else; the detail stays in the log.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            StoreError::Query(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> ApiError {
        ApiError::BadRequest(err.0)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// The JSON body of an error.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => {
                let body = ErrorBody {
                    error: self.to_string(),
                };
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "storage unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = ErrorBody {
            error: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
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

/// Body of `GET /api/v1/conversations` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationsResponse {
    /// Start of the window, epoch ms; `null` for all time.
    pub from_ms: Option<u64>,
    /// End of the window (exclusive), epoch ms; `null` for all time.
    pub to_ms: Option<u64>,
    pub sort: String,
    pub limit: u64,
    pub offset: u64,
    /// Over every matching conversation, not only this page.
    pub totals: Totals,
    pub conversations: Vec<Conversation>,
}

async fn conversations<S: Store>(
    State(state): State<AppState<S>>,
    params: Result<Query<RawParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(raw) = params?;
    let query = ConversationQuery::parse(&raw, SystemTime::now(), state.max_limit)?;
    let page = state.store.conversations(&query).await?;
    Ok(match query.format {
        Format::Json => Json(ConversationsResponse {
            from_ms: query.window.map(|w| w.from_ms),
            to_ms: query.window.map(|w| w.to_ms),
            sort: query.sort.to_param(),
            limit: query.limit,
            offset: query.offset,
            totals: page.totals,
            conversations: page.conversations,
        })
        .into_response(),
        Format::Csv => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"conversations.csv\""),
                ),
            ],
            to_csv(&page.conversations),
        )
            .into_response(),
    })
}

/// Columns of the CSV export, in order.
pub const CSV_COLUMNS: [&str; 18] = [
    "src_vm",
    "src_addr",
    "dst_vm",
    "dst_addr",
    "src_zone",
    "dst_zone",
    "proto",
    "dst_port",
    "verdict",
    "rule",
    "severity",
    "same_host",
    "observers",
    "flows",
    "packets",
    "bytes",
    "start_ms",
    "end_ms",
];

/// RFC 4180 CSV with a header line; observers are joined with spaces.
pub fn to_csv(conversations: &[Conversation]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for c in conversations {
        let fields = [
            c.src_vm.clone(),
            c.src_addr.clone().unwrap_or_default(),
            c.dst_vm.clone(),
            c.dst_addr.clone().unwrap_or_default(),
            c.src_zone.clone(),
            c.dst_zone.clone(),
            c.proto.to_string(),
            c.dst_port.to_string(),
            c.verdict.clone(),
            c.rule.clone(),
            c.severity.clone(),
            u8::from(c.same_host).to_string(),
            c.observers.join(" "),
            c.flows.to_string(),
            c.packets.to_string(),
            c.bytes.to_string(),
            c.start_ms.to_string(),
            c.end_ms.to_string(),
        ];
        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Page;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// A store that fails the way a broken query does, to check that the
    /// detail stays out of the response.
    struct FailingStore;

    impl Store for FailingStore {
        async fn conversations(&self, _: &ConversationQuery) -> Result<Page, StoreError> {
            Err(StoreError::Query(
                "Code: 60, Table secret_db.flows doesn't exist".into(),
            ))
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
        let (status, body) = get("/api/v1/conversations?range=all").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, r#"{"error":"internal error"}"#);
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
        let (status, body) = get("/api/v2/nothing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, r#"{"error":"not found"}"#);
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let c = Conversation {
            src_vm: "a,b".into(),
            src_addr: None,
            dst_vm: String::new(),
            dst_addr: Some("10.0.0.1".into()),
            src_zone: "z\"q".into(),
            dst_zone: "db".into(),
            proto: 6,
            dst_port: 443,
            verdict: "violation".into(),
            rule: "line\nbreak".into(),
            severity: "critical".into(),
            same_host: true,
            observers: vec!["esx-01".into(), "esx-02".into()],
            flows: 1,
            packets: 2,
            bytes: 3,
            start_ms: 4,
            end_ms: 5,
        };
        let csv = to_csv(&[c]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "\"a,b\",,,10.0.0.1,\"z\"\"q\",db,6,443,violation,\"line\nbreak\",critical,1,esx-01 esx-02,1,2,3,4,5"
        );
    }
}
