//! The policy module's endpoints against a real ClickHouse: the policy in
//! use and a broken file, inventory events checked and stored, co-residency
//! now and in history, and a draft policy's what-if over stored flows.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use eastwest_core::inventory::parse_time;
use eastwest_core::policy::Policy;
use eastwest_dashboard::policy::{router, ClickHousePolicyStore, PolicyApi, PolicyConfig};
use eastwest_dashboard::store::ClickHouseStore;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use common::*;

const APP_LAB: (&str, &str, &str, &str) = ("app-01", "10.10.2.11", "esx-01", "app");
const DB_LAB: (&str, &str, &str, &str) = ("db-02", "10.10.3.12", "esx-04", "db");
const WEB_APP_RULE: &str = "DMZ web servers call the app tier on 8443";

struct Setup {
    app: Router,
    policy: PathBuf,
    url: String,
    database: String,
    dir: PathBuf,
}

/// Lab files copied to a directory of the test's own, and a database with
/// web-01 → db-02:5432 (violation, seen twice) and web-01 → app-01:8443
/// (allowed) at 10:00, and one more web-01 → db-02 the day before.
async fn setup(name: &str) -> Setup {
    let lab = eastwest_tests::repo_root().join("lab");
    let dir = std::env::temp_dir().join(format!(
        "eastwest-dash-policy-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (inventory, policy) = (dir.join("inventory.toml"), dir.join("policy.toml"));
    std::fs::copy(lab.join("inventory.toml"), &inventory).unwrap();
    std::fs::copy(lab.join("policy.toml"), &policy).unwrap();
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("policy");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    let mut to_app = flow(
        "esx-01",
        WEB,
        APP_LAB,
        8443,
        "allowed",
        WEB_APP_RULE,
        T0,
        300,
    );
    to_app.severity = None;
    let rows = vec![
        flow(
            "esx-01",
            WEB,
            DB_LAB,
            5432,
            "violation",
            DMZ_RULE,
            T0 + 1_000,
            700,
        ),
        flow(
            "esx-04",
            WEB,
            DB_LAB,
            5432,
            "violation",
            DMZ_RULE,
            T0 + 1_000,
            700,
        ),
        to_app,
        flow(
            "esx-01",
            WEB,
            DB_LAB,
            5432,
            "violation",
            DMZ_RULE,
            T0 - 86_400_000,
            9,
        ),
    ];
    insert(&server.url, &database, store.version(), &rows).await;
    let config = PolicyConfig {
        inventory: Some(inventory),
        policy: Some(policy.clone()),
    };
    let store = ClickHousePolicyStore::new(store.client(), &database);
    Setup {
        app: router(Arc::new(PolicyApi::new(config, store)), Arc::new(tokens())),
        policy,
        url: server.url,
        database,
        dir,
    }
}

/// A request with the admin token.
async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    call_as(app, Some("admin"), method, uri, body).await
}

async fn call_as(
    app: &Router,
    token: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

#[tokio::test]
async fn policy_in_use_and_a_broken_file() {
    let s = setup("get").await;
    let revision = Policy::load(&s.policy).unwrap().revision().to_string();
    let (status, body) = call(&s.app, "GET", "/api/v1/policy", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revision"], json!(revision));
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["zones"].as_array().unwrap().len(), 7);
    assert_eq!(body["zones"][3]["vm_names"], json!(["payroll-*"]));
    assert_eq!(body["rules"][2]["ports"], json!(["8443"]));
    assert_eq!(body["rules"][2]["protos"], json!([6]));
    assert_eq!(
        body["separate"],
        json!([["payroll", "finance-frontend"], ["dmz", "db"]])
    );
    assert_eq!(body["warnings"], json!([]));
    assert_eq!(body["inventory_warnings"], json!([]));

    // A rule naming a zone that does not exist: the last good version and why.
    let text = std::fs::read_to_string(&s.policy).unwrap();
    std::fs::write(
        &s.policy,
        text.replacen("to = [\"db\"]", "to = [\"dbs\"]", 1),
    )
    .unwrap();
    let (status, body) = call(&s.app, "GET", "/api/v1/policy", None).await;
    assert_eq!(status, StatusCode::OK);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{}:", s.policy.display()))
            && error.contains(": rule.to: unknown zone \"dbs\""),
        "{error}"
    );
    assert_eq!(body["revision"], json!(revision), "the last good version");
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn events_are_checked_stored_and_move_coresidency() {
    let s = setup("events").await;
    // Neither endpoint takes parameters: one given is a 400 naming it.
    for (uri, needle) in [
        (
            "/api/v1/coresidency?range=24h",
            "range: this endpoint takes no parameters",
        ),
        (
            "/api/v1/policy?limit=5",
            "limit: this endpoint takes no parameters",
        ),
        ("/api/v1/policy?revision=x", "unknown field `revision`"),
    ] {
        let (status, body) = call(&s.app, "GET", uri, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.to_string().contains(needle), "{uri}: {body}");
    }
    let (status, body) = call(&s.app, "GET", "/api/v1/coresidency", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["current"],
        json!([{"host": "esx-03", "zones": ["payroll", "finance-frontend"],
                "vms": ["payroll-01", "fin-fe-01"], "since_ms": 0, "until_ms": null}])
    );

    // Refused: unknown host, a MAC another VM holds, a bad time, unknown field.
    for (event, needle) in [
        (
            json!({"time": "2026-11-02T10:00:30Z", "vm": "fin-fe-01", "host": "esx-09"}),
            "body:1: event.host: VM \"fin-fe-01\" is placed on unknown host \"esx-09\"",
        ),
        (
            json!([{"time": "2026-11-02T10:00:30Z", "vm": "new-01", "host": "esx-01"},
                {"time": "2026-11-02T10:00:30Z", "vm": "new-02", "host": "esx-01",
                 "macs": ["00:50:56:00:01:11"]}]),
            "body:2: event.macs: MAC 00:50:56:00:01:11 of VM \"new-02\" is already VM \"web-01\"'s",
        ),
        (
            json!({"time": "yesterday", "vm": "fin-fe-01", "host": "esx-01"}),
            "event.time",
        ),
        (
            json!({"time": "2026-11-02T10:00:30Z", "vm": "fin-fe-01", "colour": "red"}),
            "unknown field `colour`",
        ),
    ] {
        let (status, body) = call(&s.app, "POST", "/api/v1/inventory/events", Some(event)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(needle), "{message}");
    }
    let server = eastwest_tests::ClickHouse { url: s.url.clone() };
    let count = |server: &eastwest_tests::ClickHouse| {
        server
            .query(&format!(
                "SELECT count() FROM {}.inventory_events",
                s.database
            ))
            .unwrap()
    };
    assert_eq!(
        count(&server),
        "0\n",
        "nothing of a refused request is stored"
    );

    // fin-fe-01 leaves esx-03 at 10:00:30; only an admin may say so.
    let moved = json!({"time": "2026-11-02T10:00:30Z", "vm": "fin-fe-01", "host": "esx-01"});
    for (token, want) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("view"), StatusCode::FORBIDDEN),
    ] {
        let (status, _) = call_as(
            &s.app,
            token,
            "POST",
            "/api/v1/inventory/events",
            Some(moved.clone()),
        )
        .await;
        assert_eq!(status, want);
    }
    let (status, _) = call_as(&s.app, Some("view"), "GET", "/api/v1/coresidency", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call_as(&s.app, None, "GET", "/api/v1/policy", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&s.app, "POST", "/api/v1/inventory/events", Some(moved)).await;
    assert_eq!(
        (status, &body),
        (StatusCode::CREATED, &json!({"stored": 1}))
    );
    assert_eq!(count(&server), "1\n");
    let (_, body) = call(&s.app, "GET", "/api/v1/coresidency", None).await;
    assert_eq!(body["current"], json!([]));
    let until = parse_time("2026-11-02T10:00:30Z").unwrap();
    assert_eq!(
        body["history"],
        json!([{"host": "esx-03", "zones": ["payroll", "finance-frontend"],
                "vms": ["payroll-01", "fin-fe-01"], "since_ms": 0, "until_ms": until}])
    );
    // The stored event now counts: moving fin-fe-01 onto web-01's MAC is
    // refused, moving it back is not.
    let back = json!({"time": "2026-11-02T10:05:00Z", "vm": "fin-fe-01", "host": "esx-03"});
    let (status, _) = call(&s.app, "POST", "/api/v1/inventory/events", Some(back)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = call(&s.app, "GET", "/api/v1/coresidency", None).await;
    assert_eq!(
        body["current"][0]["since_ms"],
        json!(parse_time("2026-11-02T10:05:00Z").unwrap())
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[tokio::test]
async fn whatif_of_a_draft_over_stored_flows() {
    let s = setup("whatif").await;
    let text = std::fs::read_to_string(&s.policy).unwrap();
    // The draft lets the DMZ reach PostgreSQL and moves the app tier's port.
    let draft = text
        .replacen(
            "[[rule]]\ndescription = \"the DMZ must never reach",
            "[[rule]]\ndescription = \"DMZ reaches PostgreSQL\"\nfrom = [\"dmz\"]\nto = [\"db\"]\n\
             proto = \"tcp\"\nports = [\"5432\"]\naction = \"allow\"\n\n\
             [[rule]]\ndescription = \"the DMZ must never reach",
            1,
        )
        .replace(
            "ports = [\"8443\"]\naction = \"allow\"",
            "ports = [\"9443\"]\naction = \"allow\"",
        );
    let request =
        json!({"policy": draft, "from": "2026-11-02T10:00:00Z", "to": "2026-11-02T11:00:00Z"});
    let (status, body) = call_as(
        &s.app,
        Some("view"),
        "POST",
        "/api/v1/policy/whatif",
        Some(request),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a viewer may evaluate: {body}");
    assert_eq!(body["conversations"], json!(2), "{body}");
    assert_eq!(
        (&body["new_violations"], &body["resolved_violations"]),
        (&json!(1), &json!(1))
    );
    let pairs = body["zone_pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 2, "{body}");
    assert_eq!(
        (&pairs[0]["client_zone"], &pairs[0]["server_zone"]),
        (&json!("dmz"), &json!("app"))
    );
    assert_eq!(
        pairs[0]["new_violations"][0]["after"]["rule"],
        json!("default cross-zone")
    );
    let resolved = &pairs[1]["resolved_violations"][0];
    assert_eq!(resolved["server_vm"], json!("db-02"));
    assert_eq!(resolved["flows"], json!(1), "counted once, not per mirror");
    assert_eq!(resolved["before"]["rule"], json!(DMZ_RULE));
    assert_eq!(resolved["after"]["verdict"], json!("allowed"));

    assert_eq!(
        body["resolution"],
        json!("1m"),
        "minute-aligned: the rollup"
    );
    // A window off the minute grid reads raw flows, with the same answer.
    let raw =
        json!({"policy": draft, "from": "2026-11-02T09:59:59.500Z", "to": "2026-11-02T11:00:00Z"});
    let (status, raw_body) = call(&s.app, "POST", "/api/v1/policy/whatif", Some(raw)).await;
    assert_eq!(status, StatusCode::OK, "{raw_body}");
    assert_eq!(raw_body["resolution"], json!("raw"));
    assert_eq!(raw_body["zone_pairs"], body["zone_pairs"]);

    // The stored verdicts are untouched.
    let server = eastwest_tests::ClickHouse { url: s.url.clone() };
    let stored = server
        .query(&format!(
            "SELECT verdict, count() FROM {}.flows GROUP BY verdict ORDER BY verdict",
            s.database
        ))
        .unwrap();
    assert_eq!(stored, "allowed\t1\nviolation\t3\n");

    // A draft that does not parse is the client's error, located.
    let bad = json!({"policy": "[[rule]\n", "from": "2026-11-02T10:00:00Z", "to": "2026-11-02T11:00:00Z"});
    let (status, body) = call(&s.app, "POST", "/api/v1/policy/whatif", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("policy: draft:1:"),
        "{body}"
    );
    let backwards =
        json!({"policy": text, "from": "2026-11-02T11:00:00Z", "to": "2026-11-02T10:00:00Z"});
    let (status, _) = call(&s.app, "POST", "/api/v1/policy/whatif", Some(backwards)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let _ = std::fs::remove_dir_all(&s.dir);
}
