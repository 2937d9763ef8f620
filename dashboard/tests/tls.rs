//! HTTPS end to end, with certificates made by the real `openssl` CLI (a CA
//! and a server certificate for 127.0.0.1 and localhost):
//!
//! * the real `eastwest-dashboard` binary with `--tls-cert`/`--tls-key`
//!   answers a client that trusts the CA exactly as a plain-HTTP dashboard
//!   on the same database does; a plain-HTTP request (a 400 saying to use
//!   https) and a client that does not trust the CA fail, are counted, and
//!   the server keeps serving; a new
//!   certificate is picked up on SIGHUP; SIGTERM stops it cleanly;
//! * bad `[tls]` files stop it (and `--check-config`) with one line naming
//!   the file and exit 1;
//! * the alert webhook reaches an https receiver (tokio-rustls with the
//!   openssl certificate) when `webhook_ca_file` names the CA, and without
//!   it the delivery is counted failed for reason `tls`.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eastwest_dashboard::alerts::{Alerter, AlertsConfig};
use eastwest_dashboard::metrics::Metrics;
use eastwest_dashboard::policy::{ClickHousePolicyStore, PolicyConfig};
use eastwest_dashboard::store::ClickHouseStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::*;
use eastwest_tests::tls::{make_ca, make_server_cert};

fn client_trusting(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10));
    for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap() {
        builder = builder.add_root_certificate(cert);
    }
    builder.build().unwrap()
}

/// `err` and its causes on one line, as the dashboard logs them.
fn chain(err: &dyn std::error::Error) -> String {
    eastwest_core::error::Chain(err).to_string()
}

async fn get(client: &reqwest::Client, url: &str) -> String {
    let resp = client.get(url).send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.text().await.unwrap()
}

struct Dashboard {
    child: Child,
    log: PathBuf,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary on `listen` with `args`, logging to `log`; waits until
/// `base` answers `/api/v1/health` through `client`.
async fn start(args: &[&str], log: PathBuf, client: &reqwest::Client, base: &str) -> Dashboard {
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_eastwest-dashboard"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    let mut dashboard = Dashboard { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = client.get(format!("{base}/api/v1/health")).send().await {
            if resp.status().is_success() {
                return dashboard;
            }
        }
        if let Ok(Some(status)) = dashboard.child.try_wait() {
            panic!(
                "the dashboard exited with {status}: {}",
                std::fs::read_to_string(&dashboard.log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "the dashboard did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_answers_like_http_refuses_bad_clients_reloads_and_stops() {
    let dir = eastwest_tests::tempdir("dash-tls").unwrap();
    make_ca(&dir, "ca").unwrap();
    make_server_cert(&dir, "ca", "server", true).unwrap();
    let server = eastwest_tests::clickhouse().expect("ClickHouse for tests");
    let database = eastwest_tests::unique_database("dash_tls");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    insert(&server.url, &database, store.version(), &lab_rows()).await;

    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    let tls_port = eastwest_tests::free_tcp_port().unwrap();
    let tls_listen = format!("127.0.0.1:{tls_port}");
    let https = format!("https://127.0.0.1:{tls_port}");
    let trusting = client_trusting(&dir.join("ca.pem"));
    let mut tls = start(
        &[
            "--listen",
            &tls_listen,
            "--clickhouse-url",
            &server.url,
            "--database",
            &database,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        dir.join("tls.log"),
        &trusting,
        &https,
    )
    .await;
    let plain_port = eastwest_tests::free_tcp_port().unwrap();
    let plain_listen = format!("127.0.0.1:{plain_port}");
    let http = format!("http://127.0.0.1:{plain_port}");
    let plain_client = reqwest::Client::new();
    let _plain = start(
        &[
            "--listen",
            &plain_listen,
            "--clickhouse-url",
            &server.url,
            "--database",
            &database,
        ],
        dir.join("plain.log"),
        &plain_client,
        &http,
    )
    .await;

    // The same answers over https as over http: one endpoint that needs
    // ClickHouse (with the lab rows in it), one that does not.
    for path in [
        "/api/v1/conversations?range=all&sort=bytes",
        "/api/v1/zones/matrix?range=all",
        "/api/v1/openapi.json",
    ] {
        let over_tls = get(&trusting, &format!("{https}{path}")).await;
        let over_http = get(&plain_client, &format!("{http}{path}")).await;
        assert_eq!(over_tls, over_http, "{path}");
        if path.starts_with("/api/v1/conversations") {
            assert!(over_tls.contains("payroll-01"), "{over_tls}");
        }
    }

    // Plain HTTP on the HTTPS port fails with a 400 that says why, and a
    // client that does not trust the CA (only the system's roots) fails.
    let resp = plain_client
        .get(format!("http://127.0.0.1:{tls_port}/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.text().await.unwrap(),
        eastwest_dashboard::tls::PLAIN_HTTP_MESSAGE
    );
    let untrusting = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = untrusting
        .get(format!("{https}/api/v1/health"))
        .send()
        .await
        .unwrap_err();
    assert!(
        chain(&err).contains("UnknownIssuer"),
        "expected an untrusted certificate: {}",
        chain(&err)
    );
    // A TCP client that says nothing (dropped at the 10 s handshake
    // timeout) holds up no one meanwhile.
    let _silent = tokio::net::TcpStream::connect(&tls_listen).await.unwrap();
    // The server kept serving, on fresh connections too, and counted both.
    let fresh = client_trusting(&dir.join("ca.pem"));
    assert_eq!(
        get(&fresh, &format!("{https}/api/v1/health")).await,
        r#"{"status":"ok"}"#
    );
    let metrics = get(&fresh, &format!("{https}/metrics")).await;
    assert!(
        metric(&metrics, "eastwest_dashboard_tls_handshake_failures_total") >= 2,
        "{metrics}"
    );

    // Certificate rotation: a certificate from another CA replaces the
    // files, SIGHUP, and new connections get it.
    make_ca(&dir, "ca2").unwrap();
    make_server_cert(&dir, "ca2", "rotated", false).unwrap();
    std::fs::copy(dir.join("rotated.pem"), &cert).unwrap();
    std::fs::copy(dir.join("rotated.key"), &key).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &tls.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let trusting2 = client_trusting(&dir.join("ca2.pem"));
        if trusting2
            .get(format!("{https}/api/v1/health"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not load the new certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = client_trusting(&dir.join("ca.pem"))
        .get(format!("{https}/api/v1/health"))
        .send()
        .await
        .unwrap_err();
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));

    // A reload that fails keeps the certificate in use.
    std::fs::write(&key, "garbage\n").unwrap();
    Command::new("kill")
        .args(["-HUP", &tls.child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    get(
        &client_trusting(&dir.join("ca2.pem")),
        &format!("{https}/api/v1/health"),
    )
    .await;

    Command::new("kill")
        .args(["-TERM", &tls.child.id().to_string()])
        .status()
        .unwrap();
    let status = tls.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(&tls.log).unwrap();
    assert!(log.contains(&format!("https://{tls_listen}/")), "{log}");
    assert!(log.contains("certificate reloaded"), "{log}");
    assert!(
        log.contains("reload failed") && log.contains("no private key"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn dashboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eastwest-dashboard"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

/// The one stderr line of a failed run.
fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {text:?}");
    assert!(!text.contains("panicked"), "{text}");
    lines[0].to_string()
}

#[test]
fn bad_tls_files_exit_1_naming_the_file() {
    let dir = eastwest_tests::tempdir("dash-tls-bad").unwrap();
    make_ca(&dir, "ca").unwrap();
    make_server_cert(&dir, "ca", "server", false).unwrap();
    make_server_cert(&dir, "ca", "other", false).unwrap();
    std::fs::write(dir.join("garbage.pem"), "not a certificate\n").unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let config = dir.join("dashboard.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n",
            path("server.pem"),
            path("server.key")
        ),
    )
    .unwrap();
    let ok = dashboard(&["--config", config.to_str().unwrap(), "--check-config"]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("listen https://127.0.0.1:8080"));
    assert!(ok.stderr.is_empty(), "{ok:?}");
    // A key every user may read is accepted, with a warning.
    {
        use std::os::unix::fs::PermissionsExt;
        let readable = dir.join("server.key");
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warned = dashboard(&["--config", config.to_str().unwrap(), "--check-config"]);
        assert!(warned.status.success(), "{warned:?}");
        assert!(
            String::from_utf8_lossy(&warned.stderr).contains(&format!(
                "warning: tls.key: {} is readable by every user",
                readable.display()
            )),
            "{warned:?}"
        );
    }

    let cases: [(&str, &str, &str); 5] = [
        (
            "missing.pem",
            "server.key",
            "tls.cert: cannot read {dir}/missing.pem",
        ),
        (
            "garbage.pem",
            "server.key",
            "tls.cert: {dir}/garbage.pem: no certificate in it",
        ),
        (
            "server.pem",
            "garbage.pem",
            "tls.key: {dir}/garbage.pem: no private key in it",
        ),
        // A certificate given as the key: a PEM file, but no key in it.
        (
            "server.pem",
            "server.pem",
            "tls.key: {dir}/server.pem: no private key in it",
        ),
        (
            "server.pem",
            "other.key",
            "tls.key: {dir}/other.key does not match the certificate in {dir}/server.pem",
        ),
    ];
    let shown = dir.display().to_string();
    for (cert, key, expected) in cases {
        let expected = expected.replace("{dir}", &shown);
        let (cert, key) = (path(cert), path(key));
        let flags = ["--tls-cert", &cert, "--tls-key", &key];
        let checked = dashboard(&[&flags[..], &["--check-config"]].concat());
        assert!(failure(&checked).contains(&expected), "{checked:?}");
        // Starting fails the same way, before listening or connecting.
        let listen = format!("127.0.0.1:{}", eastwest_tests::free_tcp_port().unwrap());
        let started = dashboard(&[&flags[..], &["--listen", &listen]].concat());
        assert!(failure(&started).contains(&expected), "{started:?}");
    }
    let half = dashboard(&["--tls-cert", &path("server.pem"), "--check-config"]);
    assert!(failure(&half).contains("tls: set both cert and key"));
    let _ = std::fs::remove_dir_all(&dir);
}

type Received = Arc<Mutex<Vec<Value>>>;

/// A minimal HTTPS receiver on loopback built on tokio-rustls directly:
/// reads one request per connection, keeps its JSON body, answers 200.
async fn https_receiver(cert: &Path, key: &Path) -> (u16, Received) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Received = Arc::default();
    let keep = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let keep = keep.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body_at = loop {
                    let n = tls.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "request cut short");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..body_at]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                while buf.len() < body_at + length {
                    let n = tls.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "body cut short");
                    buf.extend_from_slice(&chunk[..n]);
                }
                assert!(head.starts_with("post /hook "), "{head}");
                let body: Value = serde_json::from_slice(&buf[body_at..body_at + length]).unwrap();
                keep.lock().unwrap().push(body);
                tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                )
                .await
                .unwrap();
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn webhook_over_https_needs_the_ca() {
    let dir = eastwest_tests::tempdir("dash-tls-hook").unwrap();
    make_ca(&dir, "ca").unwrap();
    make_server_cert(&dir, "ca", "hook", false).unwrap();
    let (port, received) = https_receiver(&dir.join("hook.pem"), &dir.join("hook.key")).await;

    let server = eastwest_tests::clickhouse().expect("ClickHouse for tests");
    let database = eastwest_tests::unique_database("dash_tls_hook");
    let store = ClickHouseStore::connect(&settings(&server.url, &database))
        .await
        .unwrap();
    insert(&server.url, &database, store.version(), &lab_rows()).await;
    let config = |ca_file: Option<PathBuf>| AlertsConfig {
        webhook_url: Some(format!("https://localhost:{port}/hook")),
        webhook_ca_file: ca_file,
        min_severity: "high".into(),
        lookback_seconds: 3600,
        coresidency: false,
        ..AlertsConfig::default()
    };
    let now = T0 + 600_000;

    // Trusting the CA: both critical violations of the lab rows arrive.
    let mut alerter = Alerter::new(
        config(Some(dir.join("ca.pem"))),
        PolicyConfig::default(),
        store.clone(),
        ClickHousePolicyStore::new(store.client(), &database),
    )
    .await
    .unwrap();
    let outcome = alerter.poll(now).await.unwrap();
    assert_eq!((outcome.sent, outcome.failed), (2, 0), "{outcome:?}");
    let mut pairs: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|h| format!("{} -> {}", h["client_vm"], h["server_vm"]))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [r#""payroll-01" -> "fin-web-01""#, r#""web-01" -> "db-01""#]
    );

    // Without the CA (system roots only): the first fails, counted with
    // reason `tls`, both wait for a retry (the second is not tried behind
    // a failure), and nothing arrives.
    let metrics = Arc::new(Metrics::default());
    let mut untrusting = Alerter::new(
        config(None),
        PolicyConfig::default(),
        store.clone(),
        ClickHousePolicyStore::new(store.client(), &database),
    )
    .await
    .unwrap()
    .with_metrics(metrics.clone());
    let outcome = untrusting.poll(now).await.unwrap();
    assert_eq!(
        (outcome.sent, outcome.failed, outcome.pending),
        (0, 1, 2),
        "{outcome:?}"
    );
    assert_eq!(received.lock().unwrap().len(), 2);
    let text = metrics.render();
    assert!(
        text.contains(
            "eastwest_dashboard_alert_failures_total{destination=\"webhook\",reason=\"tls\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("eastwest_dashboard_alerts_failed_total 1"),
        "{text}"
    );

    // A CA file without a certificate is refused up front, naming it.
    let err = AlertsConfig {
        webhook_ca_file: Some(dir.join("hook.key")),
        ..config(None)
    }
    .check()
    .unwrap_err();
    assert!(
        err.starts_with("alerts.webhook_ca_file: ") && err.contains("hook.key: no certificate"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
