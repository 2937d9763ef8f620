//! TLS end to end with real components and certificates made by the real
//! `openssl` CLI: `eastwest-tui --once` reads a real dashboard serving
//! HTTPS (`[tls]`), which reads a ClickHouse 18.16 of this test's own over
//! `https://` (`https_port`). Both clients trust the test CA through
//! `SSL_CERT_FILE`, as an operator with a private CA would set it; without
//! it the TUI, and the dashboard binary at start-up, say in one line that
//! the certificate is not trusted.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use eastwest_dashboard::config::Config;
use eastwest_dashboard::tls::TlsConfig;
use eastwest_tests::tls::{https_clickhouse, make_server_cert};

fn tui(args: &[&str], env: &[(&str, &Path)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eastwest-tui"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_reads_an_https_dashboard_over_an_https_clickhouse() {
    let dir = eastwest_tests::tempdir("tui-https").unwrap();
    let (server, https) = https_clickhouse("tui-https", &dir).unwrap();
    make_server_cert(&dir, "ca", "dashboard", false).unwrap();
    let ca = dir.join("ca.pem");
    // The in-process dashboard's ClickHouse client loads its CAs from the
    // environment, as the binary does (this is the only test here).
    std::env::set_var("SSL_CERT_FILE", &ca);

    let database = eastwest_tests::unique_database("tui_https");
    let port = eastwest_tests::free_tcp_port().unwrap();
    let mut config = Config {
        listen: format!("127.0.0.1:{port}"),
        ..Config::default()
    };
    config.clickhouse.url = format!("https://127.0.0.1:{https}");
    config.clickhouse.database = database.clone();
    config.tls = TlsConfig {
        cert: Some(dir.join("dashboard.pem")),
        key: Some(dir.join("dashboard.key")),
    };
    tokio::spawn(eastwest_dashboard::run(config, std::future::pending()));
    let url = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = Command::new("curl")
            .args(["-sf", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .arg(format!("{url}/api/v1/health"))
            .output()
            .unwrap();
        if health.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "dashboard did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The rows go in over plain http; the dashboard reads them over https.
    common::insert_two_conversations(&server.client().url, &database).await;

    let args = [
        "--server", &url, "--range", "all", "--once", "--format", "json",
    ];
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    let ca2 = ca.clone();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tui(&args, &[("SSL_CERT_FILE", &ca2)])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let page: eastwest_tui::api::ConversationsPage =
        serde_json::from_slice::<eastwest_api::answers::ConversationsResponse>(&out.stdout)
            .unwrap()
            .into();
    assert_eq!(page.totals.violations, 1);
    assert_eq!(page.conversations.len(), 2);
    assert_eq!(page.conversations[0].client(), "payroll-01");
    assert_eq!(page.conversations[0].bytes(), 52_000);

    // Not trusted: SSL_CERT_FILE names the dashboard's own certificate (no
    // CA) and SSL_CERT_DIR an empty directory.
    let empty = dir.join("no-cas");
    std::fs::create_dir_all(&empty).unwrap();
    let leaf = dir.join("dashboard.pem");
    let url2 = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        tui(
            &["--server", &url2, "--once"],
            &[("SSL_CERT_FILE", &leaf), ("SSL_CERT_DIR", &empty)],
        )
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("server {url} unreachable")), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");

    // The dashboard binary without the CA: one line with the reason, exit 1.
    let empty = dir.join("no-cas");
    let out = Command::new(eastwest_tests::workspace_bin("eastwest-dashboard"))
        .args(["--clickhouse-url", &format!("https://127.0.0.1:{https}")])
        .args(["--listen", "127.0.0.1:0"])
        .env("SSL_CERT_FILE", dir.join("dashboard.pem"))
        .env("SSL_CERT_DIR", &empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("is unreachable: ") && err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
