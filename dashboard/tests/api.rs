//! The API against a real ClickHouse holding rows inserted here.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use eastwest_dashboard::api::{router, AppState, ConversationsResponse, CSV_COLUMNS};
use eastwest_dashboard::store::Conversation;
use http_body_util::BodyExt;
use tower::ServiceExt;

use common::*;

async fn app() -> Router {
    let store = store_with(&lab_rows()).await;
    router(AppState::new(store, 1000))
}

async fn get(app: &Router, uri: &str) -> (StatusCode, String, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

async fn conversations(app: &Router, query: &str) -> ConversationsResponse {
    let (status, content_type, body) = get(app, &format!("/api/v1/conversations?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    assert_eq!(content_type, "application/json");
    serde_json::from_str(&body).unwrap()
}

fn pair(c: &Conversation) -> String {
    let src = c.src_addr.as_deref().unwrap_or(&c.src_vm);
    let dst = c.dst_addr.as_deref().unwrap_or(&c.dst_vm);
    format!("{src}>{dst}")
}

fn pairs(r: &ConversationsResponse) -> Vec<String> {
    r.conversations.iter().map(pair).collect()
}

#[tokio::test]
async fn conversations_are_grouped_and_counted_once() {
    let app = app().await;
    let r = conversations(&app, "range=all&dataset=lab").await;
    assert_eq!(
        pairs(&r),
        [
            "payroll-01>fin-web-01",
            "web-01>app-01",
            "web-01>db-01",
            "203.0.113.7>web-01",
            "2001:db8::7>web-01",
            "o'brien; DROP TABLE flows -->app-01",
        ]
    );
    assert_eq!(r.from_ms, None);
    assert_eq!(r.sort, "-bytes");

    // Mirrored at both hosts: bytes, packets and flows counted once, both observers listed.
    let web_app = &r.conversations[1];
    assert_eq!(web_app.bytes, 3000);
    assert_eq!(web_app.packets, 30);
    assert_eq!(web_app.flows, 2);
    assert_eq!(web_app.observers, ["esx-01", "esx-02"]);
    assert_eq!(web_app.start_ms, T0);
    assert_eq!(web_app.end_ms, T0 + 62_000);
    assert_eq!(
        (web_app.src_zone.as_str(), web_app.dst_zone.as_str()),
        ("dmz", "app")
    );
    assert_eq!((web_app.proto, web_app.dst_port), (6, 8080));
    assert!(!web_app.same_host);
    // Known VMs carry no address.
    assert_eq!(
        (web_app.src_addr.as_deref(), web_app.dst_addr.as_deref()),
        (None, None)
    );

    let violation = &r.conversations[0];
    assert_eq!(violation.verdict, "violation");
    assert_eq!(violation.rule, PAYROLL_RULE);
    assert_eq!(violation.severity, "critical");
    assert!(violation.same_host);

    // Two flows from one unknown address are one conversation.
    let outside = &r.conversations[3];
    assert_eq!(outside.src_vm, "");
    assert_eq!(outside.src_addr.as_deref(), Some("203.0.113.7"));
    assert_eq!((outside.flows, outside.bytes), (2, 400));
    assert_eq!(outside.verdict, "unknown");

    assert_eq!(r.totals.conversations, 6);
    assert_eq!(r.totals.violations, 2);
    assert_eq!(r.totals.flows, 8);
    assert_eq!(r.totals.bytes, 3000 + 5000 + 700 + 400 + 100 + 50);
    assert_eq!(r.totals.packets, 30 + 50 + 7 + 4 + 1);
}

#[tokio::test]
async fn filters() {
    let app = app().await;
    let r = conversations(&app, "range=all&dataset=lab&verdict=violation").await;
    assert_eq!(pairs(&r), ["payroll-01>fin-web-01", "web-01>db-01"]);
    assert_eq!(r.totals.violations, 2);

    let r = conversations(&app, "range=all&dataset=lab&vm=db-01").await;
    assert_eq!(pairs(&r), ["web-01>db-01"]);

    let r = conversations(&app, "range=all&dataset=lab&zone=payroll").await;
    assert_eq!(pairs(&r), ["payroll-01>fin-web-01"]);

    let r = conversations(&app, "range=all&dataset=lab&same_host=true").await;
    assert_eq!(pairs(&r), ["payroll-01>fin-web-01"]);
    let r = conversations(&app, "range=all&dataset=lab&same_host=0").await;
    assert_eq!(r.totals.conversations, 5);

    // No dataset filter: the `other` replay's row joins web-01 → app-01? No:
    // its rule differs, so it is a conversation of its own.
    let r = conversations(&app, "range=all").await;
    assert_eq!(r.totals.conversations, 7);
    let r = conversations(&app, "range=all&dataset=other").await;
    assert_eq!(pairs(&r), ["web-01>app-01"]);
    assert_eq!(r.totals.bytes, 9);
}

#[tokio::test]
async fn time_windows() {
    let app = app().await;
    // The lab day only (RFC 3339), then the day before only (epoch seconds).
    let day = "from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z&dataset=lab";
    let r = conversations(&app, day).await;
    assert_eq!(r.totals.conversations, 5);
    assert_eq!(r.from_ms, Some(1_793_577_600_000));
    assert!(!pairs(&r).iter().any(|p| p.starts_with("o'brien")));
    let before = format!(
        "from={}&to={}",
        (T0 - 86_400_000) / 1000,
        (T0 - 86_399_000) / 1000
    );
    let r = conversations(&app, &before).await;
    assert_eq!(pairs(&r), ["o'brien; DROP TABLE flows -->app-01"]);
    // The window is [from, to): a flow starting at `to` is outside.
    let r = conversations(
        &app,
        &format!("from={}&to={}&dataset=lab", T0 / 1000 - 60, T0 / 1000),
    )
    .await;
    assert_eq!(r.totals.conversations, 0);
    // Relative ranges end now; the rows are from 2026-11-02.
    let r = conversations(&app, "range=1h").await;
    assert!(r.to_ms.unwrap() > T0);
    assert_eq!(r.to_ms.unwrap() - r.from_ms.unwrap(), 3_600_001);
}

#[tokio::test]
async fn sorting_and_paging() {
    let app = app().await;
    let r = conversations(&app, "range=all&dataset=lab&sort=bytes").await;
    assert_eq!(
        pairs(&r).first().unwrap(),
        "o'brien; DROP TABLE flows -->app-01"
    );
    assert_eq!(pairs(&r).last().unwrap(), "payroll-01>fin-web-01");
    let r = conversations(&app, "range=all&dataset=lab&sort=dst_port").await;
    let ports: Vec<u16> = r.conversations.iter().map(|c| c.dst_port).collect();
    assert_eq!(ports, [443, 443, 443, 5432, 8080, 8080]);
    let r = conversations(&app, "range=all&dataset=lab&sort=-flows").await;
    assert_eq!(r.conversations[0].flows, 2);

    let r = conversations(&app, "range=all&dataset=lab&limit=2&offset=1").await;
    assert_eq!(pairs(&r), ["web-01>app-01", "web-01>db-01"]);
    assert_eq!((r.limit, r.offset), (2, 1));
    assert_eq!(r.totals.conversations, 6, "totals cover every page");
    let r = conversations(&app, "range=all&dataset=lab&offset=100").await;
    assert!(r.conversations.is_empty());
}

#[tokio::test]
async fn csv_export() {
    let app = app().await;
    let (status, content_type, body) = get(
        &app,
        "/api/v1/conversations?range=all&dataset=lab&verdict=violation&format=csv",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], CSV_COLUMNS.join(","));
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].starts_with(&format!(
            "payroll-01,,fin-web-01,,payroll,finance-frontend,6,443,violation,{PAYROLL_RULE},critical,1,esx-03,1,50,5000,"
        )),
        "{}",
        lines[1]
    );
}

#[tokio::test]
async fn sql_looking_values_are_data() {
    let app = app().await;
    for hostile in [
        "x' OR 1=1 --",
        "x') OR ('1'='1",
        "\\' OR 1=1 --",
        "web-01' UNION SELECT 1 --",
    ] {
        let q = format!("range=all&vm={}", urlencode(hostile));
        let r = conversations(&app, &q).await;
        assert_eq!(r.totals.conversations, 0, "{hostile}");
        let q = format!("range=all&dataset={}", urlencode(hostile));
        assert_eq!(
            conversations(&app, &q).await.totals.conversations,
            0,
            "{hostile}"
        );
    }
    // The VM that is named like SQL is found by its exact name.
    let q = format!("range=all&vm={}", urlencode(ODD.0));
    let r = conversations(&app, &q).await;
    assert_eq!(pairs(&r), ["o'brien; DROP TABLE flows -->app-01"]);
    // And the table is still there.
    assert_eq!(
        conversations(&app, "range=all").await.totals.conversations,
        7
    );
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let app = app().await;
    for query in [
        "verdict=allowed%27%20OR%201%3D1",
        "sort=bytes%3B%20DROP%20TABLE%20flows",
        "sort=rule",
        "limit=1001",
        "limit=ten",
        "offset=-1",
        "from=yesterday",
        "from=1793613600&to=1793613500",
        "range=1h&from=1793613600",
        "range=forever",
        "same_host=maybe",
        "format=xml",
        "unknown=1",
    ] {
        let (status, content_type, body) =
            get(&app, &format!("/api/v1/conversations?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(content_type, "application/json");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn health_and_page() {
    let app = app().await;
    let (status, content_type, body) = get(&app, "/api/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json");
    assert_eq!(body, r#"{"status":"ok"}"#);

    let (status, content_type, body) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(body.contains("<title>eastwest"));
    assert!(body.contains("/assets/app.js") && body.contains("/assets/style.css"));
    // No third-party resources.
    assert!(!body.contains("https://") && !body.contains("http://"));

    let (status, content_type, body) = get(&app, "/assets/app.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/javascript; charset=utf-8");
    assert!(body.contains("/api/v1/"));
    let (status, content_type, _) = get(&app, "/assets/style.css").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/css; charset=utf-8");
    let (status, _, body) = get(&app, "/assets/missing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"error":"not found"}"#);
}

#[tokio::test]
async fn json_fields_are_schema_columns() {
    let app = app().await;
    let (_, _, body) = get(&app, "/api/v1/conversations?range=all&limit=1").await;
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let row = value["conversations"][0].as_object().unwrap();
    let columns: Vec<&str> = eastwest_core::schema::FLOWS_COLUMNS
        .iter()
        .map(|c| c.name)
        .collect();
    for key in row.keys() {
        // Two aggregates have names of their own.
        if key == "observers" || key == "flows" {
            continue;
        }
        assert!(
            columns.contains(&key.as_str()),
            "{key} is not a flows column"
        );
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
