//! Shared harness for eastwest's tests: the repository root, free ports, and
//! a real ClickHouse server.
//!
//! [`clickhouse`] returns the server for this test process: the one named by
//! `EASTWEST_TEST_CLICKHOUSE_URL` (scripts/test starts one for the whole run),
//! else one started here from the project's own config
//! (`scripts/clickhouse/run`) on free loopback ports, under a temporary
//! directory, and stopped by a watchdog when this process exits. Each test
//! takes its own database from [`unique_database`], so tests never see each
//! other's rows.

pub mod browser;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

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

/// A running ClickHouse server.
#[derive(Debug, Clone)]
pub struct ClickHouse {
    /// HTTP interface, e.g. `http://127.0.0.1:18123`.
    pub url: String,
}

impl ClickHouse {
    /// Run one statement over HTTP and return the response body
    /// (TabSeparated). For test set-up and checks only.
    pub fn query(&self, sql: &str) -> Result<String> {
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--data-binary", "@-", &self.url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(sql.as_bytes())?;
                }
                child.wait_with_output()
            })
            .context("running curl")?;
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "ClickHouse rejected `{sql}`: {body}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(body)
    }
}

static SERVER: OnceLock<std::result::Result<ClickHouse, String>> = OnceLock::new();

/// The ClickHouse server for this test process (see the module docs).
pub fn clickhouse() -> Result<ClickHouse> {
    SERVER
        .get_or_init(|| start_or_reuse().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn start_or_reuse() -> Result<ClickHouse> {
    if let Ok(url) = std::env::var("EASTWEST_TEST_CLICKHOUSE_URL") {
        return Ok(ClickHouse { url });
    }
    let dir = std::env::temp_dir().join(format!("eastwest-test-ch-{}", std::process::id()));
    let http = free_tcp_port()?;
    let tcp = free_tcp_port()?;
    let script = repo_root().join("scripts/clickhouse/run");
    let status = Command::new(&script)
        .arg("start")
        .arg(&dir)
        .arg(http.to_string())
        .arg(tcp.to_string())
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} start failed ({status})", script.display());
    }
    // Stop the server when this test process is gone.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; '{script}' stop '{dir}' >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        script = script.display(),
        dir = dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &watchdog])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting the ClickHouse watchdog")?;
    Ok(ClickHouse {
        url: format!("http://127.0.0.1:{http}"),
    })
}

/// A database name no other test in this run uses.
pub fn unique_database(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
