//! Test set-up: a database of its own on the harness's ClickHouse, filled
//! with flow rows shaped like the lab's.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions
#![allow(dead_code)] // each test crate uses a part of this module

use std::net::IpAddr;
use std::time::Duration;

use eastwest_clickhouse::schema::{
    addr_to_bytes, date_of_ms, datetime_of_ms, query_settings, FlowRow, ServerVersion,
};
use eastwest_dashboard::store::{ClickHouseSettings, ClickHouseStore};

/// 2026-11-02T10:00:00Z, in the lab capture's day.
pub const T0: u64 = 1_793_613_600_000;

pub fn settings(url: &str, database: &str) -> ClickHouseSettings {
    ClickHouseSettings {
        url: url.to_string(),
        database: database.to_string(),
        user: None,
        password: None,
        migrate: true,
        timeout: Duration::from_secs(10),
    }
}

/// A flow row with the given endpoints; everything else plausible.
#[allow(clippy::too_many_arguments)]
pub fn flow(
    observer: &str,
    src: (&str, &str, &str, &str),
    dst: (&str, &str, &str, &str),
    dst_port: u16,
    verdict: &str,
    rule: &str,
    start_ms: u64,
    bytes: u64,
) -> FlowRow {
    let (src_vm, src_ip, src_host, src_zone) = src;
    let (dst_vm, dst_ip, dst_host, dst_zone) = dst;
    let ip = |text: &str| addr_to_bytes(text.parse::<IpAddr>().unwrap());
    FlowRow {
        date: date_of_ms(start_ms),
        start: datetime_of_ms(start_ms),
        start_ms,
        end: datetime_of_ms(start_ms + 2_000),
        end_ms: start_ms + 2_000,
        received: datetime_of_ms(start_ms + 5_000),
        dataset: "lab".into(),
        exporter: ip("127.0.0.1"),
        source_id: 1,
        observer: observer.into(),
        encap: Some(eastwest_core::flow::Encap::ErspanII),
        session: 0,
        vlan: 0,
        vni: 0,
        src_addr: ip(src_ip),
        dst_addr: ip(dst_ip),
        src_port: 40_000,
        dst_port,
        proto: 6,
        tos: 0,
        tcp_flags: 0x1b,
        icmp: 0,
        src_mac: [0, 0x50, 0x56, 0, 1, 1],
        dst_mac: [0, 0x50, 0x56, 0, 1, 2],
        packets: bytes / 100,
        bytes,
        sampling: 1,
        src_vm: src_vm.into(),
        dst_vm: dst_vm.into(),
        src_host: src_host.into(),
        dst_host: dst_host.into(),
        src_zone: src_zone.into(),
        dst_zone: dst_zone.into(),
        same_host: u8::from(!src_host.is_empty() && src_host == dst_host),
        reply: 0,
        verdict: eastwest_core::policy::VerdictKind::parse(verdict).unwrap(),
        rule: rule.into(),
        severity: (verdict == "violation").then_some(eastwest_core::severity::Severity::Critical),
        policy_revision: "r1".into(),
    }
}

pub const WEB: (&str, &str, &str, &str) = ("web-01", "10.10.1.11", "esx-01", "dmz");
pub const APP: (&str, &str, &str, &str) = ("app-01", "10.10.2.21", "esx-02", "app");
pub const DB: (&str, &str, &str, &str) = ("db-01", "10.10.3.31", "esx-02", "db");
pub const PAYROLL: (&str, &str, &str, &str) = ("payroll-01", "10.10.4.41", "esx-03", "payroll");
pub const FIN: (&str, &str, &str, &str) =
    ("fin-web-01", "10.10.5.51", "esx-03", "finance-frontend");
pub const OUTSIDE_A: (&str, &str, &str, &str) = ("", "203.0.113.7", "", "internet");
pub const OUTSIDE_B: (&str, &str, &str, &str) = ("", "2001:db8::7", "", "internet");
/// A VM whose name looks like SQL: it must come back as data.
pub const ODD: (&str, &str, &str, &str) =
    ("o'brien; DROP TABLE flows --", "10.10.9.9", "esx-04", "app");

pub const PAYROLL_RULE: &str = "payroll must never talk to the finance front end";
pub const DMZ_RULE: &str = "the DMZ must never reach the database tier";

/// The rows every API test starts from (dataset `lab` unless changed):
///
/// | conversation | flows | bytes counted |
/// |---|---|---|
/// | web-01 → app-01 :8080 allowed, seen at esx-01 and esx-02 | 2 | 3000 (once) |
/// | payroll-01 → fin-web-01 :443 violation, same host, and its reply | 2 | 5000 + 2000 back |
/// | web-01 → db-01 :5432 violation | 1 | 700 |
/// | 203.0.113.7 → web-01 :443 unknown | 2 | 400 |
/// | 2001:db8::7 → web-01 :443 unknown | 1 | 100 |
/// | o'brien… → app-01 :8080 allowed, the day before | 1 | 50 |
/// | web-01 → app-01 :8080 in dataset `other` | 1 | 9 |
pub fn lab_rows() -> Vec<FlowRow> {
    let mut other = flow("esx-01", WEB, APP, 8080, "allowed", "intra", T0, 9);
    other.dataset = "other".into();
    vec![
        flow("esx-01", WEB, APP, 8080, "allowed", "app tier", T0, 1000),
        flow("esx-02", WEB, APP, 8080, "allowed", "app tier", T0, 1000),
        flow(
            "esx-01",
            WEB,
            APP,
            8080,
            "allowed",
            "app tier",
            T0 + 60_000,
            2000,
        ),
        flow(
            "esx-02",
            WEB,
            APP,
            8080,
            "allowed",
            "app tier",
            T0 + 60_000,
            2000,
        ),
        flow(
            "esx-03",
            PAYROLL,
            FIN,
            443,
            "violation",
            PAYROLL_RULE,
            T0 + 1_000,
            5000,
        ),
        {
            // The reply of payroll-01 → fin-web-01 (same verdict as its request).
            let mut reply = flow(
                "esx-03",
                FIN,
                PAYROLL,
                40_000,
                "violation",
                PAYROLL_RULE,
                T0 + 1_500,
                2000,
            );
            reply.src_port = 443;
            reply.reply = 1;
            reply
        },
        flow(
            "esx-01",
            WEB,
            DB,
            5432,
            "violation",
            DMZ_RULE,
            T0 + 2_000,
            700,
        ),
        flow(
            "esx-01",
            OUTSIDE_A,
            WEB,
            443,
            "unknown",
            "",
            T0 + 3_000,
            300,
        ),
        flow(
            "esx-01",
            OUTSIDE_A,
            WEB,
            443,
            "unknown",
            "",
            T0 + 4_000,
            100,
        ),
        flow(
            "esx-01",
            OUTSIDE_B,
            WEB,
            443,
            "unknown",
            "",
            T0 + 5_000,
            100,
        ),
        flow(
            "esx-04",
            ODD,
            APP,
            8080,
            "allowed",
            "app tier",
            T0 - 86_400_000,
            50,
        ),
        other,
    ]
}

/// [`lab_rows`] `shift_ms` later.
pub fn lab_rows_at(shift_ms: u64) -> Vec<FlowRow> {
    lab_rows()
        .into_iter()
        .map(|mut row| {
            row.start_ms += shift_ms;
            row.end_ms += shift_ms;
            row.date = date_of_ms(row.start_ms);
            row.start = datetime_of_ms(row.start_ms);
            row.end = datetime_of_ms(row.end_ms);
            row
        })
        .collect()
}

/// A fresh database, migrated by connecting a store to it, holding `rows`.
pub async fn store_with(rows: &[FlowRow]) -> ClickHouseStore {
    let server = eastwest_tests::clickhouse().expect("ClickHouse for tests");
    let database = eastwest_tests::unique_database("dash");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .expect("connect and migrate");
    insert(&server.url, &database, store.version(), rows).await;
    store
}

/// Insert rows the way the collector does: the `clickhouse` crate, FlowRow.
pub async fn insert(url: &str, database: &str, version: ServerVersion, rows: &[FlowRow]) {
    let mut client = clickhouse::Client::default()
        .with_url(url)
        .with_database(database)
        .with_validation(!version.needs_legacy_settings());
    for (name, value) in query_settings(version) {
        client = client.with_setting(*name, *value);
    }
    let mut insert = client.insert::<FlowRow>("flows").await.unwrap();
    for row in rows {
        insert.write(row).await.unwrap();
    }
    insert.end().await.unwrap();
}

/// A viewer token `view` and an admin token `admin`.
pub fn tokens() -> eastwest_dashboard::auth::Auth {
    use eastwest_dashboard::auth::{parse_digest_hex, token_digest_hex, Auth, Role, TokenEntry};
    let entry = |token: &str, role| TokenEntry {
        name: token.to_string(),
        digest: parse_digest_hex(&token_digest_hex(token)).unwrap(),
        role,
    };
    Auth::Tokens(vec![
        entry("view", Role::Viewer),
        entry("admin", Role::Admin),
    ])
}

/// `GET uri` of `app`, answered 200 with a JSON body.
pub async fn answer(app: &axum::Router, uri: &str) -> serde_json::Value {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = app
        .clone()
        .oneshot(
            axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, axum::http::StatusCode::OK, "{uri}: {body:?}");
    serde_json::from_slice(&body).unwrap()
}
