//! Alerts end to end: violations stored in a real ClickHouse and the lab's
//! policy and inventory, sent to a real HTTP receiver (an axum server on
//! loopback) and a real UDP syslog socket; severity filter and the
//! de-duplication window.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use eastwest_dashboard::alerts::{Alerter, AlertsConfig};
use eastwest_dashboard::policy::{ClickHousePolicyStore, PolicyConfig};
use eastwest_dashboard::store::ClickHouseStore;
use serde_json::Value;

use common::*;

type Received = Arc<Mutex<Vec<Value>>>;

async fn hook(State(received): State<Received>, Json(body): Json<Value>) -> &'static str {
    received.lock().unwrap().push(body);
    "ok"
}

/// Every datagram waiting on `socket` (stops after 300 ms of silence).
async fn datagrams(socket: &tokio::net::UdpSocket) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await
    {
        out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    out
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

#[tokio::test]
async fn violations_and_coresidency_reach_webhook_and_syslog_once_per_window() {
    // Stored: the common rows (two critical violations: payroll-01 →
    // fin-web-01 with its reply, web-01 → db-01) and a low-severity one.
    let mut rows = lab_rows();
    let mut low = flow(
        "esx-02",
        APP,
        DB,
        5432,
        "violation",
        "low one",
        T0 + 3_000,
        10,
    );
    low.severity = Some(eastwest_core::severity::Severity::Low);
    rows.push(low);
    let server = eastwest_tests::clickhouse().expect("ClickHouse for tests");
    let database = eastwest_tests::unique_database("alerts");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    insert(&server.url, &database, store.version(), &rows).await;

    // A real webhook receiver and a real syslog socket on loopback.
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let syslog = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let config = AlertsConfig {
        webhook_url: Some(format!("http://{hook_addr}/hook")),
        syslog: Some(syslog.local_addr().unwrap().to_string()),
        min_severity: "high".into(),
        dedup_seconds: 3600,
        lookback_seconds: 3600,
        ..AlertsConfig::default()
    };
    let policy = PolicyConfig {
        inventory: Some(repo("lab/inventory.toml")),
        policy: Some(repo("lab/policy.toml")),
    };
    let policy_store = ClickHousePolicyStore::new(store.client(), &database);
    let mut alerter = Alerter::new(config, policy, store.clone(), policy_store)
        .await
        .unwrap();

    // First poll: the two critical conversations and the lab's current
    // co-residency (payroll-01 and fin-fe-01 on esx-03); not the low one.
    let now = T0 + 600_000;
    let outcome = alerter.poll(now).await.unwrap();
    assert_eq!(
        (outcome.sent, outcome.suppressed, outcome.failed),
        (3, 0, 0)
    );
    let hooks = received.lock().unwrap().clone();
    assert_eq!(hooks.len(), 3, "{hooks:#?}");
    let mut violations: Vec<(String, String, String)> = hooks
        .iter()
        .filter(|h| h["kind"] == "violation")
        .map(|h| {
            (
                h["client_vm"].as_str().unwrap().to_string(),
                h["server_vm"].as_str().unwrap().to_string(),
                h["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    violations.sort();
    assert_eq!(
        violations,
        [
            ("payroll-01".into(), "fin-web-01".into(), "critical".into()),
            ("web-01".into(), "db-01".into(), "critical".into()),
        ]
    );
    let payroll = hooks
        .iter()
        .find(|h| h["client_vm"] == "payroll-01")
        .unwrap();
    assert_eq!(payroll["rule"], PAYROLL_RULE);
    assert_eq!(payroll["server_port"], 443);
    assert_eq!(payroll["bytes"], 7000);
    let co: Vec<&Value> = hooks
        .iter()
        .filter(|h| h["kind"] == "coresidency")
        .collect();
    assert_eq!(co.len(), 1);
    assert_eq!(co[0]["host"], "esx-03");
    let mut vms: Vec<&str> = co[0]["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    vms.sort();
    assert_eq!(vms, ["fin-fe-01", "payroll-01"]);

    // The same three as RFC 5424 lines: <PRI>1 TIMESTAMP HOST APP PID MSGID - MSG.
    let lines = datagrams(&syslog).await;
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for line in &lines {
        let fields: Vec<&str> = line.splitn(8, ' ').collect();
        assert_eq!(fields.len(), 8, "{line}");
        assert!(fields[0].ends_with(">1"), "{line}");
        assert!(fields[1].starts_with("2026-11-02T10:10:00"), "{line}");
        assert_eq!(fields[3], "eastwest-dashboard");
        assert_eq!(fields[6], "-");
        // local0 (16): critical = 2, high = 3.
        match fields[5] {
            "violation" => assert!(fields[0] == "<130>1", "{line}"),
            "coresidency" => assert!(fields[0] == "<131>1", "{line}"),
            other => panic!("MSGID {other}"),
        }
    }
    assert!(lines
        .iter()
        .any(|l| l.contains("violation payroll-01 -> fin-web-01 proto 6 port 443")));

    // Within the window: nothing again.
    let outcome = alerter.poll(now + 60_000).await.unwrap();
    assert_eq!((outcome.sent, outcome.suppressed), (0, 2));
    assert!(datagrams(&syslog).await.is_empty());
    assert_eq!(received.lock().unwrap().len(), 3);

    // A new flow of payroll-01 → fin-web-01: still inside the window, held.
    let again = flow(
        "esx-03",
        PAYROLL,
        FIN,
        443,
        "violation",
        PAYROLL_RULE,
        T0 + 660_000,
        500,
    );
    insert(&server.url, &database, store.version(), &[again]).await;
    let outcome = alerter.poll(now + 120_000).await.unwrap();
    assert_eq!((outcome.sent, outcome.suppressed), (0, 2));
    // After the window: it alerts again, for the new flow only (the old
    // web-01 → db-01 flows have left the look-back window).
    let outcome = alerter.poll(now + 3_601_000).await.unwrap();
    assert_eq!((outcome.sent, outcome.suppressed), (1, 0));
    let lines = datagrams(&syslog).await;
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("payroll-01 -> fin-web-01"),
        "{}",
        lines[0]
    );
    assert_eq!(received.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_dead_webhook_is_counted_and_syslog_still_gets_the_alert() {
    let server = eastwest_tests::clickhouse().expect("ClickHouse for tests");
    let database = eastwest_tests::unique_database("alerts");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    insert(&server.url, &database, store.version(), &lab_rows()).await;
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let syslog = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = AlertsConfig {
        webhook_url: Some(format!("http://{closed}/hook")),
        syslog: Some(syslog.local_addr().unwrap().to_string()),
        lookback_seconds: 3600,
        timeout_seconds: 2,
        coresidency: false,
        ..AlertsConfig::default()
    };
    let policy_store = ClickHousePolicyStore::new(store.client(), &database);
    let mut alerter = Alerter::new(config, PolicyConfig::default(), store, policy_store)
        .await
        .unwrap();
    let outcome = alerter.poll(T0 + 600_000).await.unwrap();
    // Syslog took both; the webhook failed the first, and both wait for it
    // (the second is not tried behind a failure).
    assert_eq!((outcome.sent, outcome.failed, outcome.pending), (2, 1, 2));
    assert_eq!(datagrams(&syslog).await.len(), 2);
}

type Switch = Arc<std::sync::atomic::AtomicBool>;

/// A receiver that answers 503 while `up` is false.
async fn flaky_hook(
    State((received, up)): State<(Received, Switch)>,
    Json(body): Json<Value>,
) -> axum::http::StatusCode {
    if up.load(std::sync::atomic::Ordering::SeqCst) {
        received.lock().unwrap().push(body);
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    }
}

/// A [`flaky_hook`] served on loopback, down at first: what it took, its
/// switch and its address.
async fn flaky_receiver() -> (Received, Switch, std::net::SocketAddr) {
    let received: Received = Arc::default();
    let up: Switch = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(flaky_hook))
        .with_state((received.clone(), up.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, up, hook_addr)
}

#[tokio::test]
async fn a_webhook_that_was_down_gets_the_alerts_in_order_or_they_are_given_up_and_counted() {
    let server = eastwest_tests::clickhouse().expect("ClickHouse for tests");
    let database = eastwest_tests::unique_database("alerts");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    insert(&server.url, &database, store.version(), &lab_rows()).await;
    let (received, up, hook_addr) = flaky_receiver().await;
    let alerter = |retry_seconds, max_pending| {
        let config = AlertsConfig {
            webhook_url: Some(format!("http://{hook_addr}/hook")),
            lookback_seconds: 3600,
            coresidency: false,
            retry_seconds,
            max_pending,
            ..AlertsConfig::default()
        };
        let policy_store = ClickHousePolicyStore::new(store.client(), &database);
        let metrics = Arc::new(eastwest_dashboard::metrics::Metrics::default());
        let store = store.clone();
        async move {
            let alerter = Alerter::new(config, PolicyConfig::default(), store, policy_store)
                .await
                .unwrap()
                .with_metrics(metrics.clone());
            (alerter, metrics)
        }
    };
    let outcome =
        |o: eastwest_dashboard::alerts::PollOutcome| (o.sent, o.failed, o.retried, o.pending);

    // Down: both violations wait; one failed attempt per poll.
    let (mut a, metrics) = alerter(600, 1000).await;
    assert_eq!(outcome(a.poll(T0 + 600_000).await.unwrap()), (0, 1, 0, 2));
    assert_eq!(outcome(a.poll(T0 + 630_000).await.unwrap()), (0, 1, 0, 2));
    assert!(metrics
        .render()
        .contains("eastwest_dashboard_alerts_pending 2\n"));
    // Back: the next poll delivers both, in order, once.
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(outcome(a.poll(T0 + 660_000).await.unwrap()), (2, 0, 2, 0));
    assert_eq!(outcome(a.poll(T0 + 690_000).await.unwrap()), (0, 0, 0, 0));
    let firsts: Vec<u64> = received
        .lock()
        .unwrap()
        .iter()
        .map(|v| v["last_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(firsts.len(), 2);
    assert!(
        firsts[0] >= firsts[1],
        "newest first, as polled: {firsts:?}"
    );
    assert!(metrics.render().contains(
        "eastwest_dashboard_alert_failures_total{destination=\"webhook\",reason=\"status\"} 2"
    ));

    // Down for longer than retry_seconds: given up and counted.
    up.store(false, std::sync::atomic::Ordering::SeqCst);
    let (mut a, metrics) = alerter(60, 1000).await;
    assert_eq!(outcome(a.poll(T0 + 600_000).await.unwrap()), (0, 1, 0, 2));
    assert_eq!(outcome(a.poll(T0 + 661_000).await.unwrap()), (0, 0, 0, 0));
    assert!(metrics.render().contains(
        "eastwest_dashboard_alert_failures_total{destination=\"webhook\",reason=\"expired\"} 2"
    ));
    // More waiting than max_pending: the oldest is given up.
    let (mut a, metrics) = alerter(600, 1).await;
    assert_eq!(outcome(a.poll(T0 + 600_000).await.unwrap()), (0, 1, 0, 1));
    assert!(metrics.render().contains(
        "eastwest_dashboard_alert_failures_total{destination=\"webhook\",reason=\"overflow\"} 1"
    ));
    // Retries off: each alert is tried once, nothing waits.
    let (mut a, _) = alerter(0, 1000).await;
    assert_eq!(outcome(a.poll(T0 + 600_000).await.unwrap()), (0, 2, 0, 0));
    assert_eq!(received.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_restart_with_a_state_file_neither_repeats_nor_loses_alerts() {
    let server = eastwest_tests::clickhouse().expect("ClickHouse for tests");
    let database = eastwest_tests::unique_database("alerts");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    insert(&server.url, &database, store.version(), &lab_rows()).await;
    let (received, up, hook_addr) = flaky_receiver().await;
    let dir = eastwest_tests::tempdir("dash-alert-state").unwrap();
    let state = dir.join("alerts.json");
    let alerter = || {
        let config = AlertsConfig {
            webhook_url: Some(format!("http://{hook_addr}/hook")),
            lookback_seconds: 3600,
            state_file: Some(state.clone()),
            ..AlertsConfig::default()
        };
        let policy = PolicyConfig {
            inventory: Some(repo("lab/inventory.toml")),
            policy: Some(repo("lab/policy.toml")),
        };
        let policy_store = ClickHousePolicyStore::new(store.client(), &database);
        Alerter::new(config, policy, store.clone(), policy_store)
    };
    let outcome = |o: eastwest_dashboard::alerts::PollOutcome| {
        (o.sent, o.suppressed, o.failed, o.retried, o.pending)
    };

    // The webhook is down: the two violations and the co-residency wait,
    // and the file says so.
    let mut first = alerter().await.unwrap();
    assert_eq!(
        outcome(first.poll(T0 + 600_000).await.unwrap()),
        (0, 0, 1, 0, 3)
    );
    drop(first);
    let kept: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept["pending"].as_array().unwrap().len(), 3, "{kept:#}");
    assert_eq!(kept["sent"].as_object().unwrap().len(), 2, "{kept:#}");

    // Restarted, with the webhook back: the waiting three are delivered,
    // and the same violations and period are not alerted again.
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut second = alerter().await.unwrap();
    assert_eq!(
        outcome(second.poll(T0 + 630_000).await.unwrap()),
        (3, 2, 0, 3, 0)
    );
    drop(second);
    let mut third = alerter().await.unwrap();
    assert_eq!(
        outcome(third.poll(T0 + 660_000).await.unwrap()),
        (0, 2, 0, 0, 0)
    );
    drop(third);
    let kinds: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["violation", "violation", "coresidency"]);

    // A damaged file is set aside and named; the alerter starts afresh
    // (and so alerts again).
    std::fs::write(&state, b"{\"version\": 1, \"sent\": [").unwrap();
    let mut fresh = alerter().await.unwrap();
    assert!(!state.exists());
    assert!(dir.join("alerts.json.bad").exists());
    assert_eq!(
        outcome(fresh.poll(T0 + 690_000).await.unwrap()),
        (3, 0, 0, 0, 0)
    );
    assert!(state.exists());
}
