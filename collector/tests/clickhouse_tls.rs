//! ClickHouse over https with real components: a ClickHouse 18.16 of this
//! test's own serving `https_port` with a certificate made by the real
//! `openssl` CLI, and the real collector binary on a real UDP socket.
//!
//! * With `SSL_CERT_FILE` naming the test CA, flows sent over UDP are
//!   stored through `https://127.0.0.1:PORT`.
//! * Without it, the collector stops at start-up (as for an unreachable
//!   server) with one line saying the certificate is not trusted.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;

use anyhow::{Context, Result};
use eastwest_tests::{tempdir, wait_for, workspace_bin, CollectorProcess};

/// The collector started against `url` with `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` set: it must exit 1 without a panic; its stderr.
fn refused_at_start(
    url: &str,
    cert_file: &std::path::Path,
    cert_dir: &std::path::Path,
) -> Result<String> {
    let out = Command::new(workspace_bin("eastwest-collector"))
        .args([
            "--clickhouse-url",
            url,
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .env("SSL_CERT_FILE", cert_file)
        .env("SSL_CERT_DIR", cert_dir)
        .output()?;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    Ok(err)
}

fn config(
    dir: &std::path::Path,
    name: &str,
    url: &str,
    db: &str,
) -> Result<(std::path::PathBuf, u16, u16)> {
    let udp = eastwest_tests::free_udp_port()?;
    let http = eastwest_tests::free_tcp_port()?;
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub)?;
    let config = sub.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[receive]\nlisten = [\"127.0.0.1:{udp}\"]\n[http]\nlisten = \"127.0.0.1:{http}\"\n\
             [clickhouse]\nurl = \"{url}\"\ndatabase = \"{db}\"\nflush_interval_ms = 200\n\
             retry_max_ms = 1000\n"
        ),
    )?;
    Ok((config, udp, http))
}

#[test]
fn flows_are_stored_over_https_when_the_ca_is_trusted_and_refused_otherwise() -> Result<()> {
    let dir = tempdir("collector-chtls")?;
    let (server, https) = eastwest_tests::tls::https_clickhouse("collector-chtls", &dir)?;
    let ch = server.client();
    let url = format!("https://127.0.0.1:{https}");
    let socket = UdpSocket::bind("127.0.0.1:0")?;

    // Trusted: SSL_CERT_FILE names the test CA.
    let (cfg, udp, http) = config(&dir, "trusted", &url, "chtls")?;
    let ca = dir.join("ca.pem");
    let collector = CollectorProcess::start_with_env(&cfg, http, &[("SSL_CERT_FILE", &ca)])?;
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, udp));
    for n in 0..10 {
        socket.send_to(&common::ten_flows(n), to)?;
    }
    wait_for(30, "100 flows stored over https", || {
        Ok(ch.query("SELECT count() FROM chtls.flows")?.trim() == "100")
    })?;
    assert_eq!(collector.metric("eastwest_collector_sink_up")?, 1);
    assert_eq!(
        ch.query("SELECT uniqExact(src_port, dst_addr, start_ms) FROM chtls.flows")?
            .trim(),
        "100"
    );
    drop(collector);

    // Not trusted: SSL_CERT_FILE names the server's own certificate,
    // which is no CA, and SSL_CERT_DIR an empty directory. The collector
    // checks ClickHouse at start-up as for an unreachable server: one line
    // saying why, exit 1, no panic.
    let empty = dir.join("no-cas");
    std::fs::create_dir_all(&empty)?;
    let err = refused_at_start(&url, &dir.join("clickhouse.pem"), &empty)?;
    let line = err
        .lines()
        .find(|l| l.starts_with("eastwest-collector:"))
        .with_context(|| format!("no error line in {err}"))?;
    assert!(
        line.contains(&format!("cannot reach ClickHouse at {url}"))
            && line.contains("invalid peer certificate: UnknownIssuer"),
        "{line}"
    );

    // No CA loadable at all (SSL_CERT_FILE and SSL_CERT_DIR missing): a
    // plain-http ClickHouse still works, an https one is refused with the
    // reason and a warning why no CA was loaded; never a panic.
    let missing = dir.join("missing.pem");
    let (cfg, _, http) = config(&dir, "no-roots", &ch.url, "chtls_http")?;
    let collector = CollectorProcess::start_with_env(
        &cfg,
        http,
        &[("SSL_CERT_FILE", &missing), ("SSL_CERT_DIR", &missing)],
    )?;
    assert_eq!(collector.metric("eastwest_collector_sink_up")?, 1);
    drop(collector);
    let err = refused_at_start(&url, &missing, &missing)?;
    assert!(
        err.contains("no CA certificates loaded") && err.contains("missing.pem"),
        "{err}"
    );
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
