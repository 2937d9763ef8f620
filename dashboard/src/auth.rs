//! Authentication and roles: bearer tokens from the configuration, stored as
//! SHA-256 digests, each with a [`Role`].
//!
//! [`router`](crate::api::router) puts the [`Auth`] into every request's
//! extensions and checks that `/api/v1` requests (except `health` and
//! `openapi.json`) carry a `viewer` token at least. Handlers that change
//! something take the [`Admin`] extractor; [`Viewer`] is there for handlers
//! that want to know who asked. Both work with any router state, so other
//! modules' routes use them as they are:
//!
//! ```ignore
//! async fn post_event(Admin(who): Admin, Json(event): Json<Event>) -> Result<..., ApiError> { ... }
//! ```

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::ApiError;

/// What a token allows; each role includes everything the ones before it
/// may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read: every `GET`, and evaluations that change nothing (what-if).
    Viewer,
    /// Download packets (`/api/v1/packets`): they are evidence, and
    /// sensitive.
    Responder,
    /// Change: the policy, inventory events.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }
}

/// Who made a request: the configured token's name and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// One accepted token: its name (for logs), the SHA-256 of the token, its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    pub name: String,
    pub digest: [u8; 32],
    pub role: Role,
}

/// The token check the router applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Every request is let in as an anonymous admin (loopback only, or
    /// `auth.mode = "off"`).
    Disabled,
    /// Requests need a bearer token whose SHA-256 is one of these.
    Tokens(Vec<TokenEntry>),
}

pub use eastwest_core::token::{digest_hex as token_digest_hex, parse_digest_hex};

impl Auth {
    /// Who presented `authorization` (the header's value, if any).
    pub fn check(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let tokens = match self {
            Auth::Disabled => {
                return Ok(Principal {
                    name: "anonymous".into(),
                    role: Role::Admin,
                })
            }
            Auth::Tokens(tokens) => tokens,
        };
        let token = eastwest_core::token::bearer(authorization).ok_or(ApiError::Unauthorized)?;
        let found = eastwest_core::token::find(tokens.iter().map(|entry| &entry.digest), token)
            .and_then(|i| tokens.get(i));
        found
            .map(|entry| Principal {
                name: entry.name.clone(),
                role: entry.role,
            })
            .ok_or(ApiError::Unauthorized)
    }
}

fn principal_of(extensions: &Extensions, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let auth = extensions
        .get::<Arc<Auth>>()
        .ok_or_else(|| ApiError::Internal("route served without the auth layer".into()))?;
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    auth.check(header)
}

/// Extractor: the request carries a token of role `viewer` or higher.
#[derive(Debug, Clone)]
pub struct Viewer(pub Principal);

/// Extractor: the request carries a `responder` or `admin` token (else
/// 401 or 403).
#[derive(Debug, Clone)]
pub struct Responder(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Responder {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Responder, ApiError> {
        let principal = principal_of(&parts.extensions, &parts.headers)?;
        if principal.role < Role::Responder {
            tracing::info!(token = %principal.name, path = %parts.uri.path(), "responder role required");
            return Err(ApiError::Forbidden);
        }
        Ok(Responder(principal))
    }
}

/// Extractor: the request carries an `admin` token (else 401 or 403).
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Viewer, ApiError> {
        principal_of(&parts.extensions, &parts.headers).map(Viewer)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Admin, ApiError> {
        let principal = principal_of(&parts.extensions, &parts.headers)?;
        if principal.role < Role::Admin {
            tracing::info!(token = %principal.name, path = %parts.uri.path(), "admin role required");
            return Err(ApiError::Forbidden);
        }
        Ok(Admin(principal))
    }
}

/// Paths under `/api/v1` that need no token.
const OPEN_PATHS: [&str; 2] = ["/api/v1/health", "/api/v1/openapi.json"];

/// Middleware: every `/api/v1` request except `OPEN_PATHS` needs a viewer
/// token (handlers ask for more with [`Admin`]).
pub async fn require_viewer(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") && !OPEN_PATHS.contains(&path) {
        if let Err(err) = principal_of(request.extensions(), request.headers()) {
            return err.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::Tokens(vec![
            TokenEntry {
                name: "noc".into(),
                digest: parse_digest_hex(&token_digest_hex("view-secret")).unwrap(),
                role: Role::Viewer,
            },
            TokenEntry {
                name: "ops".into(),
                digest: parse_digest_hex(&token_digest_hex("admin-secret")).unwrap(),
                role: Role::Admin,
            },
            TokenEntry {
                name: "csirt".into(),
                digest: parse_digest_hex(&token_digest_hex("responder-secret")).unwrap(),
                role: Role::Responder,
            },
        ])
    }

    /// A route that needs an admin, as other modules write them.
    async fn request(method: &str, token: Option<&str>) -> axum::http::StatusCode {
        use axum::body::Body;
        use axum::routing::get;
        use tower::ServiceExt;
        async fn read(Viewer(who): Viewer) -> String {
            who.name
        }
        async fn change(Admin(who): Admin) -> String {
            who.name
        }
        async fn evidence(Responder(who): Responder) -> String {
            who.name
        }
        let app = axum::Router::new()
            .route("/api/v1/thing", get(read).post(change).put(evidence))
            .layer(axum::middleware::from_fn(require_viewer))
            .layer(axum::Extension(Arc::new(auth())));
        let mut builder = axum::http::Request::builder()
            .method(method)
            .uri("/api/v1/thing");
        if let Some(token) = token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        app.oneshot(builder.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn viewer_reads_admin_changes() {
        use axum::http::StatusCode;
        assert_eq!(request("GET", None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(request("GET", Some("nope")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(request("GET", Some("view-secret")).await, StatusCode::OK);
        assert_eq!(
            request("POST", Some("view-secret")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(request("POST", Some("admin-secret")).await, StatusCode::OK);
        assert_eq!(request("POST", None).await, StatusCode::UNAUTHORIZED);
        // Packets: responder and admin, not a viewer.
        assert_eq!(
            request("PUT", Some("view-secret")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            request("PUT", Some("responder-secret")).await,
            StatusCode::OK
        );
        assert_eq!(request("PUT", Some("admin-secret")).await, StatusCode::OK);
        assert_eq!(
            request("POST", Some("responder-secret")).await,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn tokens_map_to_roles() {
        let auth = auth();
        let viewer = auth.check(Some("Bearer view-secret")).unwrap();
        assert_eq!((viewer.name.as_str(), viewer.role), ("noc", Role::Viewer));
        let admin = auth.check(Some("Bearer admin-secret")).unwrap();
        assert_eq!(admin.role, Role::Admin);
        for bad in [
            None,
            Some(""),
            Some("Bearer "),
            Some("view-secret"),
            Some("Basic dmlldy1zZWNyZXQ="),
            Some("Bearer view-secret2"),
        ] {
            assert!(
                matches!(auth.check(bad), Err(ApiError::Unauthorized)),
                "{bad:?}"
            );
        }
        assert_eq!(Auth::Disabled.check(None).unwrap().role, Role::Admin);
    }
}
