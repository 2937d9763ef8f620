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
pub mod tls;

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
            // Bounded: a server that stops answering fails the test
            // instead of hanging the run.
            .args([
                "-sS",
                "--max-time",
                "120",
                "--fail-with-body",
                "--data-binary",
                "@-",
                &self.url,
            ])
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

/// A ClickHouse server of one test's own (for tests that stop and start
/// it), on free loopback ports under a temporary directory; stopped and
/// its directory removed when dropped, also when the test fails.
#[derive(Debug)]
pub struct OwnClickHouse {
    dir: PathBuf,
    pub http: u16,
    pub tcp: u16,
}

impl OwnClickHouse {
    /// Start a server named `name` (unique per test in this process).
    pub fn start(name: &str) -> Result<OwnClickHouse> {
        OwnClickHouse::start_with(name, |_| Ok(()))
    }

    /// [`OwnClickHouse::start`] with `setup` run on the prepared server
    /// before it starts (e.g. [`OwnClickHouse::config_d`] with a port of
    /// its own). A free port can be taken by another process between being
    /// chosen and being bound, so a server that fails to start is tried
    /// again on new ports, three times in all.
    pub fn start_with(
        name: &str,
        mut setup: impl FnMut(&OwnClickHouse) -> Result<()>,
    ) -> Result<OwnClickHouse> {
        let mut attempt = 1;
        loop {
            let server = OwnClickHouse::prepare(name)?;
            setup(&server)?;
            match server.up() {
                Ok(()) => return Ok(server),
                Err(err) if attempt >= 3 => return Err(err),
                Err(err) => eprintln!("{name}: {err:#}; again on other ports"),
            }
            attempt += 1;
        }
    }

    /// Choose its directory and ports without starting it (see
    /// [`OwnClickHouse::config_d`], then [`OwnClickHouse::up`]).
    pub fn prepare(name: &str) -> Result<OwnClickHouse> {
        let dir = std::env::temp_dir().join(format!("eastwest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config.d"))?;
        Ok(OwnClickHouse {
            dir,
            http: free_tcp_port()?,
            tcp: free_tcp_port()?,
        })
    }

    /// Add a file to the server's `config.d/` (merged into its config at
    /// start, e.g. `remote_servers` for a cluster).
    pub fn config_d(&self, file: &str, xml: &str) -> Result<()> {
        std::fs::write(self.dir.join("config.d").join(file), xml)
            .with_context(|| format!("writing config.d/{file}"))
    }

    fn script(&self, args: &[String]) -> Result<()> {
        let script = repo_root().join("scripts/clickhouse/run");
        let status = Command::new(&script)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            bail!("{} {args:?} failed ({status})", script.display());
        }
        Ok(())
    }

    /// Start it (again).
    pub fn up(&self) -> Result<()> {
        self.script(&[
            "start".into(),
            self.dir.display().to_string(),
            self.http.to_string(),
            self.tcp.to_string(),
        ])
    }

    /// Stop it; its data stays for the next [`OwnClickHouse::up`].
    pub fn down(&self) -> Result<()> {
        self.script(&["stop".into(), self.dir.display().to_string()])
    }

    /// Freeze (SIGSTOP) or thaw (SIGCONT) the server: frozen, it accepts
    /// connections (the kernel does) and answers nothing, as a server
    /// stuck on a lock or a dead disk.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let pid = std::fs::read_to_string(self.dir.join("clickhouse.pid"))
            .context("reading the server's pid file (is it running?)")?;
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").args([signal, pid.trim()]).status()?;
        if !status.success() {
            bail!("kill {signal} {} failed", pid.trim());
        }
        Ok(())
    }

    pub fn client(&self) -> ClickHouse {
        ClickHouse {
            url: format!("http://127.0.0.1:{}", self.http),
        }
    }
}

impl Drop for OwnClickHouse {
    fn drop(&mut self) {
        let _ = self.freeze(false);
        let _ = self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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

/// The `eastwest-collector` binary running on a config file of its own,
/// killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct CollectorProcess {
    child: std::process::Child,
    http: u16,
}

impl CollectorProcess {
    /// Start it with `--config config` (whose `http.listen` is
    /// 127.0.0.1:`http`) and wait for `/metrics`; its log is appended to
    /// `collector.log` beside `config`.
    pub fn start(config: &Path, http: u16) -> Result<CollectorProcess> {
        CollectorProcess::start_with_env(config, http, &[])
    }

    /// As [`CollectorProcess::start`], with extra environment variables
    /// (e.g. `SSL_CERT_FILE`).
    pub fn start_with_env(
        config: &Path,
        http: u16,
        env: &[(&str, &Path)],
    ) -> Result<CollectorProcess> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.with_file_name("collector.log"))?;
        let child = Command::new(workspace_bin("eastwest-collector"))
            .arg("--config")
            .arg(config)
            .env(LAB_CLOCK.0, LAB_CLOCK.1)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting eastwest-collector")?;
        let mut process = CollectorProcess { child, http };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while process.metric("eastwest_collector_sink_up").is_err() {
            if let Ok(Some(status)) = process.child.try_wait() {
                let log = std::fs::read_to_string(config.with_file_name("collector.log"))
                    .unwrap_or_default();
                bail!("eastwest-collector exited with {status} at start-up: {log}");
            }
            if std::time::Instant::now() > deadline {
                bail!("timed out after 30 s waiting for the collector's /metrics");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The sum of every series of metric `name` on `/metrics`.
    pub fn metric(&self, name: &str) -> Result<u64> {
        let out = Command::new("curl")
            .args([
                "-sf",
                "--max-time",
                "10",
                &format!("http://127.0.0.1:{}/metrics", self.http),
            ])
            .output()?;
        if !out.status.success() {
            bail!("/metrics did not answer");
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut found = None;
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            if series == name
                || series
                    .strip_prefix(name)
                    .is_some_and(|r| r.starts_with('{'))
            {
                let v: f64 = value.trim().parse().with_context(|| line.to_string())?;
                *found.get_or_insert(0) += v as u64;
            }
        }
        found.with_context(|| format!("{name} not in /metrics"))
    }

    /// Peak resident memory so far (VmHWM), MiB.
    pub fn peak_rss_mib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib / 1024)
            .context("VmHWM not in /proc/PID/status")
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, and wait for the graceful shutdown (exit 0).
    pub fn terminate(&mut self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        // Its own shutdown is bounded (flush, then the stages' deadline);
        // one that still runs after that is a hang: killed and reported.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if std::time::Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                bail!("the collector did not stop within 90 s of SIGTERM");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        if !status.success() {
            bail!("the collector exited with {status}");
        }
        Ok(())
    }

    /// SIGKILL, and reap it.
    pub fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/metrics` answer read by a strict parser of the Prometheus text
/// format 0.0.4 (`openmetrics-parser`): name, label and value syntax, label
/// escapes, one `# HELP` and one `# TYPE` per family before its samples,
/// sample names that fit the family's type (`_bucket`, `_sum`, `_count` of
/// a histogram). Each family's name and type (`counter`, `gauge`,
/// `histogram`); a family without help text is an error too.
pub fn metric_families(text: &str) -> Result<std::collections::BTreeMap<String, String>> {
    let exposition = openmetrics_parser::prometheus::parse_prometheus(text)
        .map_err(|err| anyhow::anyhow!("not the Prometheus text format: {err:?}\n{text}"))?;
    let mut families = std::collections::BTreeMap::new();
    for (name, family) in exposition.families {
        if family.help.trim().is_empty() {
            bail!("{name} has no help text");
        }
        families.insert(name, family.family_type.to_string());
    }
    Ok(families)
}

/// One HTTP/1.1 request to 127.0.0.1:`port` over a plain socket (the
/// target is sent as given, not normalised), `Connection: close`; the
/// status code and the body. Gives up after `timeout`.
pub fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: std::time::Duration,
) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .with_context(|| format!("no HTTP status in {text:?}"))?;
    let body = match text.split_once("\r\n\r\n") {
        Some((head, rest))
            if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked") =>
        {
            dechunk(rest)
        }
        Some((_, rest)) => rest.to_string(),
        None => String::new(),
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The `eastwest-dashboard` binary on a config file of its own, killed
/// when dropped.
#[derive(Debug)]
pub struct DashboardProcess {
    child: std::process::Child,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
}

impl DashboardProcess {
    /// Start it with `--config config` and `--listen 127.0.0.1:PORT`, and
    /// wait for `/api/v1/health` to answer; its log goes to `dashboard.log`
    /// beside `config`.
    pub fn start(config: &Path) -> Result<DashboardProcess> {
        let port = free_tcp_port()?;
        let log = std::fs::File::create(config.with_file_name("dashboard.log"))?;
        let child = Command::new(workspace_bin("eastwest-dashboard"))
            .arg("--config")
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting eastwest-dashboard")?;
        let mut process = DashboardProcess { child, port };
        wait_for(30, "the dashboard to listen", || {
            if let Ok(Some(status)) = process.child.try_wait() {
                bail!("the dashboard exited with {status}");
            }
            Ok(http(
                port,
                "GET",
                "/api/v1/openapi.json",
                &[],
                b"",
                std::time::Duration::from_secs(2),
            )
            .is_ok())
        })?;
        Ok(process)
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for DashboardProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
