//! The program around the [`Exporter`]: the one-thread live and replay
//! loops with their progress line, Ctrl-C, `main`. What they share with
//! the `--workers` loops is in [`crate::startup`].

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capture::{self, FileSource, ReadFor, Replayed};
use crate::config::{self, Config, ConfigError};
use crate::error::RunError;
use crate::startup::{
    decapper, open_live, start_serving, wall_ms, KernelLog, Outcome, LIVE_IDLE_MS,
};
use crate::{workers, Exporter};

/// Progress line on stderr, at most once a second, on a terminal only.
#[derive(Debug)]
struct Progress {
    enabled: bool,
    next: Instant,
    shown: bool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            next: Instant::now() + Duration::from_secs(1),
            shown: false,
        }
    }

    fn update(&mut self, exporter: &Exporter) {
        if !self.enabled || Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + Duration::from_secs(1);
        self.shown = true;
        let line = exporter.stats().progress_line(exporter.open_flows());
        let mut err = std::io::stderr().lock();
        // Progress is best effort: a closed stderr must not stop the run.
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.shown {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

/// Run the exporter until the input ends or `shutdown` is set; every flow
/// is exported before returning.
pub fn run(config: &Config, shutdown: &AtomicBool) -> Result<Outcome, RunError> {
    if config.cache.workers > 1 && !config.serves_only() {
        return workers::run(config, shutdown);
    }
    let decapper = decapper(config)?;
    tracing::info!(
        host = %decapper.own().name,
        domain = decapper.own().domain,
        "exporter starting"
    );
    let mut exporter = Exporter::new(config, decapper)?;
    let mut server = start_serving(config, &mut exporter)?;
    let mut progress = Progress::new();
    let mut capture_errors = Vec::new();
    if config.serves_only() {
        while !shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(LIVE_IDLE_MS));
        }
    } else if let Some(interface) = &config.capture.interface {
        let mut live = open_live(config, interface)?;
        let interval = Duration::from_secs(config.capture.stats_interval_secs);
        let mut kernel = KernelLog::new(interval);
        while !shutdown.load(Ordering::Relaxed) {
            match live.next_event() {
                Ok(capture::Live::Frame(f)) => exporter.capture(&f, wall_ms()),
                Ok(capture::Live::Idle) => exporter.tick(wall_ms()),
                Err(e) => {
                    tracing::error!(target: "capture", error = %e, "live capture failed");
                    capture_errors.push(e.to_string());
                    break;
                }
            }
            if kernel.due() {
                kernel.read(&mut live, &mut exporter);
            }
            progress.update(&exporter);
        }
        kernel.read(&mut live, &mut exporter);
    } else {
        // Open every file first: a missing one stops the run before
        // anything is sent.
        let mut files = config
            .capture
            .read
            .iter()
            .map(|p| FileSource::open(p, config.capture.file_reader, ReadFor::OneThread))
            .collect::<Result<Vec<_>, _>>()?;
        capture::replay(
            &mut files,
            config.send.speed,
            false,
            &mut capture_errors,
            |event| {
                match event {
                    Replayed::File(file) => exporter.begin_file(file),
                    Replayed::Frame(f, ms, _) => exporter.capture(f, ms),
                    Replayed::Check => {
                        progress.update(&exporter);
                        if shutdown.load(Ordering::Relaxed) {
                            return ControlFlow::Break(());
                        }
                    }
                }
                ControlFlow::Continue(())
            },
        );
    }
    exporter.finish();
    if let Some(server) = &mut server {
        server.stop();
    }
    progress.clear();
    let mut stats = exporter.stats();
    stats.capture_errors = capture_errors;
    Ok(Outcome { stats })
}

/// A flag set on the first Ctrl-C / SIGINT (the run then stops and exports
/// what it has); a second one exits at once with status 130.
pub fn shutdown_on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            else {
                return;
            };
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                set.store(true, Ordering::Relaxed);
                if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                    std::process::exit(130);
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no Ctrl-C handler: an interrupt stops without exporting");
    }
    flag
}

/// The program after argument parsing: `--check-config`, or a run with its
/// summary on stderr and `--stats-json` on stdout. Exits non-zero when a
/// capture was damaged (after exporting what was readable).
pub fn main_with(cli: &config::Cli) -> Result<std::process::ExitCode, RunError> {
    if cli.hash_token {
        let mut token = String::new();
        std::io::stdin()
            .read_line(&mut token)
            .map_err(|e| ConfigError::Invalid(format!("cannot read the token: {e}")))?;
        let token = token.trim_end_matches(['\r', '\n']);
        if token.is_empty() {
            return Err(ConfigError::Invalid("empty token on standard input".into()).into());
        }
        println!("{}", eastwest_core::token::digest_hex(token));
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let config = cli.config()?;
    if cli.check_config {
        let d = decapper(&config)?;
        let text = toml::to_string(&config).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        println!("{text}");
        eprintln!(
            "configuration is valid; own host {:?}, domain {}",
            d.own().name,
            d.own().domain
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let shutdown = shutdown_on_ctrl_c();
    let outcome = run(&config, &shutdown)?;
    eprint!("{}", outcome.stats.summary());
    if cli.stats_json {
        let json = serde_json::to_string(&outcome.stats)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        println!("{json}");
    }
    Ok(if outcome.complete() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
