//! Shared harness for eastwest's tests: the repository root, free ports, and
//! a real ClickHouse server.
//!
//! [`clickhouse()`] returns the server for this test process: the one named by
//! `EASTWEST_TEST_CLICKHOUSE_URL` (scripts/test starts one for the whole run),
//! else one started here from the project's own config
//! (`scripts/clickhouse/run`) on free loopback ports, under a temporary
//! directory, and stopped by a watchdog when this process exits. Each test
//! takes its own database from [`unique_database`], so tests never see each
//! other's rows.
//!
//! The binaries a test runs are [`CollectorProcess`] and
//! [`DashboardProcess`]; [`http()`] sends one request over a plain socket
//! and [`metric_families`] reads a `/metrics` answer strictly. Certificates
//! come from [`tls`], the page's tests run through [`browser`].

pub mod browser;
mod clickhouse;
mod collector;
mod dashboard;
mod http;
pub mod tls;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub use clickhouse::{clickhouse, creating_statements, unique_database, ClickHouse, OwnClickHouse};
pub use collector::CollectorProcess;
pub use dashboard::DashboardProcess;
pub use http::{http, metric_families};

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The clock (`EASTWEST_CLOCK`, see `eastwest_core::clock`) of every
/// collector a test starts: the lab's day, 2026-11-02, at noon UTC. The
/// tests' live flows are of that day, so retention (30 days by flow time)
/// keeps them whatever the day the tests run.
pub const LAB_CLOCK: (&str, &str) = (eastwest_core::clock::ENV, "2026-11-02T12:00:00Z");

/// Path of a workspace binary built beside the running test
/// (`target/debug/deps/TEST-HASH` → `target/debug/NAME`). Panics with what to
/// do when it is not built: `cargo test --workspace` and scripts/test build
/// every binary first.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .unwrap_or_else(|| PathBuf::from(name));
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// lab/expected.json, the truth of the lab capture.
pub fn lab_expected() -> Result<serde_json::Value> {
    let path = repo_root().join("lab/expected.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_tcp_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A UDP port free on 127.0.0.1 right now.
pub fn free_udp_port() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The bytes waiting in the receive queue of the IPv4 UDP socket bound to
/// `port` (the kernel's `/proc/net/udp`), or None when no socket is bound
/// to it: a peer listens once this is Some, and has read every datagram
/// sent to it once it is Some(0).
pub fn udp_receive_queue(port: u16) -> Result<Option<u64>> {
    let table = std::fs::read_to_string("/proc/net/udp").context("reading /proc/net/udp")?;
    let local = format!(":{port:04X}");
    for line in table.lines().skip(1) {
        // sl local_address rem_address st tx_queue:rx_queue ...
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(address), Some(queues)) = (fields.get(1), fields.get(4)) else {
            continue;
        };
        if !address.ends_with(&local) {
            continue;
        }
        let rx = queues
            .split_once(':')
            .map(|(_, rx)| rx)
            .context("a tx_queue:rx_queue field in /proc/net/udp")?;
        return Ok(Some(u64::from_str_radix(rx, 16)?));
    }
    Ok(None)
}

/// A fresh empty directory for one test, under the temporary directory.
pub fn tempdir(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("eastwest-{name}-{}-dir", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Poll `check` until it returns true, for at most `secs` seconds.
pub fn wait_for(secs: u64, what: &str, mut check: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if check().unwrap_or(false) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("timed out after {secs} s waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
