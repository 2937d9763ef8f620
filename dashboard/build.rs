//! Builds the web page (TypeScript + ECharts in `web/`) into `OUT_DIR/web`,
//! which `src/web.rs` embeds with `include_bytes!`. Nothing is written to
//! the source tree.
//!
//! Two ways:
//!
//! * **From the sources** (the default). Check that Node.js (≥ 18) and npm
//!   are there; copy the page's sources and `package-lock.json` to
//!   `OUT_DIR/web-build`; `npm ci` there when its `node_modules` is missing
//!   or was installed from another lockfile (exact versions and integrity
//!   hashes, from the npm registry or npm's cache); then `npm run build --
//!   --outdir OUT_DIR/web` (type check with `tsc`, bundle with esbuild).
//!   Cargo reruns this only when a file under `web/` that goes into the
//!   bundle changes.
//! * **From a prebuilt bundle**, without Node: `EASTWEST_WEB_BUNDLE=DIR`
//!   names a directory holding `index.html`, `app.js` and `app.css` (what
//!   `node build.mjs --outdir DIR` in `web/` writes, e.g. on another
//!   machine or in an earlier CI step); they are copied as they are.
//!
//! The bundle is not committed: the sources and the lockfile are the single
//! truth, and a stale or hand-edited bundle cannot ship.

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

/// The files of a bundle.
const BUNDLE: [&str; 3] = ["index.html", "app.js", "app.css"];

/// A directory holding a prebuilt bundle: no Node, no npm.
const PREBUILT: &str = "EASTWEST_WEB_BUNDLE";

/// Copy of the lockfile `npm ci` last installed from, inside node_modules.
const STAMP: &str = "node_modules/.eastwest-package-lock.json";

fn main() {
    println!("cargo:rerun-if-env-changed={PREBUILT}");
    println!("cargo:rerun-if-changed=build.rs");
    let result = match std::env::var_os(PREBUILT).filter(|dir| !dir.is_empty()) {
        Some(dir) => {
            for file in BUNDLE {
                println!(
                    "cargo:rerun-if-changed={}",
                    Path::new(&dir).join(file).display()
                );
            }
            prebuilt(Path::new(&dir))
        }
        None => {
            for input in INPUTS {
                println!("cargo:rerun-if-changed=web/{input}");
            }
            from_sources()
        }
    };
    if let Err(message) = result {
        eprintln!("\nerror: building the dashboard's web page failed\n  {message}\n");
        std::process::exit(1);
    }
}

fn out_dir() -> Result<PathBuf, String> {
    let out = std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?;
    Ok(PathBuf::from(out))
}

/// Copy the bundle in `dir` to `OUT_DIR/web`.
fn prebuilt(dir: &Path) -> Result<(), String> {
    let out = out_dir()?.join("web");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for file in BUNDLE {
        let from = dir.join(file);
        std::fs::copy(&from, out.join(file)).map_err(|e| {
            format!(
                "{PREBUILT}={}: cannot copy {file} ({e}); the directory must hold {}",
                dir.display(),
                BUNDLE.join(", ")
            )
        })?;
    }
    Ok(())
}

fn from_sources() -> Result<(), String> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let web = Path::new(&manifest).join("web");
    let out = out_dir()?;
    let stage = out.join("web-build");
    let bundle = out.join("web");
    check_node()?;
    stage_sources(&web, &stage)?;
    install(&stage)?;
    let outdir = bundle.to_str().ok_or("OUT_DIR is not UTF-8")?;
    npm(
        &stage,
        &["run", "--silent", "build", "--", "--outdir", outdir],
    )?;
    for file in BUNDLE {
        if !bundle.join(file).is_file() {
            return Err(format!(
                "the web build did not write {}",
                bundle.join(file).display()
            ));
        }
    }
    Ok(())
}

/// Mirror the inputs into `stage` (its `node_modules` stays): files
/// removed from `web/src` are removed there too.
fn stage_sources(web: &Path, stage: &Path) -> Result<(), String> {
    std::fs::create_dir_all(stage)
        .map_err(|e| format!("cannot create {}: {e}", stage.display()))?;
    for input in INPUTS {
        let from = web.join(input);
        let to = stage.join(input);
        if from.is_dir() {
            if to.exists() {
                std::fs::remove_dir_all(&to)
                    .map_err(|e| format!("cannot clear {}: {e}", to.display()))?;
            }
            copy_dir(&from, &to)?;
        } else {
            std::fs::copy(&from, &to)
                .map_err(|e| format!("cannot copy {} ({e})", from.display()))?;
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)
                .map_err(|e| format!("cannot copy {} ({e})", path.display()))?;
        }
    }
    Ok(())
}

const NO_NODE: &str =
    "Node.js >= 18 and npm are needed to build the page (dashboard/web: TypeScript + ECharts).\n  \
    Install them with `scripts/install-deps run` (Debian: apt-get install nodejs npm),\n  \
    or build without Node from a prebuilt bundle: EASTWEST_WEB_BUNDLE=DIR (index.html, app.js, app.css).";

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

/// `npm ci` in `stage` unless its node_modules was installed from this
/// very lockfile.
fn install(stage: &Path) -> Result<(), String> {
    let lock = std::fs::read(stage.join("package-lock.json"))
        .map_err(|e| format!("cannot read dashboard/web/package-lock.json: {e}"))?;
    if std::fs::read(stage.join(STAMP)).is_ok_and(|stamp| stamp == lock) {
        return Ok(());
    }
    npm(
        stage,
        &[
            "ci",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ],
    )?;
    std::fs::write(stage.join(STAMP), &lock)
        .map_err(|e| format!("cannot write {}: {e}", stage.join(STAMP).display()))
}

fn npm(dir: &Path, args: &[&str]) -> Result<(), String> {
    let status = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cannot run `npm` ({e}).\n  {NO_NODE}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`npm {}` in {} failed ({status}); its output is above",
            args.join(" "),
            dir.display()
        ))
    }
}
