//! What the one-thread loop ([`crate::program`]) and the `--workers` loops
//! ([`crate::workers`]) share: start-up (the inventory, the own host, the
//! evidence server and its announcement), the live capture's opening and
//! its kernel counters, and how a run ended.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eastwest_core::inventory::Inventory;

use crate::capture::{CaptureError, KernelCounters, LiveConfig, LiveSource};
use crate::config::{Config, ConfigError};
use crate::decap::{Decapper, OwnHost};
use crate::error::RunError;
use crate::serve::{self, Server};
use crate::stats::Stats;
use crate::Exporter;

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
