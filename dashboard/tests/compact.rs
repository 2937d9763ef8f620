//! Compaction: every partition of the tables read by conversation key
//! (`conversations_1h`, `conversations_seen`) stored in several parts (one
//! per insert) is merged into one, those of the rollups read by time once
//! they have settled, and every view answers as before.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::time::Duration;

use eastwest_clickhouse::schema::{BY_KEY_TABLES, SETTLED_TABLES};
use eastwest_dashboard::api::{router, AppState};
use eastwest_dashboard::store::ClickHouseStore;

use common::*;

const HOUR: u64 = 3_600_000;

#[tokio::test]
async fn partitions_are_merged_into_one_part_with_the_same_answers() {
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("dash_compact");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    // The lab's rows, then the same conversations again an hour and a
    // day later, each insert a part of its own.
    for shift in [0, HOUR, 24 * HOUR, 25 * HOUR] {
        insert(&server.url, &database, store.version(), &lab_rows_at(shift)).await;
    }
    let parts = |tables: &[&str]| {
        let tables = tables
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        server
            .query(&format!(
                "SELECT table, partition, count() FROM system.parts WHERE active \
                 AND database = '{database}' AND table IN ({tables}) \
                 GROUP BY table, partition ORDER BY table, partition"
            ))
            .unwrap()
    };
    let split = |listed: &str| {
        listed
            .lines()
            .filter(|l| l.rsplit('\t').next() != Some("1"))
            .count()
    };
    let (by_key, settled) = (parts(&BY_KEY_TABLES), parts(&SETTLED_TABLES));
    assert!(
        split(&by_key) >= 4,
        "partitions in several parts:\n{by_key}"
    );
    assert!(
        split(&settled) >= 4,
        "partitions in several parts:\n{settled}"
    );

    let app = router(AppState::new(store.clone(), 1000));
    let s = |ms: u64| ms / 1000;
    let uris: Vec<String> = [
        "range=all".to_string(),
        format!("from={}&to={}", s(T0 - 2 * HOUR), s(T0 + 27 * HOUR)),
        format!("from={}&to={}", s(T0 + 7 * 60_000), s(T0 + 25 * HOUR)),
    ]
    .iter()
    .flat_map(|window| {
        [
            format!("/api/v1/conversations?{window}"),
            format!("/api/v1/conversations?{window}&sort=-end_ms&limit=2"),
            format!("/api/v1/vms/web-01?{window}"),
            format!("/api/v1/hosts/esx-03?{window}"),
            format!("/api/v1/violations?{window}"),
        ]
    })
    .collect();
    let mut answers = Vec::new();
    for uri in &uris {
        answers.push(answer(&app, uri).await);
    }

    // Just written: the by-key tables are merged, the rollups read by time
    // wait until they have settled.
    assert_eq!(
        store.compact(Duration::from_secs(3600)).await.unwrap(),
        split(&by_key)
    );
    one_part_each(&parts(&BY_KEY_TABLES), &by_key);
    assert_eq!(parts(&SETTLED_TABLES), settled);
    for (uri, before) in uris.iter().zip(&answers) {
        assert_eq!(&answer(&app, uri).await, before, "{uri}");
    }
    // Settled at once: the rollups' partitions too.
    assert_eq!(
        store.compact(Duration::ZERO).await.unwrap(),
        split(&settled)
    );
    one_part_each(&parts(&SETTLED_TABLES), &settled);
    for (uri, before) in uris.iter().zip(&answers) {
        assert_eq!(&answer(&app, uri).await, before, "{uri}");
    }
    // Nothing left to merge.
    assert_eq!(store.compact(Duration::ZERO).await.unwrap(), 0);
}

/// Every partition `before` listed is now in one part (`after`'s lines end
/// in a part count of 1, one line per partition as before).
fn one_part_each(after: &str, before: &str) {
    assert!(
        after.lines().all(|l| l.ends_with("\t1")),
        "one part each:\n{after}"
    );
    assert_eq!(after.lines().count(), before.lines().count(), "{after}");
}
