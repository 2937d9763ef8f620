//! A conversation list over a week or more that ends after the newest
//! stored flow reads the window out to the end of its last day: the same
//! conversations and counters as the window asked for, and exactly the
//! answer of the moved window; a window ending before the newest flow, a
//! shorter window, or a list sorted by time is read as asked.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use eastwest_dashboard::api::{router, AppState};
use eastwest_dashboard::store::ClickHouseStore;
use serde_json::Value;

use common::*;

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// The conversations and totals of an answer, with each conversation's
/// first and last seen left out when `times` is false.
fn listed(answer: &Value, times: bool) -> (Value, Value) {
    let mut conversations = answer["conversations"].clone();
    if !times {
        for c in conversations.as_array_mut().unwrap() {
            let c = c.as_object_mut().unwrap();
            c.remove("start_ms");
            c.remove("end_ms");
        }
    }
    (conversations, answer["totals"].clone())
}

#[tokio::test]
async fn a_week_ending_after_the_newest_flow_is_read_to_its_last_day_end() {
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("dash_settled");
    let settled = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    // The lab's rows four times over two days, the last at T0 + 25 h.
    let rows: Vec<_> = [0, HOUR, DAY, DAY + HOUR]
        .into_iter()
        .flat_map(lab_rows_at)
        .collect();
    let newest = rows.iter().map(|r| r.end_ms).max().unwrap();
    insert(&server.url, &database, settled.version(), &rows).await;
    let plain = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap()
        .without_settled_tail();
    let (settled, plain) = (
        router(AppState::new(settled, 1000)),
        router(AppState::new(plain, 1000)),
    );
    let get = |app: &axum::Router, from: u64, to: u64, rest: &str| {
        let uri = format!(
            "/api/v1/conversations?from={}&to={}{rest}",
            from / 1000,
            to / 1000
        );
        let app = app.clone();
        async move { answer(&app, &uri).await }
    };

    // (from, to, the end it is read to): a week and a bit ending 20
    // minutes after the newest flow (to the day's end), a day and a bit
    // ending there too, and a week ending before the newest flow.
    let after = T0 + DAY + HOUR + 20 * MINUTE;
    assert!(newest < after);
    let windows = [
        (T0 - 6 * DAY - 3 * HOUR, after, T0 + 2 * DAY - 10 * HOUR),
        (T0 - 5 * HOUR - 7 * MINUTE, after, after),
        (
            T0 - 6 * DAY - 3 * HOUR,
            T0 + DAY + 30_000,
            T0 + DAY + 30_000,
        ),
    ];
    let mut moved = 0;
    for (from, to, read_to) in windows {
        for sort in ["", "&sort=-flows", "&sort=client_vm", "&sort=-end_ms"] {
            let asked = get(&settled, from, to, sort).await;
            let what = format!("{from}..{to}{sort}");
            // The same conversations and counters as the window asked for.
            assert_eq!(
                listed(&asked, false),
                listed(&get(&plain, from, to, sort).await, false),
                "{what}"
            );
            assert!(
                !asked["conversations"].as_array().unwrap().is_empty(),
                "{what}"
            );
            // Exactly the answer over the window it was read to (a list
            // sorted by time is read as asked).
            let read_to = if sort == "&sort=-end_ms" { to } else { read_to };
            assert_eq!(
                listed(&asked, true),
                listed(&get(&plain, from, read_to, sort).await, true),
                "{what}"
            );
            if read_to != to {
                // Read as asked, the last conversations' last seen would be
                // the end of an hour or 10 minutes, not their last packet.
                assert_ne!(
                    listed(&asked, true),
                    listed(&get(&plain, from, to, sort).await, true),
                    "{what}"
                );
                moved += 1;
            }
        }
    }
    assert_eq!(moved, 3);
}
