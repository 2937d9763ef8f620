//! `eastwest-tui --once` against a real dashboard over a real ClickHouse:
//! the client reads what the server sends, in all three formats.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use eastwest_dashboard::config::Config;

/// A dashboard on a free port over a fresh database holding two
/// conversations; returns its URL. It runs until the test process ends.
async fn dashboard() -> String {
    let server = eastwest_tests::clickhouse().unwrap();
    let database = eastwest_tests::unique_database("tui");
    let port = eastwest_tests::free_tcp_port().unwrap();
    let mut config = Config {
        listen: format!("127.0.0.1:{port}"),
        ..Config::default()
    };
    config.clickhouse.url = server.url.clone();
    config.clickhouse.database = database.clone();
    tokio::spawn(eastwest_dashboard::run(config, std::future::pending()));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/api/v1/health")).await.is_err() {
        assert!(Instant::now() < deadline, "dashboard did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    common::insert_two_conversations(&server.url, &database).await;
    url
}

fn tui(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eastwest-tui"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_prints_table_json_and_csv() {
    let url = dashboard().await;
    let run = |format: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            tui(&[
                "--server", &url, "--range", "all", "--once", "--format", format,
            ])
        })
    };

    let out = run("table").await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "2 conversations, 2 flows, 84 packets, 57.6 KiB, 1 violation"
    );
    assert!(lines[2].starts_with("! payroll-01 → fin-web-01"), "{text}");
    assert!(
        lines[2].ends_with("payroll must never talk to the finance front end"),
        "{text}"
    );
    assert!(lines[3].starts_with("  app-01 → db-01"), "{text}");

    let out = run("json").await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let page: eastwest_tui::api::ConversationsPage =
        serde_json::from_slice::<eastwest_api::answers::ConversationsResponse>(&out.stdout)
            .unwrap()
            .into();
    assert_eq!(page.totals.violations, 1);
    assert_eq!(page.conversations[0].client(), "payroll-01");
    assert_eq!(page.conversations[0].server(), "fin-web-01");
    assert_eq!(page.conversations[0].server_port, 443);
    assert_eq!(page.conversations[0].bytes(), 52_000);
    assert!(page.conversations[0].same_host);

    let out = run("csv").await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // The server's header: `client_vm,…` (or `src_vm,…` before the
    // bidirectional API).
    assert!(text.lines().next().unwrap().contains("_vm,"), "{text}");
    assert_eq!(text.lines().count(), 3);

    // Filters are passed to the server.
    let url2 = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        tui(&[
            "--server",
            &url2,
            "--range",
            "all",
            "--filter",
            "verdict:allowed",
            "--once",
            "--format",
            "json",
        ])
    })
    .await
    .unwrap();
    let page: eastwest_tui::api::ConversationsPage =
        serde_json::from_slice::<eastwest_api::answers::ConversationsResponse>(&out.stdout)
            .unwrap()
            .into();
    assert_eq!(page.conversations.len(), 1);
    assert_eq!(page.conversations[0].client(), "app-01");

    // A refused parameter comes back as the server's message.
    let url3 = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        tui(&["--server", &url3, "--range", "1h..2h", "--once"])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    // The server's own message follows (it names `from` or `to`).
    assert!(
        err.contains("/api/v1/conversations: server answered 400: "),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn unreachable_server_is_one_line_and_non_zero() {
    let port = eastwest_tests::free_tcp_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let out = tui(&["--server", &url, "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("server {url} unreachable")), "{err}");
}
