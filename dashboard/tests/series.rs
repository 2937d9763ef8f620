//! The time series read from sealed buckets (`series_buckets`) equals the
//! series counted live, over several windows, steps and datasets: on the
//! lab's rows and days of mirrored traffic, after late flows into a sealed
//! bucket (counted live, then sealed again), and after a dataset is
//! deleted (its sealed rows go with it).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use axum::Router;
use eastwest_clickhouse::schema::FlowRow;
use eastwest_dashboard::api::{router, AppState};
use eastwest_dashboard::store::{ClickHouseStore, Store};

use common::*;

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// The lab's rows, and three days around them of a mirrored conversation
/// (seen at both hosts), a violation with its reply, and traffic of
/// dataset `other` in some of the same buckets.
fn rows() -> Vec<FlowRow> {
    let mut rows = lab_rows();
    let mut at = T0 - 2 * DAY + 7 * MINUTE;
    let mut i = 0u64;
    while at < T0 + DAY {
        let bytes = 100 + i % 13 * 10;
        rows.push(flow(
            "esx-01", WEB, APP, 8080, "allowed", "app tier", at, bytes,
        ));
        rows.push(flow(
            "esx-02",
            WEB,
            APP,
            8080,
            "allowed",
            "app tier",
            at + 1,
            bytes,
        ));
        if i.is_multiple_of(3) {
            rows.push(flow(
                "esx-03",
                PAYROLL,
                FIN,
                443,
                "violation",
                PAYROLL_RULE,
                at + 20_000,
                700,
            ));
            let mut reply = flow(
                "esx-03",
                FIN,
                PAYROLL,
                40_000,
                "violation",
                PAYROLL_RULE,
                at + 20_500,
                90,
            );
            (reply.src_port, reply.dst_port, reply.reply) = (443, 40_000, 1);
            rows.push(reply);
        }
        if i.is_multiple_of(4) {
            let mut other = flow(
                "esx-01",
                WEB,
                DB,
                5432,
                "violation",
                DMZ_RULE,
                at + 3 * MINUTE,
                33,
            );
            other.dataset = "other".into();
            rows.push(other);
        }
        at += 47 * MINUTE;
        i += 1;
    }
    rows
}

/// Every window and dataset asked of both; how many points had traffic,
/// and the steps used.
async fn same_series(sealed: &Router, live: &Router) -> (usize, Vec<u64>) {
    let s = |ms: u64| ms / 1000;
    let windows = [
        "range=all".to_string(),
        // A day on whole hours (5-minute steps), and off them.
        format!("from={}&to={}", s(T0 - 10 * HOUR), s(T0 + 14 * HOUR)),
        format!(
            "from={}&to={}",
            s(T0 - 10 * HOUR + 7 * MINUTE + 1000),
            s(T0 + 14 * HOUR - 3 * MINUTE)
        ),
        // Two days (15-minute steps), a week (hours), a month (6 hours),
        // a year (days).
        format!(
            "from={}&to={}",
            s(T0 - 2 * DAY + 11 * MINUTE),
            s(T0 + 37 * MINUTE)
        ),
        format!(
            "from={}&to={}",
            s(T0 - 4 * DAY - 1000),
            s(T0 + 3 * DAY + 5 * HOUR)
        ),
        format!(
            "from={}&to={}",
            s(T0 - 20 * DAY),
            s(T0 + 10 * DAY - 5 * HOUR)
        ),
        format!("from={}&to={}", s(T0 - 200 * DAY), s(T0 + 150 * DAY)),
        // Under a day: never sealed, counted live.
        format!("from={}&to={}", s(T0 - 3 * HOUR), s(T0 + 2 * HOUR)),
    ];
    let mut points = 0;
    let mut steps = Vec::new();
    for window in &windows {
        for dataset in ["", "&dataset=lab", "&dataset=other", "&dataset=none"] {
            let uri = format!("/api/v1/timeseries?{window}{dataset}");
            let a = answer(sealed, &uri).await;
            assert_eq!(a, answer(live, &uri).await, "{uri}");
            points += a["points"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["flows"].as_u64() > Some(0))
                .count();
            steps.push(a["step_ms"].as_u64().unwrap());
        }
    }
    steps.sort_unstable();
    steps.dedup();
    (points, steps)
}

#[tokio::test]
async fn sealed_buckets_answer_as_the_live_count() {
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("dash_series");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    insert(&server.url, &database, store.version(), &rows()).await;
    let live = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap()
        .without_sealed_series();
    let (sealed_app, live_app) = (
        router(AppState::new(store.clone(), 1000)),
        router(AppState::new(live, 1000)),
    );
    let count = |sql: &str| -> u64 {
        let sql = sql.replace("{db}", &format!("`{database}`"));
        server.query(&sql).unwrap().trim().parse().unwrap()
    };
    // Nothing sealed yet: every bucket live.
    let (points, steps) = same_series(&sealed_app, &live_app).await;
    assert!(points > 300, "{points} points");
    assert_eq!(
        steps,
        [60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000]
    );

    // Sealed by two dashboards at once: duplicates, the same answers.
    let now = eastwest_core::clock::now_ms();
    let other = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    let (a, b) = tokio::join!(store.seal_series(now), other.seal_series(now));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a > 300 && a == b, "{a} and {b} buckets sealed");
    assert_eq!(store.seal_series(now).await.unwrap(), 0);
    // (The duplicates may be merged already.)
    let rows = count("SELECT count() FROM {db}.series_buckets");
    assert!(rows >= a as u64, "{rows} rows");
    assert_eq!(same_series(&sealed_app, &live_app).await.0, points);

    // The sealed rows are what answers: a bucket's row made wrong (at its
    // flow count, counted later) shows through, and made right again.
    let day = format!(
        "from={}&to={}&dataset=lab",
        (T0 - 10 * HOUR) / 1000,
        (T0 + 14 * HOUR) / 1000
    );
    let uri = format!("/api/v1/timeseries?{day}");
    let before = answer(&sealed_app, &uri).await;
    let reseal = |bytes: &str, later: u64| {
        format!(
            "INSERT INTO `{database}`.series_buckets SELECT date, dataset, every, step_ms, t_ms, \
             stored_flows, flows, packets, {bytes}, violations, violation_bytes, sealed_ms + {later} \
             FROM `{database}`.series_buckets WHERE every = 0 AND dataset = 'lab' \
             AND step_ms = 300000 AND t_ms = {T0} ORDER BY sealed_ms DESC LIMIT 1"
        )
    };
    let merge = format!("OPTIMIZE TABLE `{database}`.series_buckets FINAL");
    server.query(&reseal("bytes + 1", 1)).unwrap();
    server.query(&merge).unwrap();
    assert_ne!(answer(&sealed_app, &uri).await, before);
    server.query(&reseal("bytes - 1", 1)).unwrap();
    server.query(&merge).unwrap();
    assert_eq!(answer(&sealed_app, &uri).await, before);

    // Late flows into sealed buckets (one seen at two points): counted
    // live until sealed again.
    let late = vec![
        flow(
            "esx-01",
            WEB,
            APP,
            9090,
            "allowed",
            "app tier",
            T0 + 90_000,
            5_000,
        ),
        flow(
            "esx-02",
            WEB,
            APP,
            9090,
            "allowed",
            "app tier",
            T0 + 90_000,
            5_000,
        ),
        flow(
            "esx-01",
            WEB,
            DB,
            5432,
            "violation",
            DMZ_RULE,
            T0 - DAY + 5 * HOUR,
            77,
        ),
    ];
    insert(&server.url, &database, store.version(), &late).await;
    let with_late = same_series(&sealed_app, &live_app).await.0;
    assert!(with_late >= points, "{with_late} points");
    let resealed = store.seal_series(now).await.unwrap();
    // Two buckets of each of 5 steps, in 2 series (every dataset, lab;
    // `none` has no flows); a bucket of lab alone once for both.
    assert!((10..=20).contains(&resealed), "{resealed} buckets sealed");
    assert_eq!(same_series(&sealed_app, &live_app).await.0, with_late);

    // A deleted dataset: its sealed rows go with its partitions; the
    // series over every dataset no longer match their counts.
    assert!(count("SELECT count() FROM {db}.series_buckets WHERE dataset = 'other'") > 0);
    assert!(store.delete_dataset("other").await.unwrap() > 0);
    assert_eq!(
        count("SELECT count() FROM {db}.series_buckets WHERE dataset = 'other'"),
        0
    );
    let (after, _) = same_series(&sealed_app, &live_app).await;
    assert!(after < points, "{after} points");
    assert!(store.seal_series(now).await.unwrap() > 0);
    assert_eq!(same_series(&sealed_app, &live_app).await.0, after);
}
