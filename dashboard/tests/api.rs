//! The API against a real ClickHouse holding rows inserted here.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use eastwest_dashboard::api::{router, AppState, ConversationsResponse};
use eastwest_dashboard::model::{percent_encode, Conversation, CsvRow, Severity, VerdictKind};
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
    let src = c.client_addr.as_deref().unwrap_or(&c.client_vm);
    let dst = c.server_addr.as_deref().unwrap_or(&c.server_vm);
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
    // range=all is answered by the hourly rollup, first and last seen by
    // `conversations_seen`: the flows' own times, not the hour's bounds.
    assert_eq!(r.resolution, "1h");
    let times: Vec<(u64, u64)> = lab_rows()
        .iter()
        .filter(|f| f.src_vm == "web-01" && f.dst_port == 8080 && f.rule == "app tier")
        .map(|f| (f.start_ms, f.end_ms))
        .collect();
    assert_eq!(times.len(), 4, "two flows at each observer");
    assert_eq!(web_app.start_ms, times.iter().map(|t| t.0).min().unwrap());
    assert_eq!(web_app.end_ms, times.iter().map(|t| t.1).max().unwrap());
    assert!(web_app.end_ms < T0 + 3_600_000);
    assert_eq!((web_app.bytes_fwd, web_app.bytes_rev), (3000, 0));
    assert_eq!(
        (web_app.client_zone.as_str(), web_app.server_zone.as_str()),
        ("dmz", "app")
    );
    assert_eq!((web_app.proto, web_app.server_port), (6, 8080));
    assert!(!web_app.same_host);
    // Known VMs carry no address.
    assert_eq!(
        (
            web_app.client_addr.as_deref(),
            web_app.server_addr.as_deref()
        ),
        (None, None)
    );

    let violation = &r.conversations[0];
    assert_eq!(violation.verdict, VerdictKind::Violation);
    assert_eq!(violation.rule, PAYROLL_RULE);
    assert_eq!(violation.severity, Some(Severity::Critical));
    assert!(violation.same_host);

    // Two flows from one unknown address are one conversation.
    let outside = &r.conversations[3];
    assert_eq!(outside.client_vm, "");
    assert_eq!(outside.client_addr.as_deref(), Some("203.0.113.7"));
    assert_eq!((outside.flows, outside.bytes), (2, 400));
    assert_eq!(outside.verdict, VerdictKind::Unknown);

    assert_eq!(r.totals.conversations, 6);
    assert_eq!(r.totals.violations, 2);
    assert_eq!(r.totals.flows, 9);
    assert_eq!(r.totals.bytes, 3000 + 5000 + 2000 + 700 + 400 + 100 + 50);
    assert_eq!(r.totals.packets, 30 + 50 + 20 + 7 + 4 + 1);
    // Both directions of payroll-01 → fin-web-01 in one conversation.
    assert_eq!((violation.bytes_fwd, violation.bytes_rev), (5000, 2000));
    assert_eq!((violation.packets_fwd, violation.packets_rev), (50, 20));
    assert_eq!(violation.flows, 2);
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
    assert_eq!(r.to_ms.unwrap() % 60_000, 0);
    // Whole minutes: no raw rows (1h when the window holds a whole hour,
    // else 10m).
    assert!(
        ["10m", "1h"].contains(&r.resolution.as_str()),
        "{}",
        r.resolution
    );
    assert!(r.to_ms.unwrap() - r.from_ms.unwrap() <= 3_660_000);
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
    let r = conversations(&app, "range=all&dataset=lab&sort=server_port").await;
    let ports: Vec<u16> = r.conversations.iter().map(|c| c.server_port).collect();
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

/// A page is read by its keys (the cheap grouping picks the page's
/// conversations, then only those are read in full) unless it is larger
/// than `sql::MAX_PAGE_KEYS`, when one statement groups every
/// conversation in full: both give the same rows in the same order, for
/// every sort, across pages, with ties (three conversations on port 443),
/// over a window whose edges come from raw flows and flows_1m, and over
/// windows of more than a week, whose days the one statement reads from
/// flows_1d and the page by keys from conversations_1h (the flows in a
/// whole hour, then in a whole day).
#[tokio::test]
async fn pages_by_keys_equal_the_one_statement_page() {
    use eastwest_dashboard::sql::MAX_PAGE_KEYS;
    let store = store_with(&lab_rows()).await;
    let app = router(AppState::new(store, MAX_PAGE_KEYS + 1));
    let lab = T0 / 1000;
    let sorts = [
        "bytes",
        "packets",
        "flows",
        "bytes_fwd",
        "bytes_rev",
        "start_ms",
        "end_ms",
        "client_vm",
        "server_vm",
        "client_zone",
        "server_zone",
        "proto",
        "server_port",
        "verdict",
        "severity",
    ];
    let rows = |r: &ConversationsResponse| -> Vec<String> {
        r.conversations
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect()
    };
    let every: Vec<String> = sorts
        .iter()
        .flat_map(|s| [s.to_string(), format!("-{s}")])
        .collect();
    let some: Vec<String> = ["bytes", "-server_port", "client_zone", "-start_ms"]
        .map(String::from)
        .to_vec();
    // The filters on the oriented rows (VM, host) apply to both statements
    // of a page by keys.
    for (window, sorts) in [
        ("range=all".to_string(), every),
        (format!("from={}&to={}", lab - 1, lab + 601), some.clone()),
        (
            format!("from={}&to={}", lab - 8 * 86_400 - 1, lab + 2 * 3600 + 61),
            some.clone(),
        ),
        (
            format!("from={}&to={}", lab - 8 * 86_400 - 1, lab + 14 * 3600 + 61),
            some.clone(),
        ),
        ("range=all&vm=web-01".to_string(), some.clone()),
        ("range=all&host=esx-02".to_string(), some),
    ] {
        for sort in sorts {
            let base = format!("{window}&dataset=lab&sort={sort}");
            let one = conversations(&app, &format!("{base}&limit={}", MAX_PAGE_KEYS + 1)).await;
            let n = one.conversations.len();
            assert!(n >= 3, "{base}: {n} conversations");
            assert_eq!(n as u64, one.totals.conversations, "{base}");
            let mut paged = Vec::new();
            for offset in (0..n).step_by(2) {
                let r = conversations(&app, &format!("{base}&limit=2&offset={offset}")).await;
                assert_eq!(r.totals, one.totals, "{base}");
                paged.extend(rows(&r));
            }
            assert_eq!(paged, rows(&one), "{base}");
        }
    }
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
    assert_eq!(lines[0], Conversation::COLUMNS.join(","));
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].starts_with(&format!(
            "payroll-01,,payroll,esx-03,fin-web-01,,finance-frontend,esx-03,6,443,violation,{PAYROLL_RULE},critical,1,esx-03,2,50,5000,20,2000,70,7000,"
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
        let q = format!("range=all&vm={}", percent_encode(hostile));
        let r = conversations(&app, &q).await;
        assert_eq!(r.totals.conversations, 0, "{hostile}");
        let q = format!("range=all&dataset={}", percent_encode(hostile));
        assert_eq!(
            conversations(&app, &q).await.totals.conversations,
            0,
            "{hostile}"
        );
    }
    // The VM that is named like SQL is found by its exact name.
    let q = format!("range=all&vm={}", percent_encode(ODD.0));
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
async fn every_resolution_gives_the_same_counts() {
    use eastwest_dashboard::sql::MAX_PAGE_KEYS;
    let store = store_with(&lab_rows()).await;
    let app = router(AppState::new(store, MAX_PAGE_KEYS + 1));
    // Hour-aligned, minute-aligned and unaligned windows over the lab day
    // (whole hours from flows_1h, the edges from flows_10m, flows_1m and
    // raw flows),
    // and windows too short for a whole hour or minute.
    let day = 1_793_577_600u64;
    let lab = T0 / 1000;
    let mut seen = Vec::new();
    for (from, to, resolution) in [
        (day, day + 86_400, "1h"),
        (day + 60, day + 86_400, "1h"),
        (day + 1, day + 86_400, "1h"),
        (lab - 1, lab + 601, "10m"),
        (lab, lab + 600, "10m"),
        (lab - 1, lab + 121, "1m"),
        // A week: whole days from flows_1d, hours and minutes around them.
        (day, day + 7 * 86_400 + 3_660, "1d"),
    ] {
        let r = conversations(&app, &format!("from={from}&to={to}&dataset=lab")).await;
        assert_eq!(r.resolution, resolution);
        let counts: Vec<(String, u64, u64, u64)> = r
            .conversations
            .iter()
            .map(|c| (pair(c), c.flows, c.packets, c.bytes))
            .collect();
        seen.push((counts, r.totals));
    }
    for other in &seen[1..] {
        assert_eq!(&seen[0], other);
    }
    // Rows from a rollup carry the real first and last seen over the
    // window's whole hours (from `conversations_seen`); at the window's
    // edges, outside whole hours, their bucket's bounds (here the 10
    // minutes from T0); a window without a whole minute reads raw flows,
    // with their own.
    // (web-01 → app-01, the only conversation of app-01 that day.)
    let app_01 = lab_rows()
        .iter()
        .filter(|f| f.src_vm == "web-01" && f.dst_vm == "app-01" && f.rule == "app tier")
        .fold((u64::MAX, 0), |(first, last), f| {
            (first.min(f.start_ms), last.max(f.end_ms))
        });
    let r = conversations(
        &app,
        &format!("from={}&to={}&dataset=lab&vm=app-01", day + 1, day + 86_400),
    )
    .await;
    assert_eq!(r.conversations.len(), 1);
    assert_eq!(
        (r.conversations[0].start_ms, r.conversations[0].end_ms),
        app_01
    );
    assert!(app_01.1 < T0 + 600_000, "{app_01:?}");
    for limit in [10, MAX_PAGE_KEYS + 1] {
        let r = conversations(
            &app,
            &format!(
                "from={}&to={}&dataset=lab&vm=app-01&limit={limit}",
                lab - 1,
                lab + 601
            ),
        )
        .await;
        assert_eq!(r.resolution, "10m");
        assert_eq!(r.conversations[0].start_ms, T0);
        assert_eq!(r.conversations[0].end_ms, T0 + 600_000);
    }
    let r = conversations(
        &app,
        &format!("from={}&to={}&dataset=lab&vm=app-01", lab, lab + 59),
    )
    .await;
    assert_eq!(r.resolution, "raw");
    assert_eq!(r.conversations[0].start_ms, T0);
}

async fn json(app: &Router, uri: &str) -> serde_json::Value {
    let (status, _, body) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn matrix_violations_flows_vms_hosts() {
    let app = app().await;
    let m = json(&app, "/api/v1/zones/matrix?range=all&dataset=lab").await;
    let cell = m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_zone"] == "payroll" && c["server_zone"] == "finance-frontend")
        .unwrap();
    assert_eq!(
        (cell["conversations"].as_u64(), cell["violations"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(cell["violation_bytes"], 7000);
    assert!(m["zones"].as_array().unwrap().contains(&"dmz".into()));

    let v = json(&app, "/api/v1/violations?range=all&dataset=lab").await;
    assert_eq!(v["total"], 2);
    let list = v["violations"].as_array().unwrap();
    // Newest first: web-01 → db-01 started 1 s after payroll → fin.
    assert_eq!(list[0]["server_vm"], "db-01");
    assert_eq!(list[1]["rule"], PAYROLL_RULE);
    assert_eq!(list[1]["first_ms"], T0 + 1_000);
    assert_eq!(list[1]["observation_points"][0]["observer"], "esx-03");
    let link = list[1]["flows_url"].as_str().unwrap();
    let flows = json(&app, &format!("{link}&dataset=lab")).await;
    assert_eq!(flows["total"], 2);
    // Newest first: the reply, then the request.
    assert_eq!(flows["flows"][0]["src_vm"], "fin-web-01");
    assert_eq!(flows["flows"][0]["reply"], true);
    assert_eq!(flows["flows"][1]["src_vm"], "payroll-01");
    assert_eq!(flows["flows"][1]["bytes"], 5000);

    let vm = json(&app, "/api/v1/vms/app-01?range=all").await;
    assert_eq!(vm["zones"], serde_json::json!(["app"]));
    assert_eq!(vm["placements"][0]["host"], "esx-02");
    assert!(vm["totals"]["conversations"].as_u64().unwrap() >= 2);
    let (status, _, body) = get(&app, "/api/v1/vms/nobody?range=all").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let hosts = json(&app, "/api/v1/hosts?range=all&dataset=lab").await;
    let esx03 = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "esx-03")
        .unwrap();
    assert_eq!(esx03["local_conversations"], 1);
    assert_eq!(esx03["local_cross_zone"], 1);
    assert_eq!(esx03["vms"], 2);
    let host = json(&app, "/api/v1/hosts/esx-03?range=all&dataset=lab").await;
    assert_eq!(host["vms"], serde_json::json!(["fin-web-01", "payroll-01"]));
    assert_eq!(host["conversations"].as_array().unwrap().len(), 1);
    let (status, _, _) = get(&app, "/api/v1/hosts/esx-99?range=all").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // No collector snapshot in this database: the exporters come from the flows.
    let e = json(&app, "/api/v1/exporters").await;
    assert_eq!(e["source"], "flows");
    assert_eq!(e["exporters"][0]["exporter"], "127.0.0.1");
    assert!(e["exporters"][0]["flows"].as_u64().unwrap() >= 10);

    // Every list as CSV too: a header, then one row per item of the JSON
    // answer, each starting with that item's first column.
    for (uri, key) in [
        ("/api/v1/zones/matrix?range=all", "cells"),
        ("/api/v1/violations?range=all", "violations"),
        ("/api/v1/flows?range=all", "flows"),
        ("/api/v1/hosts?range=all", "hosts"),
        ("/api/v1/timeseries?range=all", "points"),
        ("/api/v1/exporters", "exporters"),
    ] {
        let answer = json(&app, uri).await;
        let items = answer[key].as_array().unwrap();
        assert!(!items.is_empty(), "{uri}: nothing to export");
        let sep = if uri.contains('?') { '&' } else { '?' };
        let csv_uri = format!("{uri}{sep}format=csv");
        let (status, content_type, body) = get(&app, &csv_uri).await;
        assert_eq!(status, StatusCode::OK, "{csv_uri}: {body}");
        assert_eq!(content_type, "text/csv; charset=utf-8", "{csv_uri}");
        let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), items.len() + 1, "{csv_uri}: {body}");
        let first_column = lines[0].split(',').next().unwrap();
        for (row, item) in lines[1..].iter().zip(items) {
            let first = match &item[first_column] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert!(
                row.starts_with(&format!("{first},")),
                "{csv_uri}: row {row:?} for {item}"
            );
        }
    }
    let (status, content_type, body) = get(&app, "/api/v1/report?range=all&format=csv").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert!(body.contains("\r\nsummary,statement,"), "{body}");
    assert!(body.contains("\r\ncoverage,"), "{body}");
}

#[tokio::test]
async fn timeseries_sums_to_the_totals() {
    let app = app().await;
    let t = json(&app, "/api/v1/timeseries?range=all&dataset=lab").await;
    let points = t["points"].as_array().unwrap();
    let bytes: u64 = points.iter().map(|p| p["bytes"].as_u64().unwrap()).sum();
    let total = conversations(&app, "range=all&dataset=lab")
        .await
        .totals
        .bytes;
    assert_eq!(bytes, total);
    assert!(points.len() <= 361, "{}", points.len());
    // Consecutive buckets, step apart, empty ones included.
    let step = t["step_ms"].as_u64().unwrap();
    for pair in points.windows(2) {
        assert_eq!(
            pair[1]["t_ms"].as_u64().unwrap() - pair[0]["t_ms"].as_u64().unwrap(),
            step
        );
    }
    let violations: u64 = points
        .iter()
        .map(|p| p["violations"].as_u64().unwrap())
        .sum();
    assert_eq!(
        violations, 3,
        "violating flows: a request, its reply, one more"
    );
}

#[tokio::test]
async fn timeseries_over_too_many_minute_rows_steps_hourly() {
    let store = store_with(&lab_rows()).await;
    let fine = router(AppState::new(store.clone(), 1000));
    let coarse = router(AppState::new(store, 1000).with_timeseries_max_minute_rows(0));
    let uri = "/api/v1/timeseries?range=all&dataset=lab";
    let (f, c) = (json(&fine, uri).await, json(&coarse, uri).await);
    assert!(f["step_ms"].as_u64().unwrap() < 3_600_000, "{f}");
    assert_eq!(c["step_ms"], 3_600_000, "{c}");
    let sum = |t: &serde_json::Value, field: &str| -> u64 {
        t["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[field].as_u64().unwrap())
            .sum()
    };
    for field in ["bytes", "packets", "flows", "violations"] {
        assert_eq!(sum(&f, field), sum(&c, field), "{field}");
    }
    assert!(sum(&c, "bytes") > 0);
    // A dataset with no rows stays fine-grained (the count is per dataset).
    let empty = json(
        &coarse,
        "/api/v1/timeseries?from=2026-11-02T09:00:00Z&to=2026-11-02T10:00:00Z&dataset=none",
    )
    .await;
    assert_eq!(empty["step_ms"], 60_000, "{empty}");
}

#[tokio::test]
async fn report_json_html_csv() {
    let app = app().await;
    let r = json(&app, "/api/v1/report?range=all&dataset=lab").await;
    assert_eq!(r["summary"]["violations"], 2);
    // All time: the report names the flows it covers.
    let lab: Vec<_> = lab_rows()
        .into_iter()
        .filter(|r| r.dataset == "lab")
        .collect();
    assert_eq!(
        (r["from_ms"].is_null(), r["dataset"].as_str()),
        (true, Some("lab"))
    );
    assert_eq!(
        r["first_flow_ms"],
        lab.iter().map(|r| r.start_ms).min().unwrap()
    );
    assert_eq!(
        r["last_flow_ms"],
        lab.iter().map(|r| r.end_ms).max().unwrap()
    );
    let pairs: Vec<String> = r["violations_by_zone_pair"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{}>{}",
                v["client_zone"].as_str().unwrap(),
                v["server_zone"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(pairs, ["dmz>db", "payroll>finance-frontend"]);
    assert_eq!(r["intra_host_cross_zone"][0]["host"], "esx-03");
    // Each violating conversation with its flows; no exporter here keeps
    // packets, so none links to them.
    let listed = r["violating_conversations"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|v| v["packets_url"].is_null()
        && v["flows_url"]
            .as_str()
            .unwrap()
            .starts_with("/api/v1/flows?")));
    assert_eq!(r["policy_revisions"][0]["revision"], "r1");
    // No exporter reported losses here; every host observed traffic.
    let hosts: Vec<&str> = r["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["host"].as_str().unwrap())
        .collect();
    assert!(hosts.contains(&"esx-03"), "{hosts:?}");
    // Per host: the lab rows observed there, their first start and last
    // end; a host where VMs ran but nothing was observed has 0 flows.
    let lab: Vec<_> = lab_rows()
        .into_iter()
        .filter(|f| f.dataset == "lab")
        .collect();
    let mut expected: Vec<String> = lab
        .iter()
        .flat_map(|f| [&f.observer, &f.src_host, &f.dst_host])
        .filter(|h| !h.is_empty())
        .map(|h| h.to_string())
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(hosts, expected);
    for c in r["coverage"].as_array().unwrap() {
        let seen: Vec<_> = lab.iter().filter(|f| *f.observer == c["host"]).collect();
        assert_eq!(c["flows"], seen.len(), "{c}");
        if let Some(first) = seen.iter().map(|f| f.start_ms).min() {
            assert_eq!(c["first_ms"], first, "{c}");
            assert_eq!(
                c["last_ms"],
                seen.iter().map(|f| f.end_ms).max().unwrap(),
                "{c}"
            );
        }
    }
    let (status, content_type, html) =
        get(&app, "/api/v1/report?range=all&dataset=lab&format=html").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(html.contains("payroll") && html.contains("Mirror coverage per host"));
}

#[tokio::test]
async fn tokens_are_required_outside_loopback() {
    use eastwest_dashboard::auth::{parse_digest_hex, token_digest_hex, Auth, Role, TokenEntry};
    let store = store_with(&lab_rows()).await;
    let auth = Auth::Tokens(vec![TokenEntry {
        name: "noc".into(),
        digest: parse_digest_hex(&token_digest_hex("s3cret")).unwrap(),
        role: Role::Viewer,
    }]);
    let app = router(AppState::new(store, 1000).with_auth(auth));
    let request = |token: Option<&str>| {
        let mut b = Request::get("/api/v1/conversations?range=all");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(Body::empty()).unwrap()
    };
    let status = |r: axum::response::Response| r.status();
    assert_eq!(
        status(app.clone().oneshot(request(None)).await.unwrap()),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(app.clone().oneshot(request(Some("wrong"))).await.unwrap()),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(app.clone().oneshot(request(Some("s3cret"))).await.unwrap()),
        StatusCode::OK
    );
    let health = Request::get("/api/v1/health").body(Body::empty()).unwrap();
    assert_eq!(status(app.oneshot(health).await.unwrap()), StatusCode::OK);
}

#[tokio::test]
async fn the_report_lists_coresidency_periods_from_the_policy() {
    use eastwest_dashboard::policy::{ClickHousePolicyStore, PolicyApi, PolicyConfig};
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("dash_cores");
    let store =
        eastwest_dashboard::store::ClickHouseStore::connect(&settings(&server.url, &database))
            .await
            .unwrap();
    insert(&server.url, &database, store.version(), &lab_rows()).await;
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let policy_api = std::sync::Arc::new(PolicyApi::new(
        PolicyConfig {
            inventory: Some(repo.join("lab/inventory.toml")),
            policy: Some(repo.join("lab/policy.toml")),
        },
        ClickHousePolicyStore::new(store.client(), &database),
    ));
    let app = router(AppState::new(store.clone(), 1000).with_coresidency(policy_api));
    // The lab's inventory has payroll-01 and fin-fe-01 on esx-03 from its
    // beginning, still: a period in any window.
    let r = json(&app, "/api/v1/report?range=all").await;
    let periods = r["coresidency"].as_array().unwrap();
    assert_eq!(periods.len(), 1, "{periods:?}");
    assert_eq!(periods[0]["host"], "esx-03");
    assert_eq!(periods[0]["until_ms"], serde_json::Value::Null);
    let (_, _, html) = get(&app, "/api/v1/report?range=all&format=html").await;
    assert!(html.contains("<td>esx-03</td>"), "{html}");
    assert!(html.contains("inventory start"));
    let (_, _, csv) = get(&app, "/api/v1/report?range=all&format=csv").await;
    assert!(
        csv.lines().any(|l| l.starts_with("coresidency,esx-03,")),
        "{csv}"
    );
    // Without the policy module the section stays "not available".
    let plain = router(AppState::new(store, 1000));
    let r = json(&plain, "/api/v1/report?range=all").await;
    assert_eq!(r["coresidency"], serde_json::Value::Null);
}

/// The observation point counted for a conversation seen at several: the
/// best rank (the client's host, then the server's, a VM-port mirror over
/// the overlay's underlay), and among equal ranks the one that saw the
/// most bytes; the page, its totals and the zone matrix agree, from the
/// hourly rollup and from raw flows.
/// An hourly series keeps the hours it has counted: asked again it answers
/// the same, and an hour that receives flows late (or a new hour) is
/// counted again, with the local point still chosen per conversation.
#[tokio::test]
async fn an_hourly_series_counts_again_the_hours_that_changed() {
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("dash_hours");
    let store =
        eastwest_dashboard::store::ClickHouseStore::connect(&settings(&server.url, &database))
            .await
            .unwrap();
    let version = store.version();
    insert(&server.url, &database, version, &lab_rows()).await;
    let app = router(AppState::new(store, 1000).with_timeseries_max_minute_rows(0));
    let uri = format!(
        "/api/v1/timeseries?from={}&to={}&dataset=lab",
        T0 / 1000 - 3600,
        T0 / 1000 + 3 * 3600
    );
    let series = |t: &serde_json::Value| -> Vec<(u64, u64, u64)> {
        assert_eq!(t["step_ms"], 3_600_000, "{t}");
        t["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["t_ms"].as_u64().unwrap(),
                    p["flows"].as_u64().unwrap(),
                    p["bytes"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let first = series(&json(&app, &uri).await);
    assert_eq!(series(&json(&app, &uri).await), first);
    let at = |t: u64| {
        first
            .iter()
            .find(|p| p.0 == t)
            .map_or((0, 0), |p| (p.1, p.2))
    };
    let before = at(T0 + 3_600_000);
    // Late flows in a counted hour: the client's host (rank 5) and its
    // VXLAN underlay (rank 4, more bytes), which must not count.
    let late = flow(
        "esx-01",
        WEB,
        APP,
        9999,
        "allowed",
        "app",
        T0 + 3_700_000,
        700,
    );
    let mut underlay = late.clone();
    underlay.encap = Some(eastwest_core::flow::Encap::Vxlan);
    underlay.bytes = 5000;
    insert(&server.url, &database, version, &[late, underlay]).await;
    let again = series(&json(&app, &uri).await);
    assert_eq!(
        again
            .iter()
            .find(|p| p.0 == T0 + 3_600_000)
            .map(|p| (p.1, p.2)),
        Some((before.0 + 1, before.1 + 700)),
        "{again:?}"
    );
    // The other hours are as they were.
    let others = |s: &[(u64, u64, u64)]| -> Vec<(u64, u64, u64)> {
        s.iter()
            .filter(|p| p.0 != T0 + 3_600_000)
            .copied()
            .collect()
    };
    assert_eq!(others(&again), others(&first));
    // The same as a series not kept hour by hour (a filter): the lab's
    // rows are all in dataset `lab`, so verdict=any is every row.
    let one = json(&app, &format!("{uri}&same_host=false")).await;
    let two = json(&app, &format!("{uri}&same_host=true")).await;
    let filtered: u64 = [one, two].iter().flat_map(series).map(|p| p.2).sum();
    assert_eq!(filtered, again.iter().map(|p| p.2).sum::<u64>());
    // A window off whole hours: its partial first and last hours counted
    // on their own, the whole ones kept; the same per bucket as the
    // series counted in full.
    let off = format!(
        "/api/v1/timeseries?from={}&to={}&dataset=lab",
        T0 / 1000 - 3600 + 61,
        T0 / 1000 + 3 * 3600 - 7
    );
    let kept = series(&json(&app, &off).await);
    let full = |filter: &str| {
        let app = app.clone();
        let uri = format!("{off}&same_host={filter}");
        async move { series(&json(&app, &uri).await) }
    };
    let (a, b) = (full("false").await, full("true").await);
    for (i, p) in kept.iter().enumerate() {
        assert_eq!(p.2, a[i].2 + b[i].2, "{kept:?}");
        assert_eq!(p.1, a[i].1 + b[i].1, "{kept:?}");
    }
    assert_eq!(series(&json(&app, &off).await), kept);
}

#[tokio::test]
async fn the_best_observation_point_is_counted() {
    let mut underlay = flow("esx-01", WEB, APP, 9000, "allowed", "app", T0, 5000);
    underlay.encap = Some(eastwest_core::flow::Encap::Vxlan);
    let rows = vec![
        // web-01 → app-01: the client's host by ERSPAN (rank 5) beats its
        // VXLAN underlay (4, more bytes) and the server's host (3, more still).
        flow("esx-01", WEB, APP, 9000, "allowed", "app", T0, 1000),
        underlay,
        flow("esx-02", WEB, APP, 9000, "allowed", "app", T0, 8000),
        // Two outside addresses, seen at two hosts of neither (rank 1 each):
        // the point with more bytes.
        flow("esx-07", OUTSIDE_A, OUTSIDE_B, 443, "unknown", "", T0, 300),
        flow("esx-08", OUTSIDE_A, OUTSIDE_B, 443, "unknown", "", T0, 600),
    ];
    let app = router(AppState::new(store_with(&rows).await, 1000));
    // range=all (flows_1h), and a window shorter than a minute (raw flows).
    let windows = [
        "range=all".to_string(),
        format!("from={}&to={}", T0 / 1000 - 1, T0 / 1000 + 30),
    ];
    for window in &windows {
        let r = conversations(&app, &format!("{window}&dataset=lab")).await;
        assert_eq!(
            r.resolution,
            if window == "range=all" { "1h" } else { "raw" }
        );
        let bytes: Vec<(String, u64, u64)> = r
            .conversations
            .iter()
            .map(|c| (pair(c), c.bytes, c.flows))
            .collect();
        assert_eq!(
            bytes,
            [
                ("web-01>app-01".to_string(), 1000, 1),
                ("203.0.113.7>2001:db8::7".to_string(), 600, 1),
            ],
            "{window}"
        );
        assert_eq!(r.conversations[0].observers, ["esx-01", "esx-02"]);
        assert_eq!(
            (r.totals.conversations, r.totals.flows, r.totals.bytes),
            (2, 2, 1600),
            "{window}"
        );
        let m = json(&app, &format!("/api/v1/zones/matrix?{window}&dataset=lab")).await;
        let cells: Vec<(String, String, u64, u64)> = m["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["client_zone"].as_str().unwrap().to_string(),
                    c["server_zone"].as_str().unwrap().to_string(),
                    c["conversations"].as_u64().unwrap(),
                    c["bytes"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            cells,
            [
                ("dmz".to_string(), "app".to_string(), 1, 1000),
                ("internet".to_string(), "internet".to_string(), 1, 600),
            ],
            "{window}"
        );
    }
}

/// web-01 on esx-01, then moved to esx-05, both hosts mirroring: each
/// host's point is local to the client for its part of the conversation,
/// and both parts count (with one point per conversation only the larger
/// half did, 3,000 of 4,000 bytes, while the time series counted both).
#[tokio::test]
async fn a_conversation_spanning_a_vmotion_counts_both_hosts() {
    let before = flow("esx-01", WEB, APP, 8080, "allowed", "app tier", T0, 1000);
    let moved = ("web-01", "10.10.1.11", "esx-05", "dmz");
    let after = flow(
        "esx-05",
        moved,
        APP,
        8080,
        "allowed",
        "app tier",
        T0 + 1_800_000,
        3000,
    );
    let app = router(AppState::new(store_with(&[before, after]).await, 1000));
    let r = conversations(&app, "range=all&dataset=lab").await;
    assert_eq!(r.conversations.len(), 1);
    assert_eq!(r.conversations[0].observers, ["esx-01", "esx-05"]);
    assert_eq!(r.conversations[0].bytes, 4000);
    assert_eq!((r.totals.flows, r.totals.bytes), (2, 4000));
    let m = json(&app, "/api/v1/zones/matrix?range=all&dataset=lab").await;
    assert_eq!(m["cells"][0]["bytes"], 4000, "{m}");
    let t = json(&app, "/api/v1/timeseries?range=all&dataset=lab").await;
    let series: u64 = t["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(series, r.totals.bytes);
}

#[tokio::test]
async fn datasets_are_listed_and_a_replay_is_deleted_from_every_table() {
    use eastwest_dashboard::api::DatasetsResponse;
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("dash_datasets");
    let store =
        eastwest_dashboard::store::ClickHouseStore::connect(&settings(&server.url, &database))
            .await
            .unwrap();
    // The lab rows (datasets `lab` and `other`), and a live flow.
    let mut live = flow("esx-01", WEB, APP, 8080, "allowed", "app tier", T0, 70);
    live.dataset = "live".into();
    let mut rows = lab_rows();
    rows.push(live);
    insert(&server.url, &database, store.version(), &rows).await;
    let app = router(AppState::new(store, 1000).with_auth(tokens()));
    let call = |method: &str, uri: &str, token: &str| {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };

    let (status, body) = call("GET", "/api/v1/datasets", "view").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed: DatasetsResponse = serde_json::from_str(&body).unwrap();
    let summary: Vec<(&str, bool, u64, u64, u64)> = listed
        .datasets
        .iter()
        .map(|d| (d.name.as_str(), d.live, d.flows, d.first_ms, d.last_ms))
        .collect();
    let lab: Vec<_> = lab_rows()
        .into_iter()
        .filter(|r| r.dataset == "lab")
        .collect();
    let lab_first = lab.iter().map(|r| r.start_ms).min().unwrap();
    let lab_last = lab.iter().map(|r| r.end_ms).max().unwrap();
    assert_eq!(
        summary,
        [
            ("lab", false, lab.len() as u64, lab_first, lab_last),
            ("live", true, 1, T0, T0 + 2_000),
            ("other", false, 1, T0, T0 + 2_000),
        ]
    );
    // Stored 5 s after each flow started (see `flow`), and on disk.
    let other = &listed.datasets[2];
    assert_eq!(
        (other.stored_first_ms, other.stored_last_ms),
        (T0 + 5_000, T0 + 5_000)
    );
    assert!(listed.datasets.iter().all(|d| d.bytes > 0), "{body}");
    let (status, csv) = call("GET", "/api/v1/datasets?format=csv", "view").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        csv.lines().nth(3),
        Some(
            format!(
                "other,0,1,{T0},{},{},{},{}",
                T0 + 2_000,
                T0 + 5_000,
                T0 + 5_000,
                other.bytes
            )
            .as_str()
        )
    );

    // Deleting takes an admin; the live dataset and an unknown name are refused.
    let (status, _) = call("DELETE", "/api/v1/datasets/other", "view").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call("DELETE", "/api/v1/datasets/live", "admin").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("live dataset"), "{body}");
    let (status, _) = call("DELETE", "/api/v1/datasets/nope", "admin").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call("DELETE", "/api/v1/datasets/other", "admin").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // flows, the four rollups, conversations_1h, the two placement tables,
    // datasets, observed_1m, conversations_seen and flow_exporters: one
    // day each.
    assert_eq!(body, r#"{"name":"other","partitions":12}"#);

    // Gone from every table; the other datasets untouched.
    for table in [
        "flows",
        "flows_1m",
        "flows_10m",
        "flows_1h",
        "flows_1d",
        "conversations_1h",
        "placements_1h",
        "placements_1d",
        "datasets",
        "observed_1m",
        "conversations_seen",
        "flow_exporters",
    ] {
        let left = server
            .query(&format!(
                "SELECT dataset, count() FROM `{database}`.`{table}` GROUP BY dataset ORDER BY dataset"
            ))
            .unwrap();
        assert!(!left.contains("other"), "{table}: {left}");
        assert!(
            left.contains("lab") && left.contains("live"),
            "{table}: {left}"
        );
    }
    let (_, body) = call("GET", "/api/v1/datasets", "view").await;
    let listed: DatasetsResponse = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = listed.datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["lab", "live"]);
    let (_, body) = call(
        "GET",
        "/api/v1/conversations?range=all&dataset=other",
        "view",
    )
    .await;
    assert!(body.contains(r#""conversations":[]"#), "{body}");
}
