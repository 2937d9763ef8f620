//! A database of the previous schema (rollups at 1 minute and 1 hour only,
//! `point_hash` and `point_rank` making each direction of an underlay an
//! observation point of its own and giving the NVGRE and routed-GRE
//! underlays a port mirror's +1, no `conversations_seen`, `flow_exporters`,
//! placements or `series_buckets`), upgraded by the dashboard's start-up, answers every endpoint as a
//! database created with today's schema and holding the same flows.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use eastwest_clickhouse::schema::{query_settings, FlowRow, ROLLUP_DERIVED};
use eastwest_dashboard::api::{router, AppState};
use eastwest_dashboard::store::{ClickHouseSettings, ClickHouseStore};
use http_body_util::BodyExt;
use tower::ServiceExt;

use common::*;

/// `point_hash` as it was when each direction of an underlay was an
/// observation point of its own (main at 043a427).
const OLD_POINT_HASH: &str = "cityHash64(conv_hash, observer, encap)";

/// `point_rank` as it was then, and when it gave the NVGRE and routed-GRE
/// underlays a port mirror's +1 (main at 72319d6).
const OLD_POINT_RANK: &str = "toUInt8((observer != '' AND observer = client_host) * 4 \
     + (observer != '' AND observer = server_host) * 2 \
     + (encap NOT IN ('vxlan', 'geneve')))";

/// Today's statements for an empty database, without the 10-minute and
/// daily rollups, `conversations_seen`, `flow_exporters` and the placements,
/// with the earlier `point_hash`
/// and `point_rank`, issued through the
/// project's client (so the chdb check replays them before the upgrade's).
async fn previous_schema(url: &str, database: &str) {
    let text: String = clickhouse::Client::default()
        .with_url(url)
        .with_validation(false)
        .query("SELECT version()")
        .fetch_one()
        .await
        .unwrap();
    let version = eastwest_clickhouse::schema::ServerVersion::parse(&text).unwrap();
    let mut client = clickhouse::Client::default()
        .with_url(url)
        .with_validation(!version.needs_legacy_settings());
    for (name, value) in query_settings(version) {
        client = client.with_setting(*name, *value);
    }
    let derived = |name: &str| {
        ROLLUP_DERIVED
            .iter()
            .find(|d| d.column.name == name)
            .unwrap()
            .expr
    };
    let (hash, rank) = (derived("point_hash"), derived("point_rank"));
    let mut changed = 0;
    for statement in eastwest_tests::creating_statements(database) {
        if statement.contains("`flows_10m")
            || statement.contains("`flows_1d")
            || statement.contains("`conversations_seen")
            || statement.contains("`conversations_1h")
            || statement.contains("`flow_exporters")
            || statement.contains("`series_buckets")
            || statement.contains("`placements_")
        {
            continue;
        }
        changed += usize::from(statement.contains(rank) || statement.contains(hash));
        client
            .query(
                &statement
                    .replace(rank, OLD_POINT_RANK)
                    .replace(hash, OLD_POINT_HASH),
            )
            .execute()
            .await
            .unwrap();
    }
    // The 1-minute and 1-hour rollups' tables and views (each view three
    // times: created, then made again after each upgrade, a no-op here).
    assert_eq!(changed, 8);
}

/// The lab's rows, plus a conversation seen at its client's host over a
/// port mirror and over its NVGRE underlay (which has more bytes): the
/// mirror counts.
fn rows() -> Vec<FlowRow> {
    let mut rows = lab_rows();
    let mirror = flow("esx-01", WEB, APP, 7070, "allowed", "app", T0 + 30_000, 400);
    let mut underlay = mirror.clone();
    underlay.encap = Some(eastwest_core::flow::Encap::Nvgre);
    underlay.bytes = 4_000;
    rows.extend([mirror, underlay]);
    rows.extend(underlay_only(T0 + 40_000));
    rows
}

/// web-01 → db-01:6379 seen only on a VXLAN underlay: the request from
/// web-01's host esx-01, the reply from db-01's host esx-02 (the outer
/// sources), 300 bytes one way and 3,000 the other.
fn underlay_only(at_ms: u64) -> Vec<FlowRow> {
    let mut request = flow("esx-01", WEB, DB, 6379, "allowed", "db", at_ms, 300);
    request.encap = Some(eastwest_core::flow::Encap::Vxlan);
    let mut reply = flow("esx-02", DB, WEB, 40_000, "allowed", "db", at_ms, 3_000);
    reply.encap = Some(eastwest_core::flow::Encap::Vxlan);
    (reply.src_port, reply.dst_port, reply.reply) = (6379, 40_000, 1);
    vec![request, reply]
}

async fn body(app: &Router, uri: &str) -> String {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn an_upgraded_database_answers_as_a_new_one() {
    let server = eastwest_tests::clickhouse().unwrap();
    let old = eastwest_tests::unique_database("dash_upgrade");
    previous_schema(&server.url, &old).await;
    let probe = ClickHouseStore::connect(&ClickHouseSettings {
        migrate: false,
        ..settings(&server.url, &old)
    })
    .await
    .unwrap();
    insert(&server.url, &old, probe.version(), &rows()).await;
    // The chdb check replays statements in the order of the query log, to
    // the second: keep the old schema a second before the upgrade.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let upgraded = ClickHouseStore::connect(&settings(&server.url, &old))
        .await
        .unwrap();
    // The stored NVGRE rows are ranked again in the background.
    for _ in 0..300 {
        let running = server
            .query(&format!(
                "SELECT count() FROM system.mutations WHERE database = '{old}' AND is_done = 0"
            ))
            .unwrap();
        if running == "0\n" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let new = store_with(&rows()).await;
    // Each seals its time series' buckets (the upgraded one: its backfill).
    let now = eastwest_core::clock::now_ms();
    assert!(upgraded.seal_series(now).await.unwrap() > 0);
    assert!(new.seal_series(now).await.unwrap() > 0);
    let (upgraded, new) = (
        router(AppState::new(upgraded, 1000)),
        router(AppState::new(new, 1000)),
    );
    let (day, lab) = (T0 / 1000 - 10 * 3600, T0 / 1000);
    let windows = [
        "range=all".to_string(),
        format!("from={day}&to={}", day + 86_400),
        format!("from={}&to={}", day + 61, day + 86_400 - 1),
        format!("from={}&to={}", lab - 1, lab + 601),
        format!("from={}&to={}", lab - 1, lab + 121),
        format!("from={day}&to={}", day + 7 * 86_400 + 3_660),
    ];
    let mut compared = 0;
    for window in &windows {
        for path in [
            "conversations",
            "zones/matrix",
            "timeseries",
            "hosts",
            "hosts/esx-01",
            "vms/web-01",
            "violations",
            "flows",
            "report",
        ] {
            let uri = format!("/api/v1/{path}?{window}&dataset=lab");
            let (a, b) = (body(&upgraded, &uri).await, body(&new, &uri).await);
            let strip = |text: &str| -> serde_json::Value {
                let mut value: serde_json::Value = serde_json::from_str(text).unwrap();
                if let Some(map) = value.as_object_mut() {
                    map.remove("generated_ms");
                }
                value
            };
            assert_eq!(strip(&a), strip(&b), "{uri}");
            compared += 1;
        }
    }
    assert_eq!(compared, 54);
    // No collector snapshot: the exporters as the flows show them, from
    // `flow_exporters` backfilled at the upgrade.
    let exporters = |text: String| -> serde_json::Value {
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value.as_object_mut().unwrap().remove("now_ms");
        value
    };
    let a = exporters(body(&upgraded, "/api/v1/exporters").await);
    assert_eq!(a, exporters(body(&new, "/api/v1/exporters").await));
    assert_eq!(a["source"], "flows");
    assert_eq!(a["exporters"][0]["flows"], 16);
    // The mirror counts, not the NVGRE underlay with more bytes.
    let c = body(
        &upgraded,
        "/api/v1/conversations?range=all&dataset=lab&port=7070",
    )
    .await;
    let c: serde_json::Value = serde_json::from_str(&c).unwrap();
    assert_eq!(c["conversations"][0]["bytes"], 400, "{c}");
    // Both directions of the underlay-only conversation, as stored before.
    let c = body(
        &upgraded,
        "/api/v1/conversations?range=all&dataset=lab&port=6379",
    )
    .await;
    let c: serde_json::Value = serde_json::from_str(&c).unwrap();
    let c = &c["conversations"][0];
    assert_eq!(
        (&c["bytes_fwd"], &c["bytes_rev"]),
        (&300.into(), &3_000.into()),
        "{c}"
    );
    assert_eq!(
        c["observers"],
        serde_json::json!(["esx-01", "esx-02"]),
        "{c}"
    );
    // Its first and last seen from `conversations_seen`, backfilled from
    // the stored flows: theirs, not the hour's bounds.
    assert_eq!(
        (c["start_ms"].as_u64(), c["end_ms"].as_u64()),
        (Some(T0 + 40_000), Some(T0 + 42_000)),
        "{c}"
    );
}
