//! The violations list from the window's newest slices of flows equals
//! the list read from the whole window's raw flows, field for field.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use eastwest_clickhouse::schema::{date_of_ms, datetime_of_ms, FlowRow};
use eastwest_core::severity::Severity;
use eastwest_dashboard::api::{router, AppState};
use eastwest_dashboard::store::ClickHouseStore;

use common::*;

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// The newest flow's end: five days after `T0`, 20 minutes into an hour.
const END: u64 = T0 + 5 * DAY + 20 * MINUTE;

/// A violating flow of conversation `port` between `client` and `server`
/// over `[start_ms, end_ms]`.
fn violation(
    client: (&str, &str, &str, &str),
    server: (&str, &str, &str, &str),
    port: u16,
    severity: Severity,
    start_ms: u64,
    end_ms: u64,
    bytes: u64,
) -> FlowRow {
    let mut row = flow(
        "esx-01",
        client,
        server,
        port,
        "violation",
        DMZ_RULE,
        start_ms,
        bytes,
    );
    row.severity = Some(severity);
    row.date = date_of_ms(start_ms);
    row.end_ms = end_ms;
    row.end = datetime_of_ms(end_ms);
    row.received = datetime_of_ms(end_ms + 5_000);
    row
}

/// Violating conversations over five days: each with flows on several
/// days, last seen at every distance from the newest flow the slices
/// try (10 minutes to 4 days and beyond), some tied on last seen, long
/// flows that start before a slice and end inside it, two zones and two
/// severities; and allowed traffic around them.
fn rows() -> Vec<FlowRow> {
    let ago = [
        0,
        0,
        2 * MINUTE,
        2 * MINUTE,
        2 * MINUTE,
        9 * MINUTE,
        11 * MINUTE,
        25 * MINUTE,
        59 * MINUTE,
        61 * MINUTE,
        61 * MINUTE,
        3 * HOUR,
        5 * HOUR + 50 * MINUTE,
        6 * HOUR + 10 * MINUTE,
        13 * HOUR,
        23 * HOUR,
        25 * HOUR,
        2 * DAY,
        2 * DAY,
        3 * DAY + 7 * HOUR,
        4 * DAY - 30 * MINUTE,
        4 * DAY + 2 * HOUR,
        4 * DAY + 20 * HOUR,
    ];
    let mut rows = Vec::new();
    for (i, ago) in ago.into_iter().enumerate() {
        let i = i as u64;
        let (client, server) = if i.is_multiple_of(3) {
            (PAYROLL, FIN)
        } else {
            (WEB, DB)
        };
        let severity = if i.is_multiple_of(2) {
            Severity::Critical
        } else {
            Severity::High
        };
        let port = 5000 + i as u16;
        let last = END - ago;
        // Its last flow, short, or (every fourth) long: started hours or a
        // day before it ends, across the slices' starts.
        let span = match i % 4 {
            0 => (i + 1) * 47 * MINUTE,
            1 => 3_000,
            2 => 26 * HOUR + i * MINUTE,
            _ => 15 * MINUTE,
        };
        // Equal bytes among some tied conversations: the tie is broken
        // by the key.
        let bytes = 100 + (i % 5) * 10;
        rows.push(violation(
            client,
            server,
            port,
            severity,
            last.saturating_sub(span),
            last,
            bytes,
        ));
        // Earlier flows of the same conversation, days before.
        for back in 1..=(i % 4) {
            let end = last.saturating_sub(back * DAY + i * 7 * MINUTE);
            if end > T0 {
                rows.push(violation(
                    client,
                    server,
                    port,
                    severity,
                    end - 40_000,
                    end,
                    bytes * 3,
                ));
            }
        }
    }
    // Allowed traffic in every hour of the newest day and the oldest.
    for h in 0..30 {
        let start = END - h * HOUR - 3 * MINUTE;
        rows.push(flow(
            "esx-01", WEB, APP, 8080, "allowed", "app tier", start, 900,
        ));
    }
    rows.push(flow(
        "esx-01", WEB, APP, 8080, "allowed", "app tier", T0, 900,
    ));
    rows
}

#[tokio::test]
async fn the_newest_slices_answer_as_the_whole_raw_read() {
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("dash_slices");
    let sliced = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    insert(&server.url, &database, sliced.version(), &rows()).await;
    let whole = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap()
        .without_violation_slices();
    let sliced = router(AppState::new(sliced, 1000));
    let whole = router(AppState::new(whole, 1000));
    let s = |ms: u64| ms / 1000;
    let windows = [
        "range=all".to_string(),
        format!("from={}&to={}", s(T0 + 7 * MINUTE), s(END + 1000)),
        format!(
            "from={}&to={}",
            s(END - 2 * DAY - 17 * MINUTE),
            s(END + HOUR)
        ),
        format!(
            "from={}&to={}",
            s(END - 30 * HOUR + 1000),
            s(END - 3 * MINUTE)
        ),
        format!("from={}&to={}", s(T0 + DAY), s(END - 2 * HOUR - 5 * MINUTE)),
    ];
    let filters = [
        "",
        "&zone=payroll",
        "&severity=critical",
        "&severity=high&zone=db",
        "&vm=web-01",
    ];
    // (limit, offset): each window and filter asks three of them in turn.
    let pages = [
        (1, 0),
        (2, 0),
        (3, 2),
        (5, 1),
        (4, 6),
        (10, 3),
        (50, 0),
        (7, 20),
    ];
    let mut listed = 0;
    for (w, window) in windows.iter().enumerate() {
        for (f, filter) in filters.iter().enumerate() {
            for p in 0..3 {
                let (limit, offset) = pages[(w + f + 3 * p) % pages.len()];
                let uri = format!(
                    "/api/v1/violations?{window}{filter}&dataset=lab&limit={limit}&offset={offset}"
                );
                let a = answer(&sliced, &uri).await;
                let b = answer(&whole, &uri).await;
                assert_eq!(a, b, "{uri}");
                listed += a["violations"].as_array().unwrap().len();
            }
        }
    }
    assert!(listed > 200, "{listed} violations listed");
}
