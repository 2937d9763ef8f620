//! `--workers N` (`cache.workers`): the pipeline over N threads, the flow
//! table sharded by flow hash.
//!
//! ```text
//! capture ─ batches of frames, round robin ─▶ decap 0..N ─┐
//!                                                          ├─ by shard ─▶ cache 0..N ─▶ encode, send
//! ```
//!
//! * The reading thread copies frames into batches of [`BATCH`] frames
//!   (live capture: also every [`LIVE_FLUSH_MS`] and on every idle tick)
//!   and hands batch `b` to decap worker `b % N`.
//! * Each decap worker peels, meters and attributes its frames
//!   ([`crate::decap`]) and splits them by [`ShardHasher::shard_of`]: a hash of
//!   the flow's addresses, protocol, VLAN, VNI, session, encapsulation and
//!   domain, without the ports, so every fragment of a datagram meets the
//!   one whose ports it takes. It sends each cache worker one batch, maybe
//!   empty, per batch of frames.
//! * Cache worker `j` owns shard `j` of the flow table (`max_flows / N`
//!   flows) and takes its batches from the decap workers in the order the
//!   frames were read (batch `b` from decap worker `b % N`), so each flow
//!   sees its packets in capture order, as with one worker; it also polls
//!   its timeouts at the time of every frame read, its own or not, so a
//!   file gives the same records, ended for the same reasons, with any
//!   number of workers.
//! * Expired records go to one encoder and sender (the calling thread), so
//!   each observation domain has one export stream with one sequence.
//!
//! What differs from one worker: flows leave a full shard when that shard
//! is full (the least recently seen of the shard), and the records of
//! different shards reach the encoder interleaved in batches.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eastwest_core::decap::Metered;
use eastwest_core::flow::{Encap, FlowRecord};

use crate::cache::{CacheConfig, FlowCache, Ingested, Observation, ShardHasher};
use crate::capture::{self, FileSource, LiveConfig, LiveSource, Replayed};
use crate::config::Config;
use crate::decap::Decapper;
use crate::stats::Stats;
use crate::{wall_ms, Exporter, KernelLog, Outcome, RunError, LIVE_IDLE_MS, LOOKAHEAD};

/// Frames per batch from the reading thread.
pub const BATCH: usize = 1024;
/// Live capture: a batch goes out at least this often (wall clock).
pub const LIVE_FLUSH_MS: u64 = 10;
/// Batches waiting in each channel.
const DEPTH: usize = 4;

/// Frames for one decap worker, copied out of the capture.
#[derive(Debug, Default)]
struct Frames {
    bytes: Vec<u8>,
    /// End of each frame in `bytes`, its length on the wire, its time.
    frames: Vec<(usize, u32, u64)>,
    /// Time the caches may expire up to after these frames.
    tick_ms: u64,
}

/// Metered frames for one cache worker: its frames, each with its index
/// in the batch, and the times of every frame of the batch (the cache
/// polls at each, as one cache fed every frame does, so timeouts fall the
/// same way).
#[derive(Debug, Default)]
struct Metereds {
    items: Vec<(u32, Metered, Observation)>,
    times: Arc<Vec<u64>>,
    tick_ms: u64,
}

/// What the decap workers counted.
#[derive(Debug, Default)]
struct DecapCounts {
    packets_read: u64,
    bytes_read: u64,
    ip_bytes: u64,
    unattributed: u64,
    encaps: [u64; Encap::ALL.len()],
    errors: Vec<(&'static str, u64)>,
}

impl DecapCounts {
    fn error(&mut self, reason: &'static str) {
        match self.errors.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((reason, 1)),
        }
    }

    fn add_to(&self, stats: &mut Stats) {
        stats.packets_read += self.packets_read;
        stats.bytes_read += self.bytes_read;
        stats.ip_bytes_metered += self.ip_bytes;
        stats.unattributed += self.unattributed;
        for encap in Encap::ALL {
            let n = self.encaps.get(usize::from(encap.code())).copied();
            stats.count_encap_n(encap, n.unwrap_or(0));
        }
        for &(reason, n) in &self.errors {
            *stats.decode_errors.entry(reason).or_default() += n;
        }
    }
}

/// Decap worker: batches of frames in, one batch of metered frames per
/// cache worker out.
fn decap_worker(
    decapper: &Decapper,
    hasher: &ShardHasher,
    input: Receiver<Frames>,
    outputs: Vec<SyncSender<Metereds>>,
) -> DecapCounts {
    let mut counts = DecapCounts::default();
    let n = outputs.len();
    for batch in input {
        let times = Arc::new(batch.frames.iter().map(|&(_, _, t)| t).collect::<Vec<_>>());
        let mut out: Vec<Metereds> = (0..n)
            .map(|_| Metereds {
                items: Vec::with_capacity(batch.frames.len() / n + 16),
                times: Arc::clone(&times),
                tick_ms: batch.tick_ms,
            })
            .collect();
        let mut start = 0;
        for (index, &(end, wire_len, _)) in batch.frames.iter().enumerate() {
            let data = batch.bytes.get(start..end).unwrap_or(&[]);
            start = end;
            counts.packets_read += 1;
            counts.bytes_read += u64::from(wire_len);
            let decapped = decapper.decap_with(data, |m, obs, attributed| {
                if let Some(shard) = out.get_mut(hasher.shard_of(m, &obs, n)) {
                    shard.items.push((index as u32, *m, obs));
                }
                (obs.encap, m.ip_len, attributed)
            });
            match decapped {
                Err(e) => counts.error(e.reason()),
                Ok((encap, ip_len, attributed)) => {
                    if let Some(c) = counts.encaps.get_mut(usize::from(encap.code())) {
                        *c += 1;
                    }
                    counts.ip_bytes += u64::from(ip_len);
                    counts.unattributed += u64::from(!attributed);
                }
            }
        }
        for (tx, metereds) in outputs.iter().zip(out) {
            if tx.send(metereds).is_err() {
                return counts;
            }
        }
    }
    counts
}

/// What a cache worker hands on: expired records and the time reached.
type Expired = (Vec<FlowRecord>, u64);

/// Cache worker: owns one shard; takes batches from the decap workers in
/// reading order; expired records to the encoder.
fn cache_worker(
    config: &CacheConfig,
    inputs: Vec<Receiver<Metereds>>,
    output: SyncSender<Expired>,
) -> (FlowCache, u64) {
    let mut cache = FlowCache::new(config);
    let mut unmatched = 0u64;
    let mut out = Vec::new();
    let mut last_ms = 0;
    let mut prepared = Vec::new();
    'batches: for turn in (0..inputs.len()).cycle() {
        let Some(Ok(batch)) = inputs.get(turn).map(Receiver::recv) else {
            break 'batches;
        };
        // The look-ahead of `Exporter::capture`: each run of LOOKAHEAD
        // flows is touched before its frames are counted.
        prepared.clear();
        prepared.extend(batch.items.iter().map(|(_, m, obs)| cache.prepare(m, *obs)));
        let mut next = 0;
        for (index, &now_ms) in batch.times.iter().enumerate() {
            if let Some((i, m, _)) = batch.items.get(next) {
                if *i as usize == index {
                    if next % LOOKAHEAD == 0 {
                        for p in prepared.iter().skip(next).take(LOOKAHEAD) {
                            cache.touch(p);
                        }
                    }
                    if let Some(p) = prepared.get(next) {
                        if cache.ingest_prepared(m, p, now_ms, &mut out)
                            == Ingested::FragmentUnmatched
                        {
                            unmatched += 1;
                        }
                    }
                    next += 1;
                }
            }
            cache.poll(now_ms, &mut out);
        }
        cache.poll(batch.tick_ms, &mut out);
        last_ms = last_ms.max(batch.tick_ms);
        if !out.is_empty()
            && output
                .send((std::mem::take(&mut out), batch.tick_ms))
                .is_err()
        {
            break;
        }
    }
    out.extend(cache.drain());
    let _ = output.send((out, last_ms));
    (cache, unmatched)
}

/// The reading side: fills batches and deals them out round robin.
struct Dealer {
    outputs: Vec<SyncSender<Frames>>,
    next: usize,
    batch: Frames,
    /// False once a worker is gone (it only stops when its peers do).
    open: bool,
}

impl Dealer {
    fn push(&mut self, data: &[u8], wire_len: u32, now_ms: u64) {
        self.batch.bytes.extend_from_slice(data);
        self.batch
            .frames
            .push((self.batch.bytes.len(), wire_len, now_ms));
        self.batch.tick_ms = self.batch.tick_ms.max(now_ms);
        if self.batch.frames.len() >= BATCH {
            self.flush(now_ms);
        }
    }

    /// Send the batch (maybe empty: a tick) to the next decap worker.
    fn flush(&mut self, tick_ms: u64) {
        let n = self.outputs.len();
        let mut batch = std::mem::replace(
            &mut self.batch,
            Frames {
                bytes: Vec::with_capacity(BATCH * 1600),
                frames: Vec::with_capacity(BATCH),
                tick_ms: 0,
            },
        );
        batch.tick_ms = batch.tick_ms.max(tick_ms);
        self.batch.tick_ms = batch.tick_ms;
        if let Some(tx) = self.outputs.get(self.next) {
            self.open &= tx.send(batch).is_ok();
        }
        self.next = (self.next + 1) % n;
    }
}

/// [`crate::run`] with `config.cache.workers` > 1.
pub fn run(config: &Config, shutdown: &AtomicBool) -> Result<Outcome, RunError> {
    let n = config.cache.workers.max(1);
    let decapper = crate::decapper(config)?;
    tracing::info!(
        host = %decapper.own().name,
        domain = decapper.own().domain,
        workers = n,
        "exporter starting"
    );
    let mut exporter = Exporter::new(config, decapper.clone())?;
    let shard_config = CacheConfig {
        max_flows: config.cache.max_flows.div_ceil(n),
        ..config.cache.clone()
    };
    let hasher = ShardHasher::default();
    // Open the input first: a missing file stops the run before anything
    // is sent.
    let input = Input::open(config)?;

    let mut capture_errors = Vec::new();
    let mut kernel = None;
    let mut decap_counts = Vec::new();
    let mut shard_stats = Vec::new();
    std::thread::scope(|scope| {
        let (frame_txs, frame_rxs): (Vec<_>, Vec<_>) =
            (0..n).map(|_| sync_channel::<Frames>(DEPTH)).unzip();
        // metered[i][j]: decap worker i to cache worker j.
        let mut to_cache: Vec<Vec<SyncSender<Metereds>>> = (0..n).map(|_| Vec::new()).collect();
        let mut from_decap: Vec<Vec<Receiver<Metereds>>> = (0..n).map(|_| Vec::new()).collect();
        for senders in &mut to_cache {
            for receivers in &mut from_decap {
                let (tx, rx) = sync_channel(DEPTH);
                senders.push(tx);
                receivers.push(rx);
            }
        }
        let (expired_tx, expired_rx) = sync_channel::<Expired>(DEPTH * n);
        let decap_handles: Vec<_> = frame_rxs
            .into_iter()
            .zip(to_cache)
            .enumerate()
            .map(|(i, (rx, txs))| {
                let (decapper, hasher) = (&decapper, &hasher);
                std::thread::Builder::new()
                    .name(format!("decap-{i}"))
                    .spawn_scoped(scope, move || decap_worker(decapper, hasher, rx, txs))
            })
            .collect();
        let cache_handles: Vec<_> = from_decap
            .into_iter()
            .enumerate()
            .map(|(j, rxs)| {
                let (shard_config, tx) = (&shard_config, expired_tx.clone());
                std::thread::Builder::new()
                    .name(format!("cache-{j}"))
                    .spawn_scoped(scope, move || cache_worker(shard_config, rxs, tx))
            })
            .collect();
        drop(expired_tx);
        let encoding = std::thread::Builder::new()
            .name("encode".into())
            .spawn_scoped(scope, {
                let exporter = &mut exporter;
                move || {
                    for (mut records, now_ms) in expired_rx {
                        exporter.take_expired(&mut records, now_ms);
                    }
                    exporter.finish();
                }
            });
        let mut dealer = Dealer {
            outputs: frame_txs,
            next: 0,
            batch: Frames::default(),
            open: true,
        };
        let (errors, counters) = input.deal(config, &mut dealer, shutdown);
        capture_errors = errors;
        kernel = counters;
        let last = dealer.batch.tick_ms;
        dealer.flush(last);
        drop(dealer);
        for handle in decap_handles.into_iter().flatten() {
            if let Ok(counts) = handle.join() {
                decap_counts.push(counts);
            }
        }
        for handle in cache_handles.into_iter().flatten() {
            if let Ok(shard) = handle.join() {
                shard_stats.push(shard);
            }
        }
        if let Ok(handle) = encoding {
            let _ = handle.join();
        }
    });
    let mut stats = exporter.stats();
    for counts in &decap_counts {
        counts.add_to(&mut stats);
    }
    for (cache, unmatched) in &shard_stats {
        stats.fragment_unmatched += unmatched;
        stats.flows_created += cache.flows_created();
        let e = cache.expired();
        stats.expired.inactive += e.inactive;
        stats.expired.active += e.active;
        stats.expired.tcp_end += e.tcp_end;
        stats.expired.emergency += e.emergency;
        stats.expired.end_of_input += e.end_of_input;
    }
    stats.kernel = kernel;
    stats.capture_errors = capture_errors;
    Ok(Outcome { stats })
}

/// Files or an interface, opened.
enum Input {
    Files(Vec<FileSource>),
    Live(LiveSource),
}

impl Input {
    fn open(config: &Config) -> Result<Input, RunError> {
        if let Some(interface) = &config.capture.interface {
            let live = LiveSource::open(&LiveConfig {
                interface: interface.clone(),
                snaplen: config.capture.snaplen,
                filter: config.capture.filter.clone(),
                buffer_kib: config.capture.buffer_kib,
                idle_ms: LIVE_IDLE_MS,
            })?;
            tracing::info!(target: "capture", %interface, "capturing");
            return Ok(Input::Live(live));
        }
        let files = config
            .capture
            .read
            .iter()
            .map(|p| FileSource::open(p, config.capture.file_reader))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Input::Files(files))
    }

    /// Read every frame into `dealer` until the end or `shutdown`; the
    /// capture errors, and a live capture's kernel counters.
    fn deal(
        self,
        config: &Config,
        dealer: &mut Dealer,
        shutdown: &AtomicBool,
    ) -> (Vec<String>, Option<capture::KernelCounters>) {
        let mut errors = Vec::new();
        match self {
            Input::Live(mut live) => {
                let mut log =
                    KernelLog::new(Duration::from_secs(config.capture.stats_interval_secs));
                let mut next_flush = Instant::now();
                while !shutdown.load(Ordering::Relaxed) && dealer.open {
                    match live.next_event() {
                        Ok(capture::Live::Frame(f)) => dealer.push(f.data, f.wire_len, wall_ms()),
                        Ok(capture::Live::Idle) => dealer.flush(wall_ms()),
                        Err(e) => {
                            tracing::error!(target: "capture", error = %e, "live capture failed");
                            errors.push(e.to_string());
                            break;
                        }
                    }
                    if Instant::now() >= next_flush {
                        next_flush = Instant::now() + Duration::from_millis(LIVE_FLUSH_MS);
                        dealer.flush(wall_ms());
                    }
                    if log.due() {
                        log.read_counters(&mut live);
                    }
                }
                let counters = log.read_counters(&mut live);
                (errors, counters)
            }
            Input::Files(mut files) => {
                capture::replay(&mut files, config.send.speed, &mut errors, |event| {
                    match event {
                        Replayed::File(_) => {}
                        Replayed::Frame(f, ms) => dealer.push(f.data, f.wire_len, ms),
                        Replayed::Check => {
                            if shutdown.load(Ordering::Relaxed) || !dealer.open {
                                return ControlFlow::Break(());
                            }
                        }
                    }
                    ControlFlow::Continue(())
                });
                (errors, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    /// The counters of a run over `files` with `workers` threads, records
    /// sent to a real UDP socket that nobody reads.
    fn run_with(files: &[PathBuf], workers: usize, max_flows: usize) -> Stats {
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
        let mut config = Config::default();
        config.capture.read = files.to_vec();
        config.send.export = vec![sink.local_addr().expect("addr").to_string()];
        config.decap.host = Some("probe".into());
        config.cache.workers = workers;
        config.cache.max_flows = max_flows;
        let outcome = crate::run(&config, &AtomicBool::new(false)).expect("run");
        assert!(outcome.complete(), "{:?}", outcome.stats.capture_errors);
        outcome.stats
    }

    #[test]
    fn sharded_runs_meter_what_one_worker_meters() {
        let files: Vec<PathBuf> = [
            "zeek__ipv4-fragmented-1.pcap",
            "zeek__mixed-vlan-mpls.pcap",
            "zeek__gre-within-gre.pcap",
            "tcpdump__various_gre.pcap",
            "mergecap__vxlan+erspan-ii+dot1q.pcapng",
            "ndpi__1kxun.pcap",
            "zeek__communityid-ipv6.pcap",
        ]
        .iter()
        .map(|f| data(f))
        .collect();
        let one = run_with(&files, 1, 65_536);
        assert!(one.flows_created > 100, "a capture with many flows");
        for workers in [2, 3] {
            let many = run_with(&files, workers, 65_536);
            assert_eq!(many.packets_read, one.packets_read);
            assert_eq!(many.bytes_read, one.bytes_read);
            assert_eq!(many.encapsulations, one.encapsulations);
            assert_eq!(many.ip_bytes_metered, one.ip_bytes_metered);
            assert_eq!(many.decode_errors, one.decode_errors);
            assert_eq!(many.fragment_unmatched, one.fragment_unmatched);
            assert_eq!(many.unattributed, one.unattributed);
            // Packets of a flow reach its shard in capture order: the same
            // records, ended for the same reasons.
            assert_eq!(many.flows_created, one.flows_created, "{workers} workers");
            assert_eq!(many.expired, one.expired, "{workers} workers");
            assert_eq!(many.flows_exported, one.flows_exported);
            assert_eq!(many.records_per_domain, one.records_per_domain);
        }
    }

    #[test]
    fn each_shard_holds_its_share_of_max_flows() {
        let files = [data("ndpi__1kxun.pcap")];
        let one = run_with(&files, 1, 64);
        let two = run_with(&files, 2, 64);
        assert!(one.expired.emergency > 0, "64 flows overflow");
        assert!(two.expired.emergency > 0, "so do two shards of 32");
        assert_eq!(two.packets_read, one.packets_read);
        assert_eq!(two.ip_bytes_metered, one.ip_bytes_metered);
    }
}
