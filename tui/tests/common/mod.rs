//! Test data shared by the TUI's tests: flow rows like the lab's, written
//! straight into a dashboard's database.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::net::IpAddr;

use eastwest_clickhouse::schema::{
    addr_to_bytes, date_of_ms, datetime_of_ms, query_settings, FlowRow, ServerVersion,
};

/// 2026-11-02T10:00:00Z.
const T0: u64 = 1_793_613_600_000;

fn flow(
    src: &str,
    dst: &str,
    zones: (&str, &str),
    verdict: &str,
    rule: &str,
    bytes: u64,
) -> FlowRow {
    let ip = |text: &str| addr_to_bytes(text.parse::<IpAddr>().unwrap());
    FlowRow {
        date: date_of_ms(T0),
        start: datetime_of_ms(T0),
        start_ms: T0,
        end: datetime_of_ms(T0 + 1000),
        end_ms: T0 + 1000,
        received: datetime_of_ms(T0 + 2000),
        dataset: "lab".into(),
        exporter: ip("127.0.0.1"),
        source_id: 3,
        observer: "esx-03".into(),
        encap: Some(eastwest_core::flow::Encap::ErspanIII),
        session: 3,
        src_addr: ip("10.10.4.41"),
        dst_addr: ip("10.10.5.51"),
        src_port: 50_000,
        dst_port: 443,
        proto: 6,
        tcp_flags: 0x1b,
        packets: 42,
        bytes,
        sampling: 1,
        src_vm: src.into(),
        dst_vm: dst.into(),
        src_host: "esx-03".into(),
        dst_host: "esx-03".into(),
        src_zone: zones.0.into(),
        dst_zone: zones.1.into(),
        same_host: 1,
        reply: 0,
        verdict: eastwest_core::policy::VerdictKind::parse(verdict).unwrap(),
        rule: rule.into(),
        severity: (verdict == "violation").then_some(eastwest_core::severity::Severity::Critical),
        policy_revision: "r1".into(),
        ..FlowRow::default()
    }
}

/// Two conversations in `database` on the ClickHouse at `url` (plain
/// http): payroll-01 → fin-web-01, a violation of 52,000 bytes, and
/// app-01 → db-01, allowed, 7,000 bytes.
pub async fn insert_two_conversations(url: &str, database: &str) {
    let server = eastwest_tests::ClickHouse {
        url: url.to_string(),
    };
    let version = ServerVersion::parse(&server.query("SELECT version()").unwrap()).unwrap();
    let mut client = clickhouse::Client::default()
        .with_url(url)
        .with_database(database)
        .with_validation(!version.needs_legacy_settings());
    for (name, value) in query_settings(version) {
        client = client.with_setting(*name, *value);
    }
    let mut insert = client.insert::<FlowRow>("flows").await.unwrap();
    let rule = "payroll must never talk to the finance front end";
    insert
        .write(&flow(
            "payroll-01",
            "fin-web-01",
            ("payroll", "finance-frontend"),
            "violation",
            rule,
            52_000,
        ))
        .await
        .unwrap();
    insert
        .write(&flow(
            "app-01",
            "db-01",
            ("app", "db"),
            "allowed",
            "app to db",
            7_000,
        ))
        .await
        .unwrap();
    insert.end().await.unwrap();
}
