//! [`ApiError`]: the error of every handler, and how a client sees it (a
//! status and `{"error": "..."}`; internals go to the log, never to the
//! client). Its own module, so the handlers (`api`, `policy`) and the
//! authentication layer (`auth`) all use it without importing each other.

use axum::extract::rejection::QueryRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::query::ParamError;
use crate::store::StoreError;

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
    #[error("forbidden: the token's role does not allow this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// Not found, saying what (only the client's own input).
    #[error("{0}")]
    NotFoundWhat(String),
    /// Storage is down or too slow.
    #[error("storage unavailable")]
    Unavailable(String),
    /// The PDF renderer (headless Chromium) failed; the detail is logged.
    #[error("pdf renderer unavailable")]
    RendererUnavailable(String),
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

pub use eastwest_api::ErrorBody;

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
            ApiError::NotFound | ApiError::NotFoundWhat(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "storage unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::RendererUnavailable(detail) => {
                tracing::error!(%detail, "pdf renderer unavailable");
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
