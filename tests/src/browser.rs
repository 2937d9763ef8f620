//! The dashboard page's tests, run with node's test runner:
//! [`run_page_tests`] runs `dashboard/web/tests/browser.mjs` in a real
//! headless Chromium (playwright-core driving Debian's `chromium`) against a
//! dashboard that serves the lab; [`run_unit_tests`] the page's logic
//! (`dashboard/web/tests/unit/`) without a browser.
//!
//! playwright-core comes from `dashboard/web/node_modules`, which
//! `scripts/install-deps test` installs (`npm ci` from the lockfile). Screenshots
//! of every view and the downloaded reports go to
//! `target/browser-screenshots/` (or `EASTWEST_SCREENSHOTS`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::repo_root;

/// Where the page tests put their screenshots: `EASTWEST_SCREENSHOTS`, else
/// `browser-screenshots/` in the target directory of the running test.
pub fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EASTWEST_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| repo_root().join("target"))
        .join("browser-screenshots")
}

fn web_dir() -> Result<PathBuf> {
    let web = repo_root().join("dashboard/web");
    if !web.join("node_modules/playwright-core").is_dir() {
        bail!(
            "{} is not installed: run scripts/install-deps test (npm ci in dashboard/web)",
            web.join("node_modules").display()
        );
    }
    Ok(web)
}

/// Run `node` in dashboard/web with `args`; its output is printed (shown by
/// `cargo test` when the calling test fails).
fn node(web: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Result<()> {
    let mut command = Command::new("node");
    command.current_dir(web).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command
        .output()
        .context("running node (scripts/install-deps installs Node.js)")?;
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("`node {}` failed ({})", args.join(" "), out.status);
    }
    Ok(())
}

/// The page's unit tests: bundled by esbuild (`build.mjs --tests`) into a
/// temporary directory, run by `node --test`.
pub fn run_unit_tests() -> Result<()> {
    let web = web_dir()?;
    let dir = std::env::temp_dir().join(format!("eastwest-web-unit-{}", std::process::id()));
    let dir_str = dir.to_str().context("temporary directory is not UTF-8")?;
    let result = node(&web, &["build.mjs", "--tests", dir_str], &[])
        .and_then(|()| node(&web, &["--test", "--test-reporter=tap", dir_str], &[]));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A dashboard with authentication on, and a viewer token it accepts: the
/// page tests then check the token prompt too.
#[derive(Debug, Clone, Copy)]
pub struct AuthDashboard<'a> {
    pub base_url: &'a str,
    pub token: &'a str,
}

/// Run the page tests against the dashboard at `base_url` (and, given one,
/// a dashboard with authentication on); their TAP output is printed (shown
/// by `cargo test` when the calling test fails).
pub fn run_page_tests(base_url: &str, auth: Option<AuthDashboard<'_>>) -> Result<()> {
    let web = web_dir()?;
    let shots = screenshot_dir();
    let mut env = vec![
        ("EASTWEST_URL", OsStr::new(base_url)),
        ("EASTWEST_SCREENSHOTS", shots.as_os_str()),
    ];
    if let Some(auth) = auth {
        env.push(("EASTWEST_AUTH_URL", OsStr::new(auth.base_url)));
        env.push(("EASTWEST_TOKEN", OsStr::new(auth.token)));
    }
    node(
        &web,
        &["--test", "--test-reporter=tap", "tests/browser.mjs"],
        &env,
    )
    .with_context(|| format!("page tests; screenshots in {}", shots.display()))
}

/// Run the packets buttons' browser test (`dashboard/web/tests/packets.mjs`)
/// against the dashboard at `base_url` with a `responder` token: the
/// capture a violation's button downloads is saved to `out`, the one the
/// VM page's button downloads (fin-fe-01) to `vm_out`.
pub fn run_packets_test(base_url: &str, token: &str, out: &Path, vm_out: &Path) -> Result<()> {
    let web = web_dir()?;
    node(
        &web,
        &["--test", "--test-reporter=tap", "tests/packets.mjs"],
        &[
            ("EASTWEST_URL", OsStr::new(base_url)),
            ("EASTWEST_TOKEN", OsStr::new(token)),
            ("EASTWEST_PACKETS_OUT", out.as_os_str()),
            ("EASTWEST_PACKETS_VM_OUT", vm_out.as_os_str()),
        ],
    )
    .context("the packets buttons' browser test")
}
