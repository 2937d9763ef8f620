//! eastwest-exporter: mirrored traffic or capture files in, NetFlow v9 out.
//!
//! The pipeline is single-threaded and its stages are modules:
//! [`capture`] → [`decap`] → [`cache`] → [`encode`] → [`send`], with
//! [`stats`] counting along the way and [`config`] reading the settings.
//! Beside the cache, [`store`] keeps the frames themselves (`--packet-store`)
//! and [`serve`] hands them out as pcapng (`--evidence-listen`).
//! [`Exporter`] holds the stages after capture and is driven frame by frame
//! with the time passed in, so tests and the file and live loops share it;
//! [`run`] is the whole program minus argument parsing.

pub mod cache;
pub mod capture;
pub mod config;
pub mod decap;
pub mod encode;
pub mod send;
pub mod serve;
pub mod stats;
pub mod store;
pub mod workers;

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eastwest_core::flow::{Encap, FlowRecord};
use eastwest_core::inventory::Inventory;

use eastwest_core::decap::Metered;

use crate::cache::{FlowCache, Ingested, Observation, Prepared};
use crate::capture::{
    CaptureError, FileSource, Frame, KernelCounters, LiveConfig, LiveSource, Replayed,
};
use crate::config::{Config, ConfigError};
use crate::decap::{Decapper, OwnHost};
use crate::encode::{Datagram, EncodeError, Encoder};
use crate::send::{SendError, Sender};
use crate::serve::{ServeError, Server};
use crate::stats::Stats;
use crate::store::{PacketStore, StoreError, StoreKey};

/// Expired records are encoded at most this often (in capture time)
/// unless a full batch is waiting, so export packets are well filled.
pub const EXPORT_INTERVAL_MS: u64 = 1_000;
/// Records waiting that trigger an export before the interval.
pub const EXPORT_BATCH: usize = 512;
/// Live capture: sleep this long when no frame is waiting.
pub const LIVE_IDLE_MS: u64 = 50;
/// Frames metered ahead of their counting (see [`Exporter::capture`]).
pub const LOOKAHEAD: usize = 16;

/// A metered frame waiting in the look-ahead: what the cache counts
/// (`None`: a frame that was not metered, which only lets time pass) and
/// its time.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    metered: Option<(Metered, Prepared)>,
    now_ms: u64,
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

/// Every stage after capture.
#[derive(Debug)]
pub struct Exporter {
    decapper: Decapper,
    cache: FlowCache,
    encoder: Encoder,
    sender: Sender,
    stats: Stats,
    /// Frames metered per encapsulation (index: [`Encap::code`]), folded
    /// into `stats` by [`Exporter::stats`]: a plain array on the per-frame
    /// path, not a map.
    encaps: [u64; Encap::ALL.len()],
    named: HashSet<u32>,
    pending: Vec<FlowRecord>,
    datagrams: Vec<Datagram>,
    next_export_ms: u64,
    last_now_ms: u64,
    store: Option<PacketStore>,
    /// Frames metered, not yet counted (at most [`LOOKAHEAD`]).
    waiting: Vec<Waiting>,
}

impl Exporter {
    pub fn new(config: &Config, decapper: Decapper) -> Result<Self, RunError> {
        let store = match &config.store.dir {
            Some(dir) => {
                // Re-indexing at start-up keys frames as the cache would:
                // a cache of its own resolves later fragments' ports.
                // Made only if a segment needs it (it is sized up front).
                let mut cache: Option<FlowCache> = None;
                let mut expired = Vec::new();
                let mut keyer = |data: &[u8], ts_ns: u64| {
                    expired.clear();
                    let cache = cache.get_or_insert_with(|| FlowCache::new(&config.cache));
                    decapper
                        .decap_with(data, |m, obs, _| {
                            cache.ingest(m, obs, ns_to_ms(ts_ns), &mut expired);
                            StoreKey::new(m, &obs, cache.last_ports())
                        })
                        .ok()
                };
                Some(PacketStore::open(&config.store, dir, &mut keyer)?)
            }
            None => None,
        };
        Ok(Exporter {
            decapper,
            cache: FlowCache::new(&config.cache),
            encoder: Encoder::new(&config.encode)?,
            sender: Sender::new(&config.send.export)?,
            stats: Stats::new(),
            encaps: [0; Encap::ALL.len()],
            named: HashSet::new(),
            pending: Vec::new(),
            datagrams: Vec::new(),
            next_export_ms: 0,
            last_now_ms: 0,
            store,
            waiting: Vec::with_capacity(LOOKAHEAD),
        })
    }

    /// Handle one captured frame at `now_ms` (the cache's time): meter it
    /// and, with a packet store, keep it (with its own capture time).
    /// Not inlined into the replay loop, so that `frame_keyed` is inlined
    /// here: 27 fewer instructions per packet under callgrind.
    ///
    /// Without a packet store, frames are counted [`LOOKAHEAD`] at a time
    /// (the look-ahead): each is decapsulated and metered when it comes,
    /// then, once [`LOOKAHEAD`] wait, the cache is asked for all their
    /// flows at once (their cache lines requested from memory together,
    /// so the misses overlap instead of queueing: the flow table is much
    /// larger than the CPU caches) and each frame is counted and its time
    /// passed, in capture order. The cache sees the same operations in
    /// the same order as one frame at a time, a few frames later;
    /// [`Exporter::tick`] and [`Exporter::finish`] count what waits
    /// first. (The store keys each frame with the ports the cache counted
    /// it under, so with a store each frame is counted at once.)
    #[inline(never)]
    pub fn capture(&mut self, f: &Frame<'_>, now_ms: u64) {
        if self.store.is_none() {
            let queued = self.meter(f.data, f.wire_len, now_ms, |m, obs, cache, _, waiting| {
                let metered = Some((*m, cache.prepare(m, obs)));
                waiting.push(Waiting { metered, now_ms });
            });
            if queued.is_none() {
                self.waiting.push(Waiting {
                    metered: None,
                    now_ms,
                });
            }
            if self.waiting.len() >= LOOKAHEAD {
                self.count_waiting();
            }
            return;
        }
        let want_key = self.store.is_some();
        let key = self.frame_keyed(f.data, f.wire_len, now_ms, want_key);
        if let Some(store) = &mut self.store {
            store.append(f, key);
        }
    }

    /// Replaying: the frames that follow are `file`'s (see
    /// [`PacketStore::begin_source`]).
    pub fn begin_file(&mut self, file: &FileSource) {
        if let Some(store) = &mut self.store {
            store.begin_source(file.path(), file.format());
        }
    }

    /// Take the packet store out, for a thread of its own ([`workers`]).
    pub(crate) fn take_store(&mut self) -> Option<PacketStore> {
        self.store.take()
    }

    /// Put the packet store back (closed), for [`Exporter::stats`].
    pub(crate) fn put_store(&mut self, store: Option<PacketStore>) {
        self.store = store;
    }

    /// Announce the evidence server's URL in the options records ("" =
    /// none); checked by [`Config::validate`].
    pub fn announce_evidence(&mut self, url: &str) -> Result<(), EncodeError> {
        self.encoder.set_evidence_url(url)
    }

    /// The packet store's status, for the evidence server.
    pub fn store_status(&self) -> Option<store::StatusHandle> {
        self.store.as_ref().map(PacketStore::status_handle)
    }

    /// Handle one captured frame at `now_ms`.
    pub fn frame(&mut self, data: &[u8], wire_len: u32, now_ms: u64) {
        self.frame_keyed(data, wire_len, now_ms, false);
    }

    /// [`Exporter::frame`], returning the packet store's key of the frame
    /// when `want_key`.
    #[inline]
    fn frame_keyed(
        &mut self,
        data: &[u8],
        wire_len: u32,
        now_ms: u64,
        want_key: bool,
    ) -> Option<StoreKey> {
        let counted = self.meter(data, wire_len, now_ms, |m, obs, cache, pending, _| {
            let ingested = cache.ingest(m, obs, now_ms, pending);
            let key = want_key.then(|| StoreKey::new(m, &obs, cache.last_ports()));
            (ingested, key)
        });
        let mut store_key = None;
        if let Some((ingested, key)) = counted {
            if ingested == Ingested::FragmentUnmatched {
                self.stats.fragment_unmatched += 1;
            }
            store_key = key;
        }
        self.pass(now_ms);
        store_key
    }

    /// Decapsulate and meter the frame in `data` and hand it to `then`
    /// (by reference: it is not moved around) with the cache, the records
    /// it expires and the look-ahead; count the frame read and what
    /// became of it (`None`: not metered, the reason counted).
    #[inline]
    fn meter<T>(
        &mut self,
        data: &[u8],
        wire_len: u32,
        now_ms: u64,
        then: impl FnOnce(
            &Metered,
            Observation,
            &mut FlowCache,
            &mut Vec<FlowRecord>,
            &mut Vec<Waiting>,
        ) -> T,
    ) -> Option<T> {
        self.stats.packets_read += 1;
        self.stats.bytes_read += u64::from(wire_len);
        let (encoder, cache) = (&mut self.encoder, &mut self.cache);
        let (pending, waiting) = (&mut self.pending, &mut self.waiting);
        let decapped = self
            .decapper
            .decap_with(data, |metered, observation, attributed| {
                encoder.set_boot(now_ms);
                let done = then(metered, observation, cache, pending, waiting);
                (done, observation.encap, metered.ip_len, attributed)
            });
        match decapped {
            Err(e) => {
                self.stats.count_error(e.reason());
                None
            }
            Ok((done, encap, ip_len, attributed)) => {
                if let Some(n) = self.encaps.get_mut(usize::from(encap.code())) {
                    *n += 1;
                }
                self.stats.ip_bytes_metered += u64::from(ip_len);
                if !attributed {
                    self.stats.unattributed += 1;
                }
                Some(done)
            }
        }
    }

    /// Count the frames of the look-ahead: touch every one's flow first,
    /// then count each and let its time pass, in order.
    fn count_waiting(&mut self) {
        let mut waiting = std::mem::take(&mut self.waiting);
        for w in &waiting {
            if let Some((_, prepared)) = &w.metered {
                self.cache.touch(prepared);
            }
        }
        for w in &waiting {
            if let Some((metered, prepared)) = &w.metered {
                let ingested =
                    self.cache
                        .ingest_prepared(metered, prepared, w.now_ms, &mut self.pending);
                if ingested == Ingested::FragmentUnmatched {
                    self.stats.fragment_unmatched += 1;
                }
            }
            self.pass(w.now_ms);
        }
        waiting.clear();
        self.waiting = waiting;
    }

    /// Records expired by a cache worker ([`workers`]) at `now_ms` (taken
    /// from `records`): encoded and sent as this cache's own are.
    pub fn take_expired(&mut self, records: &mut Vec<FlowRecord>, now_ms: u64) {
        self.pending.append(records);
        self.tick(now_ms);
    }

    /// Let time pass: count the frames of the look-ahead, expire
    /// timed-out flows and export what is due.
    pub fn tick(&mut self, now_ms: u64) {
        if !self.waiting.is_empty() {
            self.count_waiting();
        }
        self.pass(now_ms);
    }

    /// [`Exporter::tick`] of a frame's time, once what came before it is
    /// counted.
    #[inline]
    fn pass(&mut self, now_ms: u64) {
        self.last_now_ms = self.last_now_ms.max(now_ms);
        if let Some(store) = &mut self.store {
            store.tick(now_ms.saturating_mul(1_000_000));
        }
        self.cache.poll(now_ms, &mut self.pending);
        if !self.pending.is_empty()
            && (now_ms >= self.next_export_ms || self.pending.len() >= EXPORT_BATCH)
        {
            self.export(now_ms);
            self.next_export_ms = now_ms.saturating_add(EXPORT_INTERVAL_MS);
        }
    }

    /// End of input: expire and export every flow, at the latest time seen,
    /// a batch at a time (so a full cache is never copied whole).
    pub fn finish(&mut self) {
        if !self.waiting.is_empty() {
            self.count_waiting();
        }
        for rec in self.cache.drain() {
            self.pending.push(rec);
            if self.pending.len() >= EXPORT_BATCH {
                self.export(self.last_now_ms);
            }
        }
        self.export(self.last_now_ms);
        if let Some(store) = &mut self.store {
            store.close();
        }
    }

    fn export(&mut self, now_ms: u64) {
        if self.pending.is_empty() {
            return;
        }
        for rec in &self.pending {
            let domain = rec.key.domain;
            if self.named.insert(domain) {
                if let Some(name) = self.decapper.domain_name(domain) {
                    self.encoder.name_domain(domain, name);
                }
            }
        }
        self.encoder
            .encode(&self.pending, now_ms, &mut self.datagrams);
        self.stats.flows_exported += self.pending.len() as u64;
        self.pending.clear();
        for d in self.datagrams.drain(..) {
            self.sender.send(&d.bytes);
            self.stats.export_packets_sent += 1;
            *self.stats.records_per_domain.entry(d.domain).or_default() += d.records as u64;
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        for encap in Encap::ALL {
            let n = self
                .encaps
                .get(usize::from(encap.code()))
                .copied()
                .unwrap_or(0);
            s.count_encap_n(encap, n);
        }
        s.flows_created = self.cache.flows_created();
        s.expired = self.cache.expired();
        s.send_errors = self.sender.errors();
        s.store = self.store.as_ref().map(PacketStore::status);
        s
    }

    /// Record the kernel's counters of a live capture.
    pub fn set_kernel_counters(&mut self, counters: KernelCounters) {
        self.stats.kernel = Some(counters);
    }

    /// Flows open in the cache.
    pub fn open_flows(&self) -> usize {
        self.cache.len()
    }
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

fn ns_to_ms(ns: u64) -> u64 {
    ns / 1_000_000
}

fn wall_ms() -> u64 {
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
struct KernelLog {
    interval: Duration,
    next: Instant,
    last: KernelCounters,
}

impl KernelLog {
    fn new(interval: Duration) -> Self {
        KernelLog {
            interval,
            next: Instant::now() + interval,
            last: KernelCounters::default(),
        }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Read the counters and log them (`--workers`: no pipeline counters
    /// in the line).
    fn read_counters(&mut self, live: &mut LiveSource) -> Option<KernelCounters> {
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

    fn read(&mut self, live: &mut LiveSource, exporter: &mut Exporter) {
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
        let mut live = LiveSource::open(&LiveConfig {
            interface: interface.clone(),
            snaplen: config.capture.snaplen,
            filter: config.capture.filter.clone(),
            buffer_kib: config.capture.buffer_kib,
            idle_ms: LIVE_IDLE_MS,
        })?;
        tracing::info!(target: "capture", %interface, "capturing");
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
            &mut capture_errors,
            |event| {
                match event {
                    Replayed::File(file) => exporter.begin_file(file),
                    Replayed::Frame(f, ms) => exporter.capture(f, ms),
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
