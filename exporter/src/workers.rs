//! `--workers N` (`cache.workers`): the pipeline over N threads, the flow
//! table sharded by flow hash.
//!
//! ```text
//! capture ─ batches of frames, round robin ─▶ worker 0..N ─ expired records ─▶ encode, send
//!                                             ▲          │
//!                                             └──────────┘ each worker's share of every batch
//! ```
//!
//! * The reading thread gathers frames into batches of [`BATCH`] frames
//!   (live capture: also every [`LIVE_FLUSH_MS`] and on every idle tick)
//!   and deals batch `b` to worker `b % N`. Files read by the built-in
//!   reader are not copied: a batch shares the read block its frames are
//!   in ([`crate::blocks`]; a batch ends where its block does). Live
//!   capture and libpcap frames are copied into the batch.
//! * Worker `j` owns shard `j` of the flow table (`max_flows / N` flows).
//!   It peels, meters and attributes the frames of the batches dealt to it
//!   ([`crate::decap`]) and splits them by [`ShardHasher::shard_of`]: a
//!   hash of the flow's addresses, protocol, VLAN, VNI, session,
//!   encapsulation and domain, without the ports, so every fragment of a
//!   datagram meets the one whose ports it takes. It keeps its own share
//!   and sends every other worker its share, maybe empty.
//! * Then it counts its shares of the batches in the order they were read
//!   (batch `b`'s from worker `b % N`), up to the batch just dealt to it,
//!   so each flow sees its packets in capture order, as with one worker;
//!   it polls its timeouts at the time of every frame read, its own or
//!   not, so a file gives the same records, ended for the same reasons,
//!   with any number of workers. Decapsulating its next batch while the
//!   others decapsulate theirs, a worker waits only for shares of batches
//!   read before.
//! * Expired records go to one encoder and sender (a thread of its own),
//!   so each observation domain has one export stream with one sequence.
//!
//! * With a packet store, a store thread gets every batch of frames too
//!   (shared, not copied) and, per batch, from each worker the store keys
//!   of the frames it counted (keyed as one cache keys them: fragments
//!   take the ports their shard resolved); it appends the frames in
//!   reading order, each once, and serves as with one worker.
//!
//! What differs from one worker: flows leave a full shard when that shard
//! is full (the least recently seen of the shard), and the records of
//! different shards reach the encoder interleaved in batches.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;

use eastwest_core::decap::Metered;
use eastwest_core::flow::{Encap, FlowRecord};

use crate::cache::{CacheConfig, FlowCache, FlowId, Ingested, Observation, ShardHasher};
use crate::capture::Frame;
use crate::config::Config;
use crate::decap::Decapper;
use crate::stats::Stats;
use crate::store::{PacketStore, StoreKey};
use crate::{Exporter, Outcome, RunError, LOOKAHEAD};

mod deal;

use deal::{Dealer, Frames, Input};

/// Frames per batch from the reading thread.
pub const BATCH: usize = 1024;
/// Live capture: a batch goes out at least this often (wall clock).
pub const LIVE_FLUSH_MS: u64 = 10;
/// Batches waiting in each channel.
const DEPTH: usize = 4;

/// A worker's frames of one batch: (index in the batch, metered
/// frame, observation).
type Items = Vec<(u32, Metered, Observation)>;

/// What a worker counted of the frames it decapsulated.
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

/// What a worker hands on: expired records and the time reached.
type Expired = (Vec<FlowRecord>, u64);

/// The flows of one batch's frames a worker ingested, for the packet
/// store: (index in the batch, the flow in the worker's shard, the flow's
/// key on the first of its frames the worker hands on).
type Keys = Vec<(u32, FlowId, Option<StoreKey>)>;

/// The ends of one worker's channels.
struct Ends {
    /// Its batches of frames, from the reading thread.
    input: Receiver<Arc<Frames>>,
    /// Shares of its batches for every worker (its own: unused).
    to_peers: Vec<Sender<Share>>,
    /// Shares of the other workers' batches for it, by worker (its own:
    /// unused).
    from_peers: Vec<Receiver<Share>>,
    /// Its lists, emptied by the workers that took them.
    spare: Receiver<Items>,
    /// The other workers' `spare`.
    returns: Vec<Sender<Items>>,
    /// The batches' buffers back to the reading thread.
    recycle: SyncSender<Frames>,
    /// Expired records to the encoder.
    output: SyncSender<Expired>,
    /// With a packet store: the flows of each batch's frames it
    /// ingested.
    keys: Option<SyncSender<Keys>>,
}

/// What a worker did: its counts, its shard and the later fragments its
/// shard could not match.
type Done = (DecapCounts, FlowCache, u64);

/// Worker `me` of `n`: decapsulates the batches dealt to it, keeps the
/// frames of its shard and hands every other worker its share (maybe
/// empty) of each batch; then counts, in reading order, its shares of
/// every batch up to its own (the other workers' shares of the batches
/// dealt to them in between), so its flows see their frames in capture
/// order.
fn worker(
    me: usize,
    decapper: &Decapper,
    hasher: &ShardHasher,
    config: &CacheConfig,
    ends: Ends,
) -> Done {
    let n = ends.to_peers.len();
    let mut counts = DecapCounts::default();
    let mut shard = Shard {
        cache: FlowCache::new(config),
        unmatched: 0,
        out: Vec::new(),
        prepared: Vec::new(),
        last_ms: 0,
        keyed: Vec::new(),
    };
    // The next batch to count, and the next one dealt to this worker.
    let (mut next, mut own) = (0usize, me);
    loop {
        let Ok(batch) = ends.input.recv() else {
            // No batch `own`, so none after: count the others' before it.
            shard.count_peers(&mut next, own, &ends);
            break;
        };
        let Some(mine) = decap_batch(me, decapper, hasher, batch, &ends, &mut counts) else {
            break;
        };
        if !shard.count_peers(&mut next, own, &ends) || !shard.count(mine, &ends) {
            break;
        }
        next += 1;
        own += n;
    }
    shard.out.extend(shard.cache.drain());
    let _ = ends
        .output
        .send((std::mem::take(&mut shard.out), shard.last_ms));
    (counts, shard.cache, shard.unmatched)
}

/// Peel, meter and attribute every frame of `batch` (dealt to worker
/// `me`), split by shard; every other worker's share sent; this one's
/// returned (`None`: a worker is gone).
fn decap_batch(
    me: usize,
    decapper: &Decapper,
    hasher: &ShardHasher,
    batch: Arc<Frames>,
    ends: &Ends,
    counts: &mut DecapCounts,
) -> Option<Share> {
    let n = ends.to_peers.len();
    let mut lists: Vec<Items> = (0..n)
        .map(|_| match ends.spare.try_recv() {
            Ok(mut items) => {
                items.clear();
                items
            }
            Err(_) => Vec::with_capacity(batch.frames.len() / n + 16),
        })
        .collect();
    for (index, &(at, wire_len, _)) in batch.frames.iter().enumerate() {
        let data = batch.data(at);
        counts.packets_read += 1;
        counts.bytes_read += u64::from(wire_len);
        let decapped = decapper.decap_with(data, |m, obs, attributed| {
            if let Some(list) = lists.get_mut(hasher.shard_of(m, &obs, n)) {
                list.push((index as u32, *m, obs));
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
    let mut mine = None;
    for (worker, items) in lists.into_iter().enumerate() {
        let share = Share {
            batch: Arc::clone(&batch),
            items,
            from: me,
        };
        if worker == me {
            mine = Some(share);
        } else if ends.to_peers.get(worker)?.send(share).is_err() {
            return None;
        }
    }
    mine
}

/// One worker's share of a batch: the batch and the frames of its shard.
struct Share {
    batch: Arc<Frames>,
    items: Items,
    /// The worker that decapsulated it (its lists go back there).
    from: usize,
}

/// A worker's shard of the flow table and what counting needs.
struct Shard {
    cache: FlowCache,
    unmatched: u64,
    /// Records expired, not yet handed on.
    out: Vec<FlowRecord>,
    prepared: Vec<crate::cache::Prepared>,
    last_ms: u64,
    /// With a packet store, by slot of the shard: the generation of the
    /// flow whose key went to the store thread.
    keyed: Vec<Option<u32>>,
}

impl Shard {
    /// Count the other workers' shares of batches `next` up to `own`
    /// (exclusive), in order; whether all were (false: a worker is gone).
    fn count_peers(&mut self, next: &mut usize, own: usize, ends: &Ends) -> bool {
        let n = ends.to_peers.len();
        while *next < own {
            let from = ends.from_peers.get(*next % n);
            let Some(Ok(share)) = from.map(Receiver::recv) else {
                return false;
            };
            if !self.count(share, ends) {
                return false;
            }
            *next += 1;
        }
        true
    }

    /// Count a share: its frames, each touched a look-ahead in advance;
    /// the cache polled at the time of every frame of the batch (its own
    /// or not, as one cache fed every frame is), and at the batch's tick.
    /// With a packet store, each frame's flow goes to the store thread,
    /// with its key on the flow's first frame. False once the encoder or
    /// the store thread is gone.
    fn count(&mut self, share: Share, ends: &Ends) -> bool {
        let Share { batch, items, from } = share;
        let cache = &mut self.cache;
        let mut keyed = Keys::new();
        // The look-ahead of `Exporter::capture`: each run of LOOKAHEAD
        // flows is touched before its frames are counted.
        self.prepared.clear();
        self.prepared
            .extend(items.iter().map(|(_, m, obs)| cache.prepare(m, *obs)));
        let mut next = 0;
        for (index, &(_, _, now_ms)) in batch.frames.iter().enumerate() {
            if let Some((i, m, obs)) = items.get(next) {
                if *i as usize == index {
                    if next % LOOKAHEAD == 0 {
                        for p in self.prepared.iter().skip(next).take(LOOKAHEAD) {
                            cache.touch(p);
                        }
                    }
                    if let Some(p) = self.prepared.get(next) {
                        if cache.ingest_prepared(m, p, now_ms, &mut self.out)
                            == Ingested::FragmentUnmatched
                        {
                            self.unmatched += 1;
                        }
                    }
                    next += 1;
                    if ends.keys.is_some() {
                        let flow = cache.last_flow();
                        let slot = flow.slot as usize;
                        if self.keyed.len() <= slot {
                            self.keyed.resize(slot + 1, None);
                        }
                        // Keyed under the ports the frame was counted
                        // under (a later fragment's come from its first).
                        let key = self.keyed.get_mut(slot).and_then(|k| {
                            (*k != Some(flow.generation)).then(|| {
                                *k = Some(flow.generation);
                                StoreKey::new(m, obs, cache.last_ports())
                            })
                        });
                        keyed.push((*i, flow, key));
                    }
                }
            }
            cache.poll(now_ms, &mut self.out);
        }
        if let Some(tx) = &ends.keys {
            if tx.send(keyed).is_err() {
                return false;
            }
        }
        let tick_ms = batch.tick_ms;
        if let Some(back) = ends.returns.get(from) {
            let _ = back.send(items);
        }
        // The batch's buffers back to the reading thread once every
        // worker (and the store thread) is done with them.
        if let Ok(mut frames) = Arc::try_unwrap(batch) {
            // The block goes back to the reader on its own.
            frames.block = None;
            let _ = ends.recycle.try_send(frames);
        }
        cache.poll(tick_ms, &mut self.out);
        self.last_ms = self.last_ms.max(tick_ms);
        self.out.is_empty()
            || ends
                .output
                .send((std::mem::take(&mut self.out), tick_ms))
                .is_ok()
    }
}

/// What the store thread takes from the reading side, in reading order.
enum ToStore {
    /// The frames that follow are this file's (its path and format).
    File(std::path::PathBuf, Option<eastwest_core::pcapfile::Format>),
    Frames(Arc<Frames>),
}

/// Store thread: appends every frame of every batch, in reading order,
/// indexed under the flow its worker counted it in (none: not metered),
/// as one worker's exporter does; closes the store at the end. A flow is
/// named to the store by its slot among every shard's (slot times the
/// workers, plus the shard) and generation, and keyed once per index
/// from the key its worker sent with its first frame.
fn store_worker(
    mut store: PacketStore,
    input: Receiver<ToStore>,
    keys: Vec<Receiver<Keys>>,
) -> PacketStore {
    let shards = keys.len() as u32;
    let mut merged: Vec<Option<(u32, FlowId, Option<StoreKey>)>> = Vec::new();
    // By shard, by slot: the generation and key of the flow holding it.
    let mut known: Vec<Vec<Option<(u32, StoreKey)>>> = vec![Vec::new(); keys.len()];
    for message in input {
        let batch = match message {
            ToStore::File(path, format) => {
                store.begin_source(&path, format);
                continue;
            }
            ToStore::Frames(batch) => batch,
        };
        merged.clear();
        merged.resize(batch.frames.len(), None);
        for (shard, flows) in (0u32..).zip(&keys) {
            // A worker gone (the run is ending): its frames unkeyed.
            for (i, flow, key) in flows.recv().unwrap_or_default() {
                if let Some(slot) = merged.get_mut(i as usize) {
                    *slot = Some((shard, flow, key));
                }
            }
        }
        for (i, &(at, wire_len, now_ms)) in batch.frames.iter().enumerate() {
            let data = batch.data(at);
            let (ts_ns, offset) = batch.stored.get(i).copied().unwrap_or_default();
            let frame = Frame {
                ts_ns,
                wire_len,
                data,
                offset,
            };
            let flow = merged
                .get(i)
                .copied()
                .flatten()
                .and_then(|(shard, flow, key)| {
                    let slots = known.get_mut(shard as usize)?;
                    let at = flow.slot as usize;
                    if let Some(key) = key {
                        if slots.len() <= at {
                            slots.resize(at + 1, None);
                        }
                        *slots.get_mut(at)? = Some((flow.generation, key));
                    }
                    let key = slots
                        .get(at)
                        .copied()
                        .flatten()
                        .filter(|(generation, _)| *generation == flow.generation)?
                        .1;
                    let slot = flow.slot.checked_mul(shards)?.checked_add(shard)?;
                    Some((FlowId { slot, ..flow }, key))
                });
            if store.write(&frame) {
                match flow {
                    Some((flow, key)) => store.index_flow(flow, || key),
                    None => store.index(None),
                }
            }
            store.tick(now_ms.saturating_mul(1_000_000));
        }
        store.tick(batch.tick_ms.saturating_mul(1_000_000));
    }
    store.close();
    store
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
    let mut server = crate::start_serving(config, &mut exporter)?;
    let store = exporter.take_store();
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
    let mut shard_stats = Vec::new();
    let mut stored = None;
    std::thread::scope(|scope| {
        let (frame_txs, frame_rxs): (Vec<_>, Vec<_>) =
            (0..n).map(|_| sync_channel::<Arc<Frames>>(DEPTH)).unzip();
        // With a packet store: a key channel per worker, the batches.
        let (key_txs, key_rxs): (Vec<_>, Vec<_>) = match store {
            Some(_) => (0..n)
                .map(|_| {
                    let (tx, rx) = sync_channel::<Keys>(DEPTH * n);
                    (Some(tx), rx)
                })
                .unzip(),
            None => ((0..n).map(|_| None).collect(), Vec::new()),
        };
        let (to_store, storing) = match store {
            Some(store) => {
                let (tx, rx) = sync_channel::<ToStore>(DEPTH * n);
                let handle = std::thread::Builder::new()
                    .name("store".into())
                    .spawn_scoped(scope, move || store_worker(store, rx, key_rxs));
                (Some(tx), Some(handle))
            }
            None => (None, None),
        };
        // shares[i][j]: worker i to worker j (i = j: unused).
        let mut to_peers: Vec<Vec<Sender<Share>>> = (0..n).map(|_| Vec::new()).collect();
        let mut from_peers: Vec<Vec<Receiver<Share>>> = (0..n).map(|_| Vec::new()).collect();
        for senders in &mut to_peers {
            for receivers in &mut from_peers {
                // Unbounded: the reading thread's channels bound how far
                // a worker runs ahead.
                let (tx, rx) = channel();
                senders.push(tx);
                receivers.push(rx);
            }
        }
        let (expired_tx, expired_rx) = sync_channel::<Expired>(DEPTH * n);
        // Emptied buffers going back: frames to the reading thread, each
        // worker's lists from every worker.
        let (recycle_tx, recycled) = sync_channel::<Frames>((DEPTH + 1) * n);
        let (spare_txs, spare_rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| channel::<Items>()).unzip();
        let handles: Vec<_> = frame_rxs
            .into_iter()
            .zip(to_peers)
            .zip(from_peers)
            .zip(spare_rxs.into_iter().zip(key_txs))
            .enumerate()
            .map(|(i, (((input, to_peers), from_peers), (spare, keys)))| {
                let ends = Ends {
                    input,
                    to_peers,
                    from_peers,
                    spare,
                    returns: spare_txs.clone(),
                    recycle: recycle_tx.clone(),
                    output: expired_tx.clone(),
                    keys,
                };
                let (decapper, hasher, shard_config) = (&decapper, &hasher, &shard_config);
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn_scoped(scope, move || {
                        worker(i, decapper, hasher, shard_config, ends)
                    })
            })
            .collect();
        drop(spare_txs);
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
        drop(recycle_tx);
        let mut dealer = Dealer::new(frame_txs, recycled, to_store);
        let (errors, counters) = input.deal(config, &mut dealer, shutdown);
        capture_errors = errors;
        kernel = counters;
        let last = dealer.batch.tick_ms;
        dealer.flush(last);
        drop(dealer);
        for handle in handles.into_iter().flatten() {
            if let Ok(done) = handle.join() {
                shard_stats.push(done);
            }
        }
        if let Ok(handle) = encoding {
            let _ = handle.join();
        }
        if let Some(Ok(handle)) = storing {
            stored = handle.join().ok();
        }
    });
    if let Some(server) = &mut server {
        server.stop();
    }
    exporter.put_store(stored);
    let mut stats = exporter.stats();
    for (counts, cache, unmatched) in &shard_stats {
        counts.add_to(&mut stats);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FileReader;
    use std::path::{Path, PathBuf};

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    /// The counters of a run over `files` with `workers` threads, records
    /// sent to a real UDP socket that nobody reads.
    fn run_with(files: &[PathBuf], workers: usize, max_flows: usize) -> Stats {
        run_configured(files, workers, max_flows, |_| {})
    }

    /// [`run_with`], `tweak` changing the configuration.
    fn run_configured(
        files: &[PathBuf],
        workers: usize,
        max_flows: usize,
        tweak: impl FnOnce(&mut Config),
    ) -> Stats {
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
        let mut config = Config::default();
        config.capture.read = files.to_vec();
        config.send.export = vec![sink.local_addr().expect("addr").to_string()];
        config.decap.host = Some("probe".into());
        config.cache.workers = workers;
        config.cache.max_flows = max_flows;
        tweak(&mut config);
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

    /// Every file of the store in `dir`, by name.
    fn store_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .expect("store dir")
            .map(|e| {
                let path = e.expect("entry").path();
                let name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                (name, std::fs::read(&path).expect("read"))
            })
            .collect()
    }

    #[test]
    fn sharded_runs_store_every_frame_once_as_one_worker_does() {
        let files: Vec<PathBuf> = [
            "zeek__ipv4-fragmented-1.pcap",
            "tcpdump__various_gre.pcap",
            "ndpi__1kxun.pcap",
        ]
        .iter()
        .map(|f| data(f))
        .collect();
        let base = std::env::temp_dir().join(format!("ew-workers-store-{}", std::process::id()));
        // The built-in reader indexes the files in place; libpcap's frames
        // are copied into segments.
        for reader in [FileReader::Auto, FileReader::Direct, FileReader::Libpcap] {
            let run = |workers: usize| {
                let dir = base.join(format!("{reader:?}-{workers}"));
                let stats = run_configured(&files, workers, 65_536, |c| {
                    c.store.dir = Some(dir.clone());
                    c.capture.file_reader = reader;
                });
                (stats, store_files(&dir))
            };
            let (one, one_files) = run(1);
            let stored = one.store.clone().expect("a store");
            assert_eq!(stored.frames_stored, one.packets_read, "{reader:?}");
            assert!(stored.frames_unindexed < stored.frames_stored);
            assert!(!one_files.is_empty());
            for workers in [2, 3] {
                let (many, many_files) = run(workers);
                let status = many.store.expect("a store");
                assert_eq!(
                    (status.frames_stored, status.frames_unindexed),
                    (stored.frames_stored, stored.frames_unindexed),
                    "{reader:?}, {workers} workers"
                );
                // The same frames, in the same order, with the same keys:
                // the same segments and indexes, byte for byte.
                assert_eq!(
                    many_files.keys().collect::<Vec<_>>(),
                    one_files.keys().collect::<Vec<_>>(),
                    "{reader:?}, {workers} workers"
                );
                assert!(
                    many_files == one_files,
                    "{reader:?}, {workers} workers: the store differs"
                );
            }
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
