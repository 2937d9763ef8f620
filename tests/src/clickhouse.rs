//! ClickHouse for tests: the server shared by this test process
//! ([`clickhouse()`]), a database of each test's own, and a server of one
//! test's own that it may stop, start and freeze ([`OwnClickHouse`]).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use eastwest_clickhouse::schema::{migrations, Layout};

use crate::{free_tcp_port, repo_root};

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
    // On free ports, tried again on others if one was taken meanwhile
    // (other test processes start servers at the same time).
    let server = OwnClickHouse::start("test-ch")?;
    let client = server.client();
    // Stop the server when this test process is gone, not when this
    // function returns: the server lives as long as the process.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; '{script}' stop '{dir}' >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        script = repo_root().join("scripts/clickhouse/run").display(),
        dir = server.dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &watchdog])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting the ClickHouse watchdog")?;
    std::mem::forget(server);
    Ok(client)
}

/// Today's statements that create an empty database `db`'s tables and
/// views: not the upgrades' (`DROP`, `ALTER`, `INSERT`, `RENAME` and the
/// copies they fill), which a test makes the schema of an older version
/// without.
pub fn creating_statements(db: &str) -> impl Iterator<Item = String> {
    migrations(&Layout::single(db))
        .into_iter()
        .map(|step| step.statement)
        .filter(|statement| {
            !["DROP", "ALTER", "INSERT", "RENAME"]
                .iter()
                .any(|w| statement.starts_with(w))
                && !statement.contains("__repartition")
                && !statement.contains("__regranulate")
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

    /// Start it (again). A server that exits at start (e.g. a port of
    /// its own taken for a moment by another process's connection) is
    /// started again after a second, three times in all; the last
    /// failure carries the end of the server's error log.
    pub fn up(&self) -> Result<()> {
        let args = [
            "start".into(),
            self.dir.display().to_string(),
            self.http.to_string(),
            self.tcp.to_string(),
        ];
        let mut attempt = 1;
        loop {
            match self.script(&args) {
                Ok(()) => return Ok(()),
                Err(err) if attempt >= 3 => {
                    let log =
                        std::fs::read_to_string(self.dir.join("log/clickhouse-server.err.log"))
                            .unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(20).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    return Err(
                        err.context(format!("the server's error log ends:\n{}", tail.join("\n")))
                    );
                }
                Err(err) => eprintln!("{}: {err:#}; started again", self.dir.display()),
            }
            attempt += 1;
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
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
