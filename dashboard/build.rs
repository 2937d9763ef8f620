//! Builds the web page (TypeScript + ECharts in `web/`) into `OUT_DIR/web`,
//! which `src/web.rs` embeds with `include_bytes!`.
//!
//! Steps: check that Node.js (≥ 18) and npm are there; `npm ci` when
//! `web/node_modules` is missing or was installed from another
//! `package-lock.json` (exact versions and integrity hashes, from the npm
//! registry); then `npm run build -- --outdir OUT_DIR/web` (type check with
//! `tsc`, bundle with esbuild). Cargo reruns this only when a file under
//! `web/` that goes into the bundle changes.
//!
//! The bundle is not committed: the sources and the lockfile are the single
//! truth, and a stale or hand-edited bundle cannot ship. The price is that
//! building the dashboard needs Node.js and npm (`scripts/install-deps run`
//! installs them) and, the first time, the npm registry.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Inputs of the bundle (relative to `web/`).
const INPUTS: &[&str] = &[
    "src",
    "index.html",
    "build.mjs",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
];

/// Copy of the lockfile `npm ci` last installed from, inside node_modules.
const STAMP: &str = "node_modules/.eastwest-package-lock.json";

fn main() {
    for input in INPUTS {
        println!("cargo:rerun-if-changed=web/{input}");
    }
    println!("cargo:rerun-if-changed=web/node_modules/.eastwest-package-lock.json");
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(message) = run() {
        eprintln!("\nerror: building the dashboard's web page failed\n  {message}\n");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let out = std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?;
    let web = Path::new(&manifest).join("web");
    let out = PathBuf::from(out).join("web");
    check_node()?;
    install(&web)?;
    let outdir = out.to_str().ok_or("OUT_DIR is not UTF-8")?;
    npm(
        &web,
        &["run", "--silent", "build", "--", "--outdir", outdir],
    )?;
    for file in ["index.html", "app.js", "app.css"] {
        if !out.join(file).is_file() {
            return Err(format!(
                "the web build did not write {}",
                out.join(file).display()
            ));
        }
    }
    Ok(())
}

const NO_NODE: &str =
    "Node.js >= 18 and npm are needed to build the page (dashboard/web: TypeScript + ECharts).\n  \
    Install them with `scripts/install-deps run` (Debian: apt-get install nodejs npm).";

fn check_node() -> Result<(), String> {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `node` ({e}).\n  {NO_NODE}"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 18 {
        return Err(format!("node {version} is too old.\n  {NO_NODE}"));
    }
    Command::new("npm")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `npm` ({e}).\n  {NO_NODE}"))?;
    Ok(())
}

/// `npm ci` unless node_modules was installed from this very lockfile.
fn install(web: &Path) -> Result<(), String> {
    let lock = std::fs::read(web.join("package-lock.json"))
        .map_err(|e| format!("cannot read dashboard/web/package-lock.json: {e}"))?;
    if std::fs::read(web.join(STAMP)).is_ok_and(|stamp| stamp == lock) {
        return Ok(());
    }
    npm(web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"])?;
    std::fs::write(web.join(STAMP), &lock)
        .map_err(|e| format!("cannot write dashboard/web/{STAMP}: {e}"))
}

fn npm(web: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("npm")
        .args(args)
        .current_dir(web)
        .status()
        .map_err(|e| format!("cannot run `npm` ({e}).\n  {NO_NODE}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`npm {}` in dashboard/web failed ({status}); its output is above",
            args.join(" ")
        ))
    }
}
