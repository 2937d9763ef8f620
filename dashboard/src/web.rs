//! The web page: built from `web/` (TypeScript + ECharts, bundled by
//! esbuild; see `build.rs`) and compiled into the binary, so the dashboard
//! needs no files at run time and the page loads nothing from elsewhere
//! (the Content-Security-Policy says so too).

use axum::http::{header, HeaderName};
use axum::response::IntoResponse;

const INDEX_HTML: &str = include_str!(concat!(env!("OUT_DIR"), "/web/index.html"));
const APP_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/web/app.js"));
const APP_CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/web/app.css"));

/// Only this origin's scripts, styles, API and images (ECharts draws on a
/// canvas; downloads are `blob:` URLs); no frames, no inline scripts.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    let headers: [(HeaderName, &'static str); 4] = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // The page changes only with the binary; revalidate so an upgrade shows at once.
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, body)
}

pub async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

pub async fn app_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub async fn style_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}
