//! The `eastwest-dashboard` binary as a test runs it.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{free_tcp_port, http, wait_for, workspace_bin};

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
