//! Stage `cache`: the flow cache.
//!
//! Metered frames are aggregated into [`FlowRecord`]s keyed by [`FlowKey`].
//! A record leaves the cache (is *expired*, then encoded and sent) when
//!
//! * no packet was seen for the inactive timeout,
//! * it has been open for the active timeout (a long flow is exported in
//!   slices; the next packet opens a new record),
//! * a TCP FIN or RST was seen (the packet is counted first),
//! * the cache is full: the least recently seen flows are expired first,
//!   a batch at a time so a full cache does not cost a scan per packet
//!   (counted as `emergency`),
//! * the input ends ([`FlowCache::drain`]).
//!
//! Time is passed in (`now_ms`, milliseconds since the Unix epoch): packet
//! time when reading files, wall-clock time when capturing live. Timeouts are
//! checked by a scan at most once per [`SCAN_INTERVAL_MS`] of that time.
//!
//! IPv4 fragments: the first fragment carries the ports; its
//! `(src, dst, proto, id)` is remembered in a small bounded map so later
//! fragments of the same datagram are counted under the same flow. A later
//! fragment whose first fragment was not seen (lost, filtered, older than
//! [`FRAGMENT_TIMEOUT_MS`] or arriving after it) is counted under the flow of
//! the same addresses and protocol with ports 0 (as softflowd does), and
//! reported as [`Ingested::FragmentUnmatched`].

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use std::net::IpAddr;

use foldhash::fast::RandomState;

use eastwest_core::decap::Metered;
use eastwest_core::flow::{Encap, FlowKey, FlowRecord};
use serde::{Deserialize, Serialize};

mod key;
use key::Key;
pub use key::ShardHasher;

/// How often (in `now_ms` time) the cache scans for timed-out flows.
pub const SCAN_INTERVAL_MS: u64 = 1_000;
/// How long a first fragment's ports are remembered.
pub const FRAGMENT_TIMEOUT_MS: u64 = 30_000;

const TCP_FIN: u8 = 0x01;
const TCP_RST: u8 = 0x04;

/// Flow cache settings (`[cache]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Expire a flow after this many seconds without a packet.
    pub inactive_timeout_secs: u64,
    /// Expire a flow this many seconds after its first packet, even if
    /// still active.
    pub active_timeout_secs: u64,
    /// Most flows kept at once; beyond it the least recently seen are
    /// expired early.
    pub max_flows: usize,
    /// Most IPv4 first fragments remembered at once.
    pub max_fragments: usize,
    /// Threads the pipeline runs on (`--workers`): above 1, the flow table
    /// is sharded by flow hash over this many workers, each decapsulating
    /// a share of the frames and holding `max_flows / workers` flows
    /// (`crate::workers`).
    pub workers: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            inactive_timeout_secs: 15,
            active_timeout_secs: 60,
            max_flows: 65_536,
            max_fragments: 1_024,
            workers: 1,
        }
    }
}

/// How a frame was observed, besides what [`Metered`] says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Observation domain of the host the frame was attributed to.
    pub domain: u32,
    pub encap: Encap,
    pub session: u16,
    pub vni: u32,
}

/// What became of one metered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Counted in a flow.
    Counted,
    /// Counted, in the flow with ports 0: a later fragment whose first
    /// fragment was not seen.
    FragmentUnmatched,
}

/// Why flows left the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExpiryCounters {
    pub inactive: u64,
    pub active: u64,
    pub tcp_end: u64,
    pub emergency: u64,
    pub end_of_input: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragmentKey {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Debug, Clone, Copy)]
struct FragmentPorts {
    src_port: u16,
    dst_port: u16,
    seen_ms: u64,
}

/// A flow's counters while it is in the cache (its key is the map's key,
/// stored once).
#[derive(Debug, Clone, Copy)]
struct Counters {
    packets: u64,
    bytes: u64,
    first_ms: u64,
    last_ms: u64,
    tcp_flags: u8,
    tos: u8,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    icmp_type_code: u16,
    /// The flow's [`FlowId`].
    id: FlowId,
    /// The packet store's mark ([`FlowCache::ingest_marked`]).
    mark: StoreMark,
}

/// A compact name for a flow while it is in the cache, for the packet
/// store to index a frame under without building or hashing its key: a
/// slot (below `max_flows`, given back when the flow leaves the cache and
/// handed to a later flow) and the generation of the flow that holds it
/// (the count of flows created when it came), which tells two holders of
/// a slot apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowId {
    pub slot: u32,
    pub generation: u32,
}

/// What the packet store keeps with a flow while it is in the cache: the
/// number of the store's index that last met the flow and the flow's
/// place among that index's keys. Kept in the flow's own entry, which
/// counting a frame reads anyway, so the store learns whether it knows
/// the flow without a lookup of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreMark {
    pub index: u32,
    pub place: u32,
}

impl Counters {
    fn record(&self, key: FlowKey) -> FlowRecord {
        FlowRecord {
            key,
            packets: self.packets,
            bytes: self.bytes,
            first_ms: self.first_ms,
            last_ms: self.last_ms,
            tcp_flags: self.tcp_flags,
            tos: self.tos,
            src_mac: self.src_mac,
            dst_mac: self.dst_mac,
            icmp_type_code: self.icmp_type_code,
        }
    }
}

/// A metered frame's flow found before it is counted: its key and the
/// key's hash (computed once for [`FlowCache::touch`] and
/// [`FlowCache::ingest_prepared`]); a later IPv4 fragment's key waits for
/// the fragment map (its ports are its first fragment's).
#[derive(Debug, Clone, Copy)]
pub struct Prepared(Lookup);

#[derive(Debug, Clone, Copy)]
enum Lookup {
    Keyed { key: Key, hash: u64 },
    LaterFragment(Observation),
}

/// The flow cache. Single-threaded: the pipeline owns it. The table is
/// sized for `max_flows` up front (no rehash pause, no doubling peak) and
/// hashed with foldhash, seeded per process (flow keys come off the wire).
/// It is hashbrown's `HashTable` rather than a `HashMap` so that a key is
/// hashed once when it is touched ahead and counted later.
#[derive(Debug)]
pub struct FlowCache {
    inactive_ms: u64,
    active_ms: u64,
    max_flows: usize,
    max_fragments: usize,
    flows: HashTable<(Key, Counters)>,
    hasher: RandomState,
    fragments: HashMap<FragmentKey, FragmentPorts>,
    fragment_order: VecDeque<FragmentKey>,
    next_scan_ms: Option<u64>,
    expired: ExpiryCounters,
    flows_created: u64,
    /// The ports the last ingested frame was counted under.
    last_ports: (u16, u16),
    /// The flow the last ingested frame was counted in.
    last_flow: FlowId,
    /// That flow's mark, after [`FlowCache::ingest_marked`].
    last_mark: StoreMark,
    /// Slots given back by flows that left, for the next flows.
    free_slots: Vec<u32>,
    /// Slots ever handed out (the next new one).
    slots: u32,
}

impl FlowCache {
    pub fn new(config: &CacheConfig) -> Self {
        FlowCache {
            inactive_ms: config.inactive_timeout_secs.saturating_mul(1_000),
            active_ms: config.active_timeout_secs.saturating_mul(1_000),
            max_flows: config.max_flows.max(1),
            max_fragments: config.max_fragments,
            flows: HashTable::with_capacity(config.max_flows.max(1)),
            hasher: RandomState::default(),
            fragments: HashMap::new(),
            fragment_order: VecDeque::new(),
            next_scan_ms: None,
            expired: ExpiryCounters::default(),
            flows_created: 0,
            last_ports: (0, 0),
            last_flow: FlowId::default(),
            last_mark: StoreMark::default(),
            free_slots: Vec::new(),
            slots: 0,
        }
    }

    /// Flows currently open.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Why flows left the cache so far.
    pub fn expired(&self) -> ExpiryCounters {
        self.expired
    }

    /// The (source, destination) ports the last ingested frame was
    /// counted under: a later IPv4 fragment's are its first fragment's.
    pub fn last_ports(&self) -> (u16, u16) {
        self.last_ports
    }

    /// The flow the last ingested frame was counted in.
    pub fn last_flow(&self) -> FlowId {
        self.last_flow
    }

    /// The mark of the flow [`FlowCache::ingest_marked`] last counted a
    /// frame in.
    pub fn last_mark(&self) -> StoreMark {
        self.last_mark
    }

    /// Flow records opened so far.
    pub fn flows_created(&self) -> u64 {
        self.flows_created
    }

    /// The key and hash of `m`'s flow observed as `obs`, for
    /// [`FlowCache::touch`] and [`FlowCache::ingest_prepared`].
    #[inline]
    pub fn prepare(&self, m: &Metered, obs: Observation) -> Prepared {
        if matches!(m.fragment, Some((_, false))) {
            return Prepared(Lookup::LaterFragment(obs));
        }
        let key = Key::new(m, m.src_port, m.dst_port, obs);
        Prepared(Lookup::Keyed {
            key,
            hash: self.hasher.hash_one(key),
        })
    }

    /// Look `prepared`'s flow up without using the answer, ahead of its
    /// [`FlowCache::ingest_prepared`]: a few of these in a row have their
    /// cache misses in flight together (the look-ahead of
    /// `Exporter::capture`), where one lookup at a time waits for each.
    #[inline]
    pub fn touch(&self, prepared: &Prepared) {
        let Lookup::Keyed { key, hash } = &prepared.0 else {
            return;
        };
        let found = self.flows.find(*hash, |(k, _)| k == key);
        std::hint::black_box(found.map(|(_, c)| c.id));
    }

    /// Count one metered frame at `now_ms`. Records that leave the cache
    /// because of it (TCP end, cache full) are appended to `out`.
    #[inline]
    pub fn ingest(
        &mut self,
        m: &Metered,
        obs: Observation,
        now_ms: u64,
        out: &mut Vec<FlowRecord>,
    ) -> Ingested {
        let prepared = self.prepare(m, obs);
        self.ingest_prepared(m, &prepared, now_ms, out)
    }

    /// [`FlowCache::ingest`] of a frame prepared by [`FlowCache::prepare`]
    /// (before or after the cache last changed: a key does not depend on
    /// the flows).
    #[inline]
    pub fn ingest_prepared(
        &mut self,
        m: &Metered,
        prepared: &Prepared,
        now_ms: u64,
        out: &mut Vec<FlowRecord>,
    ) -> Ingested {
        self.count(m, prepared, now_ms, out, None)
    }

    /// [`FlowCache::ingest_prepared`] for the packet store: the flow
    /// counted keeps its mark if that is of `mark`'s index, else takes
    /// `mark`; [`FlowCache::last_mark`] then gives it.
    #[inline]
    pub fn ingest_marked(
        &mut self,
        m: &Metered,
        prepared: &Prepared,
        now_ms: u64,
        out: &mut Vec<FlowRecord>,
        mark: StoreMark,
    ) -> Ingested {
        self.count(m, prepared, now_ms, out, Some(mark))
    }

    /// [`FlowCache::ingest_prepared`], marking the flow when `mark` is
    /// given (two copies of it are compiled, with and without).
    #[inline(always)]
    fn count(
        &mut self,
        m: &Metered,
        prepared: &Prepared,
        now_ms: u64,
        out: &mut Vec<FlowRecord>,
        mark: Option<StoreMark>,
    ) -> Ingested {
        let mut ingested = Ingested::Counted;
        let (key, hash) = match prepared.0 {
            Lookup::Keyed { key, hash } => {
                if let Some((id, true)) = m.fragment {
                    let fkey = FragmentKey {
                        src: m.src,
                        dst: m.dst,
                        proto: m.proto,
                        id,
                    };
                    self.remember_fragment(fkey, m.src_port, m.dst_port, now_ms);
                }
                (key, hash)
            }
            Lookup::LaterFragment(obs) => {
                let id = m.fragment.map_or(0, |(id, _)| id);
                let fkey = FragmentKey {
                    src: m.src,
                    dst: m.dst,
                    proto: m.proto,
                    id,
                };
                let (src_port, dst_port) = match self.fragments.get(&fkey) {
                    Some(p) if now_ms.saturating_sub(p.seen_ms) <= FRAGMENT_TIMEOUT_MS => {
                        (p.src_port, p.dst_port)
                    }
                    _ => {
                        ingested = Ingested::FragmentUnmatched;
                        (0, 0)
                    }
                };
                let key = Key::new(m, src_port, dst_port, obs);
                (key, self.hasher.hash_one(key))
            }
        };
        self.last_ports = key.ports();
        // One lookup on the common path: a packet of an open flow.
        if let Some((_, c)) = self.flows.find_mut(hash, |(k, _)| *k == key) {
            if now_ms.saturating_sub(c.first_ms) < self.active_ms {
                self.last_flow = c.id;
                if let Some(mark) = mark {
                    if c.mark.index != mark.index {
                        c.mark = mark;
                    }
                    self.last_mark = c.mark;
                }
                c.packets += 1;
                c.bytes += u64::from(m.ip_len);
                c.last_ms = c.last_ms.max(now_ms);
                c.first_ms = c.first_ms.min(now_ms);
                c.tcp_flags |= m.tcp_flags;
                self.end_on_fin_rst(&key, hash, m, out);
                return ingested;
            }
            // Past its active timeout: exported before this packet opens
            // the next slice.
            if let Some(c) = self.remove(&key, hash) {
                self.expired.active += 1;
                out.push(c.record(key.flow_key()));
            }
        }
        if self.flows.len() >= self.max_flows {
            self.emergency_expire(out);
        }
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.slots += 1;
            self.slots - 1
        });
        let id = FlowId {
            slot,
            generation: self.flows_created as u32,
        };
        self.last_flow = id;
        self.flows_created += 1;
        let counters = Counters {
            packets: 1,
            bytes: u64::from(m.ip_len),
            first_ms: now_ms,
            last_ms: now_ms,
            tcp_flags: m.tcp_flags,
            tos: m.tos,
            src_mac: m.src_mac,
            dst_mac: m.dst_mac,
            icmp_type_code: m.icmp_type_code,
            id,
            mark: mark.unwrap_or_default(),
        };
        if let Some(mark) = mark {
            self.last_mark = mark;
        }
        let hasher = &self.hasher;
        self.flows
            .insert_unique(hash, (key, counters), |(k, _)| hasher.hash_one(k));
        self.end_on_fin_rst(&key, hash, m, out);
        ingested
    }

    /// The flow of `key` (whose hash is `hash`), taken out of the table.
    fn remove(&mut self, key: &Key, hash: u64) -> Option<Counters> {
        match self.flows.find_entry(hash, |(k, _)| k == key) {
            Ok(entry) => {
                let c = entry.remove().0 .1;
                self.free_slots.push(c.id.slot);
                Some(c)
            }
            Err(_) => None,
        }
    }

    /// A TCP FIN or RST (the packet already counted) ends the flow.
    fn end_on_fin_rst(&mut self, key: &Key, hash: u64, m: &Metered, out: &mut Vec<FlowRecord>) {
        if m.proto == 6 && m.tcp_flags & (TCP_FIN | TCP_RST) != 0 {
            if let Some(c) = self.remove(key, hash) {
                self.expired.tcp_end += 1;
                out.push(c.record(key.flow_key()));
            }
        }
    }

    /// Expire flows that timed out by `now_ms`; scans at most once per
    /// [`SCAN_INTERVAL_MS`]. Call it for every frame and on idle ticks.
    #[inline]
    pub fn poll(&mut self, now_ms: u64, out: &mut Vec<FlowRecord>) {
        match self.next_scan_ms {
            Some(next) if now_ms < next => {}
            _ => self.scan(now_ms, out),
        }
    }

    /// The scan of [`FlowCache::poll`], once it is due.
    #[cold]
    fn scan(&mut self, now_ms: u64, out: &mut Vec<FlowRecord>) {
        self.next_scan_ms = Some(now_ms.saturating_add(SCAN_INTERVAL_MS));
        let (inactive_ms, active_ms) = (self.inactive_ms, self.active_ms);
        let mut inactive = 0;
        let mut active = 0;
        let free_slots = &mut self.free_slots;
        self.flows.retain(|(key, c)| {
            if now_ms.saturating_sub(c.last_ms) >= inactive_ms {
                inactive += 1;
            } else if now_ms.saturating_sub(c.first_ms) >= active_ms {
                active += 1;
            } else {
                return true;
            }
            out.push(c.record(key.flow_key()));
            free_slots.push(c.id.slot);
            false
        });
        self.expired.inactive += inactive;
        self.expired.active += active;
        self.fragments
            .retain(|_, p| now_ms.saturating_sub(p.seen_ms) <= FRAGMENT_TIMEOUT_MS);
        let fragments = &self.fragments;
        self.fragment_order.retain(|k| fragments.contains_key(k));
    }

    /// Expire every flow (end of input), in no particular order; the
    /// iterator owns the flows, so the caller can export while it runs.
    pub fn drain(&mut self) -> impl Iterator<Item = FlowRecord> {
        let flows = std::mem::take(&mut self.flows);
        self.free_slots.clear();
        self.slots = 0;
        self.expired.end_of_input += flows.len() as u64;
        self.fragments.clear();
        self.fragment_order.clear();
        flows.into_iter().map(|(key, c)| c.record(key.flow_key()))
    }

    /// The cache is full: expire the least recently seen eighth of it.
    fn emergency_expire(&mut self, out: &mut Vec<FlowRecord>) {
        let batch = (self.max_flows / 8).max(1);
        let mut by_age: Vec<(u64, Key)> = self.flows.iter().map(|(k, c)| (c.last_ms, *k)).collect();
        by_age.sort_unstable_by_key(|&(last, _)| last);
        for (_, key) in by_age.into_iter().take(batch) {
            let hash = self.hasher.hash_one(key);
            if let Some(c) = self.remove(&key, hash) {
                self.expired.emergency += 1;
                out.push(c.record(key.flow_key()));
            }
        }
    }

    fn remember_fragment(&mut self, key: FragmentKey, src_port: u16, dst_port: u16, now: u64) {
        if self.max_fragments == 0 {
            return;
        }
        let ports = FragmentPorts {
            src_port,
            dst_port,
            seen_ms: now,
        };
        if self.fragments.insert(key, ports).is_none() {
            self.fragment_order.push_back(key);
            while self.fragments.len() > self.max_fragments {
                match self.fragment_order.pop_front() {
                    Some(old) => {
                        self.fragments.remove(&old);
                    }
                    None => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn metered(src_port: u16, flags: u8) -> Metered {
        Metered {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            src_port,
            dst_port: 80,
            proto: 6,
            vlan: 10,
            ip_len: 100,
            tos: 0x10,
            tcp_flags: flags,
            icmp_type_code: 0,
            src_mac: [0, 1, 2, 3, 4, 5],
            dst_mac: [6, 7, 8, 9, 10, 11],
            fragment: None,
        }
    }

    const OBS: Observation = Observation {
        domain: 7,
        encap: Encap::ErspanII,
        session: 3,
        vni: 0,
    };

    fn config() -> CacheConfig {
        CacheConfig::default()
    }

    #[test]
    fn counts_packets_bytes_flags_and_times() {
        let mut cache = FlowCache::new(&config());
        let mut out = Vec::new();
        assert_eq!(
            cache.ingest(&metered(1000, 0x02), OBS, 1_000, &mut out),
            Ingested::Counted
        );
        let mut second = metered(1000, 0x10);
        second.tos = 0x20;
        second.ip_len = 1500;
        cache.ingest(&second, OBS, 1_500, &mut out);
        assert!(out.is_empty());
        out.extend(cache.drain());
        assert_eq!(out.len(), 1);
        let r = out[0];
        assert_eq!((r.packets, r.bytes), (2, 1600));
        assert_eq!((r.first_ms, r.last_ms), (1_000, 1_500));
        assert_eq!(r.tcp_flags, 0x12);
        assert_eq!(r.tos, 0x10, "TOS of the first packet");
        assert_eq!(r.key.domain, 7);
        assert_eq!(r.key.session, 3);
        assert_eq!(r.key.encap, Encap::ErspanII);
        assert_eq!(r.key.vlan, 10);
        assert_eq!(r.src_mac, [0, 1, 2, 3, 4, 5]);
        assert_eq!(cache.expired().end_of_input, 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn packed_key_gives_back_every_field() {
        let v6 = |s: &str| IpAddr::V6(s.parse().expect("address"));
        let mut big = metered(65535, 0);
        big.dst = IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255));
        big.proto = 255;
        big.vlan = 4095;
        let big_obs = Observation {
            domain: u32::MAX,
            encap: Encap::Geneve,
            session: 1023,
            vni: 0x00ff_ffff,
        };
        let mut dns = metered(5353, 0);
        dns.src = v6("fd00:10:1::11");
        dns.dst = v6("::ffff:10.0.0.2");
        dns.proto = 17;
        dns.vlan = 0;
        for (m, obs) in [(big, big_obs), (dns, OBS)] {
            let key = Key::new(&m, m.src_port, 1, obs).flow_key();
            assert_eq!((key.src, key.dst), (m.src, m.dst));
            assert_eq!(
                (key.src_port, key.dst_port, key.proto),
                (m.src_port, 1, m.proto)
            );
            assert_eq!(
                (key.vlan, key.vni, key.domain),
                (m.vlan, obs.vni, obs.domain)
            );
            assert_eq!((key.encap, key.session), (obs.encap, obs.session));
        }
        // An IPv4-mapped IPv6 flow is not the IPv4 flow.
        let mut mapped = metered(1, 0);
        mapped.src = v6("::ffff:10.0.0.1");
        mapped.dst = v6("::ffff:10.0.0.2");
        let plain = metered(1, 0);
        assert_ne!(Key::new(&mapped, 1, 80, OBS), Key::new(&plain, 1, 80, OBS));
        assert_eq!(Key::new(&mapped, 1, 80, OBS).flow_key().src, mapped.src);
    }

    #[test]
    fn inactive_timeout_expires_at_exactly_the_timeout() {
        let mut cache = FlowCache::new(&config());
        let mut out = Vec::new();
        cache.ingest(&metered(1, 0), OBS, 10_000, &mut out);
        cache.poll(10_000, &mut out);
        cache.poll(24_000, &mut out);
        assert!(out.is_empty(), "14 s without a packet");
        cache.poll(25_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(cache.expired().inactive, 1);
    }

    #[test]
    fn active_timeout_slices_a_long_flow() {
        let mut cache = FlowCache::new(&config());
        let mut out = Vec::new();
        // One packet every 10 s for 100 s: never inactive.
        for i in 0..=10u64 {
            let now = i * 10_000;
            cache.ingest(&metered(1, 0), OBS, now, &mut out);
            cache.poll(now, &mut out);
        }
        out.extend(cache.drain());
        let packets: u64 = out.iter().map(|r| r.packets).sum();
        assert_eq!(packets, 11);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].first_ms, out[0].last_ms), (0, 50_000));
        assert_eq!(out[1].first_ms, 60_000);
        assert_eq!(cache.expired().active, 1);
    }

    #[test]
    fn scan_runs_at_most_once_per_interval() {
        let mut out = Vec::new();
        // With a 0 s inactive timeout every flow is due at once, but the
        // next scan after the one at 0 ms only runs at 1 000 ms.
        let mut zero = FlowCache::new(&CacheConfig {
            inactive_timeout_secs: 0,
            ..config()
        });
        zero.poll(0, &mut out);
        zero.ingest(&metered(1, 0), OBS, 0, &mut out);
        zero.poll(900, &mut out);
        assert!(out.is_empty());
        zero.poll(1_000, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn tcp_fin_and_rst_expire_immediately() {
        let mut cache = FlowCache::new(&config());
        let mut out = Vec::new();
        cache.ingest(&metered(1, 0x02), OBS, 0, &mut out);
        cache.ingest(&metered(1, 0x11), OBS, 5, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].packets, 2);
        assert_eq!(out[0].tcp_flags, 0x13);
        cache.ingest(&metered(2, 0x04), OBS, 6, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(cache.expired().tcp_end, 2);
        assert!(cache.is_empty());
        // FIN bit on a UDP packet means nothing.
        let mut udp = metered(3, 0x01);
        udp.proto = 17;
        cache.ingest(&udp, OBS, 7, &mut out);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_flows_id_holds_while_it_lives_and_its_slot_goes_to_a_later_flow() {
        let mut cache = FlowCache::new(&config());
        let mut out = Vec::new();
        let id = |slot, generation| FlowId { slot, generation };
        cache.ingest(&metered(1, 0x02), OBS, 0, &mut out);
        assert_eq!(cache.last_flow(), id(0, 0));
        cache.ingest(&metered(2, 0x02), OBS, 1, &mut out);
        assert_eq!(cache.last_flow(), id(1, 1));
        // Port 1's flow ends (FIN): its id was that of the frame.
        cache.ingest(&metered(1, 0x11), OBS, 2, &mut out);
        assert_eq!(cache.last_flow(), id(0, 0));
        // Its slot goes to the next flow, of a new generation.
        cache.ingest(&metered(3, 0x02), OBS, 3, &mut out);
        assert_eq!(cache.last_flow(), id(0, 2));
        cache.ingest(&metered(2, 0x10), OBS, 4, &mut out);
        assert_eq!(cache.last_flow(), id(1, 1));
    }

    #[test]
    fn full_cache_expires_least_recently_seen_first() {
        let mut cache = FlowCache::new(&CacheConfig {
            max_flows: 8,
            ..config()
        });
        let mut out = Vec::new();
        for port in 0..8u16 {
            cache.ingest(&metered(port, 0), OBS, 100 - u64::from(port), &mut out);
        }
        assert!(out.is_empty());
        cache.ingest(&metered(100, 0), OBS, 200, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].key.src_port, 7, "port 7 was seen at 93 ms");
        assert_eq!(cache.expired().emergency, 1);
        assert_eq!(cache.len(), 8);
    }

    #[test]
    fn later_fragments_join_the_first_fragments_flow() {
        let mut cache = FlowCache::new(&config());
        let mut out = Vec::new();
        let mut first = metered(5353, 0);
        first.proto = 17;
        first.fragment = Some((242, true));
        let mut later = first;
        later.src_port = 0;
        later.dst_port = 0;
        later.fragment = Some((242, false));
        later.ip_len = 20;
        cache.ingest(&first, OBS, 0, &mut out);
        assert_eq!(cache.ingest(&later, OBS, 1, &mut out), Ingested::Counted);
        // Another datagram id: no first fragment seen.
        let mut orphan = later;
        orphan.fragment = Some((243, false));
        assert_eq!(
            cache.ingest(&orphan, OBS, 2, &mut out),
            Ingested::FragmentUnmatched
        );
        // Too late: the remembered ports expired.
        assert_eq!(cache.ingest(&later, OBS, 3, &mut out), Ingested::Counted);
        assert_eq!(
            cache.ingest(&later, OBS, 3 + FRAGMENT_TIMEOUT_MS, &mut out),
            Ingested::FragmentUnmatched
        );
        out.extend(cache.drain());
        out.sort_by_key(|r| r.key.src_port);
        assert_eq!(out.len(), 2);
        // The unmatched ones: same addresses and protocol, ports 0.
        assert_eq!((out[0].packets, out[0].bytes), (2, 40));
        assert_eq!((out[0].key.src, out[0].key.dst), (first.src, first.dst));
        assert_eq!(
            (out[0].key.src_port, out[0].key.dst_port, out[0].key.proto),
            (0, 0, 17)
        );
        assert_eq!((out[1].packets, out[1].bytes), (3, 140));
        assert_eq!((out[1].key.src_port, out[1].key.dst_port), (5353, 80));
    }

    #[test]
    fn prepared_ahead_counts_as_one_at_a_time() {
        // A first fragment, its later fragment, a TCP flow ended by FIN
        // and reopened: prepared (and touched) before any is counted, as
        // the exporter's look-ahead does, then counted in order.
        let mut first = metered(5353, 0);
        first.proto = 17;
        first.fragment = Some((7, true));
        let mut later = first;
        later.src_port = 0;
        later.dst_port = 0;
        later.fragment = Some((7, false));
        let frames = [
            first,
            later,
            metered(1, 0x02),
            metered(1, 0x11),
            metered(1, 0x10),
        ];
        let mut one = FlowCache::new(&config());
        let mut ahead = FlowCache::new(&config());
        let (mut out_one, mut out_ahead) = (Vec::new(), Vec::new());
        let prepared: Vec<Prepared> = frames.iter().map(|m| ahead.prepare(m, OBS)).collect();
        for p in &prepared {
            ahead.touch(p);
        }
        for (i, (m, p)) in frames.iter().zip(&prepared).enumerate() {
            let now = i as u64;
            let a = one.ingest(m, OBS, now, &mut out_one);
            let b = ahead.ingest_prepared(m, p, now, &mut out_ahead);
            assert_eq!(a, b);
            assert_eq!(a, Ingested::Counted, "the later fragment found its first");
            assert_eq!(one.last_ports(), ahead.last_ports());
        }
        assert_eq!(ahead.last_ports(), (1, 80));
        out_one.extend(one.drain());
        out_ahead.extend(ahead.drain());
        for out in [&mut out_one, &mut out_ahead] {
            out.sort_by_key(|r| (r.key.src_port, r.first_ms));
        }
        assert_eq!(out_one, out_ahead);
        assert_eq!(out_ahead.len(), 3, "fragments, TCP until FIN, TCP after");
        assert_eq!((out_ahead[2].packets, out_ahead[2].bytes), (2, 200));
    }

    #[test]
    fn fragment_map_is_bounded() {
        let mut cache = FlowCache::new(&CacheConfig {
            max_fragments: 2,
            ..config()
        });
        let mut out = Vec::new();
        for id in 0..3u32 {
            let mut first = metered(1, 0);
            first.fragment = Some((id, true));
            cache.ingest(&first, OBS, 0, &mut out);
        }
        let mut later = metered(0, 0);
        later.fragment = Some((0, false));
        assert_eq!(
            cache.ingest(&later, OBS, 1, &mut out),
            Ingested::FragmentUnmatched,
            "id 0 was pushed out by ids 1 and 2"
        );
        later.fragment = Some((2, false));
        assert_eq!(cache.ingest(&later, OBS, 1, &mut out), Ingested::Counted);
    }

    #[test]
    fn time_going_backwards_does_not_panic_or_expire() {
        let mut cache = FlowCache::new(&config());
        let mut out = Vec::new();
        cache.ingest(&metered(1, 0), OBS, 50_000, &mut out);
        cache.ingest(&metered(1, 0), OBS, 10_000, &mut out);
        cache.poll(10_000, &mut out);
        assert!(out.is_empty());
        out.extend(cache.drain());
        assert_eq!((out[0].first_ms, out[0].last_ms), (10_000, 50_000));
    }
}
