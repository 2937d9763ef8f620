//! [`Exporter`]: every stage after capture, driven frame by frame with
//! the time passed in (the per-frame path: metering, the look-ahead,
//! export).

use std::collections::HashSet;

use eastwest_core::decap::Metered;
use eastwest_core::flow::{Encap, FlowRecord};

use crate::cache::{FlowCache, Ingested, Observation, Prepared};
use crate::capture::{ns_to_ms, FileSource, Frame, KernelCounters};
use crate::config::Config;
use crate::decap::Decapper;
use crate::encode::{Datagram, EncodeError, Encoder};
use crate::send::Sender;
use crate::stats::Stats;
use crate::store::{self, PacketStore, StoreKey};
use crate::RunError;

/// Expired records are encoded at most this often (in capture time)
/// unless a full batch is waiting, so export packets are well filled.
pub const EXPORT_INTERVAL_MS: u64 = 1_000;
/// Records waiting that trigger an export before the interval.
pub const EXPORT_BATCH: usize = 512;
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

/// With a packet store, beside each [`Waiting`] frame (which the store
/// has written): how it was observed (`None`: not metered). It is
/// indexed once the cache has counted it, under the ports it was counted
/// with.
type Stored = Option<Observation>;
/// Every stage after capture.
#[derive(Debug)]
pub struct Exporter {
    pub(crate) decapper: Decapper,
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
    /// With a packet store: one for each of `waiting`.
    stored: Vec<Stored>,
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
            stored: Vec::with_capacity(LOOKAHEAD),
        })
    }

    /// Handle one captured frame at `now_ms` (the cache's time): meter it
    /// and, with a packet store, keep it (with its own capture time).
    /// Not inlined into the replay loop: fewer instructions per packet
    /// under callgrind.
    ///
    /// Frames are counted [`LOOKAHEAD`] at a time (the look-ahead): each
    /// is decapsulated and metered when it comes, then, once
    /// [`LOOKAHEAD`] wait, the cache is asked for all their flows at once
    /// (their cache lines requested from memory together, so the misses
    /// overlap instead of queueing: the flow table is much larger than
    /// the CPU caches) and each frame is counted and its time passed, in
    /// capture order. The cache sees the same operations in the same
    /// order as one frame at a time, a few frames later;
    /// [`Exporter::tick`] and [`Exporter::finish`] count what waits
    /// first. A packet store writes each frame when it comes and indexes
    /// it once counted (its key has the ports the cache counted it
    /// under); before the store seals an index, what waits is counted.
    #[inline(never)]
    pub fn capture(&mut self, f: &Frame<'_>, now_ms: u64) {
        if self.store.is_some() {
            self.write_stored(f);
        }
        let observed = self.meter(f.data, f.wire_len, now_ms, |m, obs, cache, _, waiting| {
            let metered = Some((*m, cache.prepare(m, obs)));
            waiting.push(Waiting { metered, now_ms });
            obs
        });
        if observed.is_none() {
            self.waiting.push(Waiting {
                metered: None,
                now_ms,
            });
        }
        if self.store.is_some() {
            self.stored.push(observed);
        }
        if self.waiting.len() >= LOOKAHEAD {
            self.count_waiting();
        }
    }

    /// Write `f` to the packet store, first counting what waits if the
    /// store is about to seal its index.
    #[inline(never)]
    fn write_stored(&mut self, f: &Frame<'_>) {
        if self.store.as_ref().is_some_and(|s| s.would_seal(f.ts_ns)) && !self.waiting.is_empty() {
            self.count_waiting();
        }
        if let Some(store) = &mut self.store {
            store.write(f);
        }
    }

    /// Replaying: the frames that follow are `file`'s (see
    /// [`PacketStore::begin_source`]).
    pub fn begin_file(&mut self, file: &FileSource) {
        if self.store.is_some() && !self.waiting.is_empty() {
            // The previous file's frames are indexed where they are.
            self.count_waiting();
        }
        if let Some(store) = &mut self.store {
            store.begin_source(file.path(), file.format());
        }
    }

    /// Take the packet store out, for a thread of its own ([`workers`](crate::workers)).
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

    /// Handle one captured frame at `now_ms`, counted at once (no
    /// look-ahead, nothing stored).
    pub fn frame(&mut self, data: &[u8], wire_len: u32, now_ms: u64) {
        let counted = self.meter(data, wire_len, now_ms, |m, obs, cache, pending, _| {
            cache.ingest(m, obs, now_ms, pending)
        });
        if counted == Some(Ingested::FragmentUnmatched) {
            self.stats.fragment_unmatched += 1;
        }
        self.pass(now_ms);
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
    /// then count each (indexing it in the packet store) and let its time
    /// pass, in order; the store's time passes once they are all indexed.
    /// The store learns whether its open index knows a frame's flow from
    /// the mark the cache keeps in the flow's entry, so it asks for a key
    /// once per flow and index and looks nothing up itself.
    fn count_waiting(&mut self) {
        let mut waiting = std::mem::take(&mut self.waiting);
        for w in &waiting {
            if let Some((_, prepared)) = &w.metered {
                self.cache.touch(prepared);
            }
        }
        let mut stored = std::mem::take(&mut self.stored);
        for (i, w) in waiting.iter().enumerate() {
            let observed = stored.get(i).copied().flatten();
            let mark = match (&self.store, observed) {
                (Some(store), Some(_)) => store.mark(),
                _ => None,
            };
            if let Some((metered, prepared)) = &w.metered {
                let (pending, cache) = (&mut self.pending, &mut self.cache);
                let ingested = match mark {
                    Some(mark) => cache.ingest_marked(metered, prepared, w.now_ms, pending, mark),
                    None => cache.ingest_prepared(metered, prepared, w.now_ms, pending),
                };
                if ingested == Ingested::FragmentUnmatched {
                    self.stats.fragment_unmatched += 1;
                }
            }
            if let (Some(store), Some(_)) = (&mut self.store, stored.get(i)) {
                let cache = &self.cache;
                match (&w.metered, observed, mark) {
                    // Keyed once per flow and index: the cache marks the flow.
                    (Some((m, _)), Some(obs), Some(_)) => {
                        store.index_marked(cache.last_mark(), || {
                            StoreKey::new(m, &obs, cache.last_ports())
                        });
                    }
                    _ => store.index(None),
                }
            }
            self.pass_cache(w.now_ms);
        }
        if let (Some(store), Some(w)) = (&mut self.store, waiting.last()) {
            store.tick(w.now_ms.saturating_mul(1_000_000));
        }
        waiting.clear();
        stored.clear();
        self.waiting = waiting;
        self.stored = stored;
    }

    /// Records expired by a worker ([`workers`](crate::workers)) at `now_ms` (taken
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
        if let Some(store) = &mut self.store {
            store.tick(now_ms.saturating_mul(1_000_000));
        }
        self.pass_cache(now_ms);
    }

    /// [`Exporter::pass`] but for the packet store: expire timed-out
    /// flows and export what is due.
    #[inline]
    fn pass_cache(&mut self, now_ms: u64) {
        self.last_now_ms = self.last_now_ms.max(now_ms);
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
