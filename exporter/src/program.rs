//! The program around the [`Exporter`]: start-up (the inventory, the
//! own host), the live and replay loops, progress and kernel counters,
//! the evidence server and its announcement, Ctrl-C, `main`.

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eastwest_core::inventory::Inventory;

use crate::capture::{
    self, CaptureError, FileSource, KernelCounters, LiveConfig, LiveSource, Replayed,
};
use crate::config::{self, Config, ConfigError};
use crate::decap::{Decapper, OwnHost};
use crate::encode::EncodeError;
use crate::send::SendError;
use crate::serve::{self, ServeError, Server};
use crate::stats::Stats;
use crate::store::StoreError;
use crate::{workers, Exporter};

/// Live capture: sleep this long when no frame is waiting.
pub const LIVE_IDLE_MS: u64 = 50;

/// Open the live capture on `interface` as the config's `[capture]` says.
pub(crate) fn open_live(config: &Config, interface: &str) -> Result<LiveSource, CaptureError> {
    let live = LiveSource::open(&LiveConfig {
        interface: interface.to_owned(),
        snaplen: config.capture.snaplen,
        filter: config.capture.filter.clone(),
        buffer_kib: config.capture.buffer_kib,
        idle_ms: LIVE_IDLE_MS,
    })?;
    tracing::info!(target: "capture", %interface, "capturing");
    Ok(live)
}

/// Why the exporter could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("inventory: {0}")]
    Inventory(#[from] eastwest_core::config::ConfigError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// The machine's host name (`/proc/sys/kernel/hostname`, `/etc/hostname`,
/// else "localhost").
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Load the inventory and resolve the exporter's own host and domain.
pub fn decapper(config: &Config) -> Result<Decapper, RunError> {
    let inventory = match &config.decap.inventory {
        Some(path) => Inventory::load(path)?,
        None => Inventory::empty(),
    };
    let name = config.decap.host.clone().unwrap_or_else(hostname);
    let domain = config
        .decap
        .domain
        .or_else(|| inventory.host(&name).map(|h| h.domain))
        .unwrap_or(0);
    Ok(Decapper::new(
        inventory,
        OwnHost { name, domain },
        config.decap.max_depth,
    ))
}
/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    pub stats: Stats,
}

impl Outcome {
    /// True when every capture was read to its end without error.
    pub fn complete(&self) -> bool {
        self.stats.capture_errors.is_empty()
    }
}
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

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

/// The periodic reading of a live capture's kernel counters: stored in the
/// stats and logged (`info`; `warn` when packets were dropped since the
/// last reading).
#[derive(Debug)]
pub(crate) struct KernelLog {
    interval: Duration,
    next: Instant,
    last: KernelCounters,
}

impl KernelLog {
    pub(crate) fn new(interval: Duration) -> Self {
        KernelLog {
            interval,
            next: Instant::now() + interval,
            last: KernelCounters::default(),
        }
    }

    pub(crate) fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Read the counters and log them (`--workers`: no pipeline counters
    /// in the line).
    pub(crate) fn read_counters(&mut self, live: &mut LiveSource) -> Option<KernelCounters> {
        self.next = Instant::now() + self.interval;
        let now = match live.kernel_counters() {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(target: "capture", %error, "no kernel counters");
                return None;
            }
        };
        if now.dropped > self.last.dropped || now.if_dropped > self.last.if_dropped {
            tracing::warn!(
                target: "capture",
                kernel_received = now.received,
                kernel_dropped = now.dropped,
                kernel_if_dropped = now.if_dropped,
                "capture stats: the kernel dropped packets since the last reading"
            );
        } else {
            tracing::info!(target: "capture", kernel_received = now.received, "capture stats");
        }
        self.last = now;
        Some(now)
    }

    pub(crate) fn read(&mut self, live: &mut LiveSource, exporter: &mut Exporter) {
        self.next = Instant::now() + self.interval;
        let now = match live.kernel_counters() {
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(target: "capture", %error, "no kernel counters");
                return;
            }
        };
        exporter.set_kernel_counters(now);
        let stats = exporter.stats();
        let dropped = now.dropped.saturating_sub(self.last.dropped);
        let if_dropped = now.if_dropped.saturating_sub(self.last.if_dropped);
        if dropped > 0 || if_dropped > 0 {
            tracing::warn!(
                target: "capture",
                dropped, if_dropped,
                kernel_received = now.received,
                kernel_dropped = now.dropped,
                kernel_if_dropped = now.if_dropped,
                "capture stats: the kernel dropped packets since the last reading"
            );
        } else {
            tracing::info!(
                target: "capture",
                packets = stats.packets_read,
                metered = stats.metered(),
                open_flows = exporter.open_flows(),
                flows_exported = stats.flows_exported,
                kernel_received = now.received,
                kernel_dropped = now.dropped,
                kernel_if_dropped = now.if_dropped,
                "capture stats"
            );
        }
        self.last = now;
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
            .map(|p| FileSource::open(p, config.capture.file_reader))
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

/// With a packet store: start the evidence server when `evidence.listen`
/// is set, and announce its URL (or `evidence.url`) in the options records.
pub(crate) fn start_serving(
    config: &Config,
    exporter: &mut Exporter,
) -> Result<Option<Server>, RunError> {
    let server = match (
        config.evidence.checked(),
        &config.store.dir,
        exporter.store_status(),
    ) {
        (Ok(Some(serving)), Some(dir), Some(status)) => {
            let server = Server::start(serving, dir.clone(), status)?;
            let (addr, https) = server.bound();
            let scheme = if https { "https" } else { "http" };
            eprintln!("eastwest-exporter: serving packets on {scheme}://{addr}");
            Some(server)
        }
        (Err(e), _, _) => return Err(ConfigError::Invalid(e).into()),
        _ => None,
    };
    if config.store.dir.is_some() {
        let url = serve::announced_url(
            &config.evidence.url,
            server.as_ref().map(Server::bound),
            &exporter.decapper.own().name,
        );
        if !url.is_empty() {
            exporter.announce_evidence(&url)?;
            tracing::info!(target: "serve", %url, "announcing the evidence URL");
        }
    }
    Ok(server)
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
