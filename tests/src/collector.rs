//! The `eastwest-collector` binary as a test runs it, and its `/metrics`
//! read back.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{workspace_bin, LAB_CLOCK};

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
