//! The packet store's files: segments (frames as captured) and their
//! indexes. Everything little-endian. The readers here take bytes and
//! never panic on them (they are fuzzed: `fuzz/fuzz_targets/store.rs`).
//!
//! Segment `seg-NNNNNNNNNNNN.ewpk`:
//!
//! ```text
//! header  16 bytes  "EWPKSEG1", sequence number u64
//! record  16 bytes  capture time ns u64, captured length u32, wire length u32
//!         then the captured bytes (no padding), repeated to the end
//! ```
//!
//! A record is valid when its captured length is 1..=262144 and at most its
//! wire length; the first invalid or truncated record ends the segment
//! (a crash's torn tail, or zeros a power loss left).
//!
//! Index `seg-NNNNNNNNNNNN.ewpi` (of a segment) or `ext-NNNNNNNNNNNN.ewpi`
//! (of a stretch of a replayed capture file, which stays where it is):
//!
//! ```text
//! 0   "EWPKIDX1"
//! 8   version u32 (2; 1 is still read), source u32 (0 segment, 1 pcap
//!     file, 2 pcapng file)
//! 16  first capture time ns u64, last capture time ns u64
//! 32  frames indexed u64, flows u64
//! 48  source bytes covered u64 (the segment's length, or the end of the
//!     last indexed frame in the capture file)
//! 56  path length u32 (capture file, 0 for a segment), frames stored but
//!     not indexed u32 (not IP: no flow key)
//! 64  path bytes, zero-padded to a multiple of 8
//! ..  flows, 64 bytes each, in the order of their first frame stored
//!     (version 1: sorted by key): key 48 bytes (see [`StoreKey`]), first
//!     entry u64, entry count u32, zero u32
//! ..  entries, 24 bytes each, grouped by flow in time order: position u64
//!     (segment: offset of the record header; capture file: offset of the
//!     pcap record header or pcapng block), capture time ns u64, captured
//!     length u32, wire length u32
//! end 16 bytes: FNV-1a 64 of every byte before it taken as little-endian
//!     u64 words (version 1: byte by byte), "EWPKEND1"
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use eastwest_core::decap::Metered;
use eastwest_core::pcapfile::MAX_RECORD_LEN;

use crate::cache::Observation;

pub const SEGMENT_MAGIC: [u8; 8] = *b"EWPKSEG1";
pub const SEGMENT_HEADER_LEN: usize = 16;
pub const RECORD_HEADER_LEN: usize = 16;
pub const INDEX_MAGIC: [u8; 8] = *b"EWPKIDX1";
pub const INDEX_END: [u8; 8] = *b"EWPKEND1";
/// The version written; version 1 (a byte-wise checksum) is still read.
pub const INDEX_VERSION: u32 = 2;
pub const INDEX_HEADER_LEN: usize = 64;
pub const FLOW_LEN: usize = 64;
pub const ENTRY_LEN: usize = 24;
pub const TRAILER_LEN: usize = 16;
pub const KEY_LEN: usize = 48;
/// Longest capture-file path an index holds.
pub const MAX_PATH_LEN: usize = 4096;

/// What damaged or foreign bytes were found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a packet store {what} (bad magic)")]
    Magic { what: &'static str },
    #[error("truncated {what}")]
    Truncated { what: &'static str },
    #[error("unsupported index version {0} (this exporter reads versions 1 and 2)")]
    Version(u32),
    #[error("index checksum mismatch")]
    Checksum,
    #[error("index is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// Where an index's frames are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A segment of the store.
    Segment,
    /// A classic pcap capture file (record header before the data).
    Pcap,
    /// A pcapng capture file (a packet block around the data).
    Pcapng,
}

impl SourceKind {
    fn code(self) -> u32 {
        match self {
            SourceKind::Segment => 0,
            SourceKind::Pcap => 1,
            SourceKind::Pcapng => 2,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        match code {
            0 => Some(SourceKind::Segment),
            1 => Some(SourceKind::Pcap),
            2 => Some(SourceKind::Pcapng),
            _ => None,
        }
    }
}

/// The flow key of the index: the cache's inner 5-tuple, VLAN, VNI and
/// observation domain, with the two ends in a fixed order so both
/// directions of a conversation share it. Encoded in 48 bytes: end A's
/// address (16, IPv4 in the first 4), end B's address (16), A's port u16,
/// B's port u16, protocol u8, 1 for IPv6 u8, VLAN u16, VNI u32, domain u32.
/// End A is the lower (address, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoreKey {
    pub a: IpAddr,
    pub b: IpAddr,
    pub a_port: u16,
    pub b_port: u16,
    pub proto: u8,
    pub vlan: u16,
    pub vni: u32,
    pub domain: u32,
}

fn addr_bytes(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Hashed as a few integers (the sealer hashes a key per flow): the
/// addresses as 128-bit numbers (IPv4 `a.b.c.d` hashes as IPv6
/// `::a.b.c.d`, which equality tells apart), the rest in two words.
impl std::hash::Hash for StoreKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let addr = |a: IpAddr| match a {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        state.write_u128(addr(self.a));
        state.write_u128(addr(self.b));
        state.write_u64(
            u64::from(self.a_port) << 48 | u64::from(self.b_port) << 32 | u64::from(self.vni),
        );
        state.write_u64(
            u64::from(self.proto) << 48 | u64::from(self.vlan) << 32 | u64::from(self.domain),
        );
    }
}

impl StoreKey {
    /// The key of a metered frame as the cache counted it: `ports` are
    /// the (source, destination) ports the cache used (a later IPv4
    /// fragment's are its first fragment's, see
    /// [`FlowCache::last_ports`](crate::cache::FlowCache::last_ports)).
    pub fn new(m: &Metered, obs: &Observation, ports: (u16, u16)) -> StoreKey {
        let (a, b) = ((m.src, ports.0), (m.dst, ports.1));
        // IPv4 (most frames) compared as integers, not through `IpAddr`.
        let swap = match (m.src, m.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (u32::from(d), ports.1) < (u32::from(s), ports.0),
            _ => b < a,
        };
        let ((a, a_port), (b, b_port)) = if swap { (b, a) } else { (a, b) };
        StoreKey {
            a,
            b,
            a_port,
            b_port,
            proto: m.proto,
            vlan: m.vlan,
            vni: obs.vni,
            domain: obs.domain,
        }
    }

    pub fn encode(&self) -> [u8; KEY_LEN] {
        let mut k = [0u8; KEY_LEN];
        k[0..16].copy_from_slice(&addr_bytes(self.a));
        k[16..32].copy_from_slice(&addr_bytes(self.b));
        k[32..34].copy_from_slice(&self.a_port.to_le_bytes());
        k[34..36].copy_from_slice(&self.b_port.to_le_bytes());
        k[36] = self.proto;
        k[37] = u8::from(self.a.is_ipv6());
        k[38..40].copy_from_slice(&self.vlan.to_le_bytes());
        k[40..44].copy_from_slice(&self.vni.to_le_bytes());
        k[44..48].copy_from_slice(&self.domain.to_le_bytes());
        k
    }

    pub fn decode(k: &[u8; KEY_LEN]) -> StoreKey {
        let v6 = k[37] != 0;
        let addr = |at: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&k[at..at + 16]);
            if v6 {
                IpAddr::V6(Ipv6Addr::from(b))
            } else {
                IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
        };
        StoreKey {
            a: addr(0),
            b: addr(16),
            a_port: u16::from_le_bytes([k[32], k[33]]),
            b_port: u16::from_le_bytes([k[34], k[35]]),
            proto: k[36],
            vlan: u16::from_le_bytes([k[38], k[39]]),
            vni: u32_at(k, 40),
            domain: u32_at(k, 44),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a, 64 bits, a byte at a time: the damage check of version 1
/// indexes (not a defence against tampering; the store's directory is the
/// exporter's own).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// FNV-1a, 64 bits, over little-endian u64 words (a shorter last word
/// byte by byte): the damage check of version 2 indexes, eight times
/// fewer multiplications than [`fnv1a64`] (an index's body is a multiple
/// of 8 bytes).
pub fn fnv1a64_words(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let h = words.fold(FNV_OFFSET, |h, w| {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        (h ^ u64::from_le_bytes(word)).wrapping_mul(FNV_PRIME)
    });
    tail.iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// The checksum of an index of `version`.
fn checksum(version: u32, body: &[u8]) -> u64 {
    if version == 1 {
        fnv1a64(body)
    } else {
        fnv1a64_words(body)
    }
}

/// One frame of a segment, as its record header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub ts_ns: u64,
    pub cap_len: u32,
    pub wire_len: u32,
}

impl RecordHeader {
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut b = [0u8; RECORD_HEADER_LEN];
        b[0..8].copy_from_slice(&self.ts_ns.to_le_bytes());
        b[8..12].copy_from_slice(&self.cap_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.wire_len.to_le_bytes());
        b
    }

    /// The header at the start of `b`, if whole and valid.
    pub fn parse(b: &[u8]) -> Option<RecordHeader> {
        let b = b.get(..RECORD_HEADER_LEN)?;
        let h = RecordHeader {
            ts_ns: u64_at(b, 0),
            cap_len: u32_at(b, 8),
            wire_len: u32_at(b, 12),
        };
        (h.cap_len > 0 && h.cap_len <= MAX_RECORD_LEN && h.cap_len <= h.wire_len).then_some(h)
    }
}

/// The header of a segment with sequence number `seq`.
pub fn segment_header(seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut b = [0u8; SEGMENT_HEADER_LEN];
    b[..8].copy_from_slice(&SEGMENT_MAGIC);
    b[8..].copy_from_slice(&seq.to_le_bytes());
    b
}

/// One frame found in a segment: where its record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFrame {
    pub pos: u64,
    pub header: RecordHeader,
}

/// Every whole, valid record of a segment's bytes, in order, and the
/// length of that valid prefix (what follows it is a damaged tail).
pub fn scan_segment(bytes: &[u8]) -> Result<(Vec<SegmentFrame>, u64), FormatError> {
    if bytes.len() < SEGMENT_HEADER_LEN {
        return Err(FormatError::Truncated {
            what: "segment header",
        });
    }
    if bytes[..8] != SEGMENT_MAGIC {
        return Err(FormatError::Magic { what: "segment" });
    }
    let mut frames = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while let Some(h) = bytes.get(at..).and_then(RecordHeader::parse) {
        let end = at + RECORD_HEADER_LEN + h.cap_len as usize;
        if end > bytes.len() {
            break;
        }
        frames.push(SegmentFrame {
            pos: at as u64,
            header: h,
        });
        at = end;
    }
    Ok((frames, at as u64))
}

/// One indexed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub pos: u64,
    pub ts_ns: u64,
    pub cap_len: u32,
    pub wire_len: u32,
}

impl Entry {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[0..8].copy_from_slice(&self.pos.to_le_bytes());
        b[8..16].copy_from_slice(&self.ts_ns.to_le_bytes());
        b[16..20].copy_from_slice(&self.cap_len.to_le_bytes());
        b[20..24].copy_from_slice(&self.wire_len.to_le_bytes());
        b
    }

    fn parse(b: &[u8]) -> Entry {
        Entry {
            pos: u64_at(b, 0),
            ts_ns: u64_at(b, 8),
            cap_len: u32_at(b, 16),
            wire_len: u32_at(b, 20),
        }
    }
}

/// Parse packed entries (a multiple of [`ENTRY_LEN`] bytes; a partial
/// last one is ignored).
pub fn parse_entries(bytes: &[u8]) -> Vec<Entry> {
    bytes.chunks_exact(ENTRY_LEN).map(Entry::parse).collect()
}

/// One flow of an index: its key and where its entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRef {
    pub key: StoreKey,
    pub first: u64,
    pub count: u32,
}

/// Parse packed flows (a multiple of [`FLOW_LEN`] bytes).
pub fn parse_flows(bytes: &[u8]) -> Vec<FlowRef> {
    bytes
        .chunks_exact(FLOW_LEN)
        .map(|f| {
            let mut k = [0u8; KEY_LEN];
            k.copy_from_slice(&f[..KEY_LEN]);
            FlowRef {
                key: StoreKey::decode(&k),
                first: u64_at(f, 48),
                count: u32_at(f, 56),
            }
        })
        .collect()
}

/// An index file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexHeader {
    /// The format version: 1 or 2 ([`INDEX_VERSION`], what is written);
    /// they differ in the checksum and the flows' order.
    pub version: u32,
    pub source: SourceKind,
    pub first_ns: u64,
    pub last_ns: u64,
    pub frames: u64,
    pub flows: u64,
    pub covered: u64,
    pub unindexed: u32,
    /// The capture file (empty for a segment).
    pub path: String,
}

impl IndexHeader {
    /// Bytes before the flow table.
    pub fn len(&self) -> usize {
        INDEX_HEADER_LEN + self.path.len().next_multiple_of(8)
    }

    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Offset of the flow table, of the entries, and the file's length.
    pub fn layout(&self) -> Option<(u64, u64, u64)> {
        let flows_at = self.len() as u64;
        let entries_at = self
            .flows
            .checked_mul(FLOW_LEN as u64)?
            .checked_add(flows_at)?;
        let end = self
            .frames
            .checked_mul(ENTRY_LEN as u64)?
            .checked_add(entries_at)?
            .checked_add(TRAILER_LEN as u64)?;
        Some((flows_at, entries_at, end))
    }

    /// The header at the start of `b` (which may hold just the header).
    pub fn parse(b: &[u8]) -> Result<IndexHeader, FormatError> {
        let head = b.get(..INDEX_HEADER_LEN).ok_or(FormatError::Truncated {
            what: "index header",
        })?;
        if head[..8] != INDEX_MAGIC {
            return Err(FormatError::Magic { what: "index" });
        }
        let version = u32_at(head, 8);
        if !(1..=INDEX_VERSION).contains(&version) {
            return Err(FormatError::Version(version));
        }
        let source = SourceKind::from_code(u32_at(head, 12))
            .ok_or(FormatError::Inconsistent("unknown source kind"))?;
        let path_len = u32_at(head, 56) as usize;
        if path_len > MAX_PATH_LEN || (source == SourceKind::Segment) != (path_len == 0) {
            return Err(FormatError::Inconsistent("path length"));
        }
        let path = b
            .get(INDEX_HEADER_LEN..INDEX_HEADER_LEN + path_len)
            .ok_or(FormatError::Truncated { what: "index path" })?;
        let path = std::str::from_utf8(path)
            .map_err(|_| FormatError::Inconsistent("path is not UTF-8"))?
            .to_owned();
        let h = IndexHeader {
            version,
            source,
            first_ns: u64_at(head, 16),
            last_ns: u64_at(head, 24),
            frames: u64_at(head, 32),
            flows: u64_at(head, 40),
            covered: u64_at(head, 48),
            unindexed: u32_at(head, 60),
            path,
        };
        if h.first_ns > h.last_ns || h.flows > h.frames || h.layout().is_none() {
            return Err(FormatError::Inconsistent("header fields"));
        }
        Ok(h)
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&INDEX_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.source.code().to_le_bytes());
        out.extend_from_slice(&self.first_ns.to_le_bytes());
        out.extend_from_slice(&self.last_ns.to_le_bytes());
        out.extend_from_slice(&self.frames.to_le_bytes());
        out.extend_from_slice(&self.flows.to_le_bytes());
        out.extend_from_slice(&self.covered.to_le_bytes());
        out.extend_from_slice(&(self.path.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.unindexed.to_le_bytes());
        out.extend_from_slice(self.path.as_bytes());
        out.resize(self.len(), 0);
    }
}

/// A whole index, checked: the header, the flows, every entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub header: IndexHeader,
    pub flows: Vec<FlowRef>,
    pub entries: Vec<Entry>,
}

impl Index {
    /// An index of `flows` (each naming its run of `entries`, in order).
    /// `path` is empty for a segment.
    pub fn from_flows(
        source: SourceKind,
        path: String,
        covered: u64,
        unindexed: u32,
        flows: Vec<FlowRef>,
        entries: Vec<Entry>,
    ) -> Index {
        let first_ns = entries.iter().map(|e| e.ts_ns).min().unwrap_or(0);
        let last_ns = entries.iter().map(|e| e.ts_ns).max().unwrap_or(0);
        Index {
            header: IndexHeader {
                version: INDEX_VERSION,
                source,
                first_ns,
                last_ns,
                frames: entries.len() as u64,
                flows: flows.len() as u64,
                covered,
                unindexed,
                path,
            },
            flows,
            entries,
        }
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.header.len()
                + self.flows.len() * FLOW_LEN
                + self.entries.len() * ENTRY_LEN
                + TRAILER_LEN,
        );
        self.header.encode_into(&mut out);
        for f in &self.flows {
            let mut b = [0u8; FLOW_LEN];
            b[..KEY_LEN].copy_from_slice(&f.key.encode());
            b[48..56].copy_from_slice(&f.first.to_le_bytes());
            b[56..60].copy_from_slice(&f.count.to_le_bytes());
            out.extend_from_slice(&b);
        }
        for e in &self.entries {
            out.extend_from_slice(&e.encode());
        }
        let sum = checksum(self.header.version, &out);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(&INDEX_END);
        out
    }

    /// Parse and check a whole index file.
    pub fn parse(b: &[u8]) -> Result<Index, FormatError> {
        let header = IndexHeader::parse(b)?;
        let (flows_at, entries_at, end) = header
            .layout()
            .ok_or(FormatError::Inconsistent("header fields"))?;
        if (b.len() as u64) < end {
            return Err(FormatError::Truncated { what: "index" });
        }
        if (b.len() as u64) > end {
            return Err(FormatError::Inconsistent("bytes after the trailer"));
        }
        let body = b.len() - TRAILER_LEN;
        if b[body + 8..] != INDEX_END {
            return Err(FormatError::Magic {
                what: "index trailer",
            });
        }
        if u64_at(b, body) != checksum(header.version, &b[..body]) {
            return Err(FormatError::Checksum);
        }
        let padding = &b[INDEX_HEADER_LEN + header.path.len()..flows_at as usize];
        let table = &b[flows_at as usize..entries_at as usize];
        if padding.iter().any(|&x| x != 0)
            || table.chunks_exact(FLOW_LEN).any(|f| {
                let v4_tail = f[37] == 0 && f[4..16].iter().chain(&f[20..32]).any(|&x| x != 0);
                f[KEY_LEN + 12..] != [0; 4] || f[37] > 1 || v4_tail
            })
        {
            return Err(FormatError::Inconsistent("reserved bytes not zero"));
        }
        let flows = parse_flows(table);
        let entries = parse_entries(&b[entries_at as usize..body]);
        let mut next = 0u64;
        for f in &flows {
            if f.first != next || f.count == 0 {
                return Err(FormatError::Inconsistent("flow entry ranges"));
            }
            next += u64::from(f.count);
        }
        if next != header.frames {
            return Err(FormatError::Inconsistent("flow entry ranges"));
        }
        for e in &entries {
            let end = e.pos.checked_add(u64::from(e.cap_len));
            if e.cap_len == 0
                || e.cap_len > MAX_RECORD_LEN
                || e.ts_ns < header.first_ns
                || e.ts_ns > header.last_ns
                || end.is_none_or(|end| end > header.covered)
            {
                return Err(FormatError::Inconsistent("entry out of range"));
            }
        }
        Ok(Index {
            header,
            flows,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: [u8; 4], ap: u16, b: [u8; 4], bp: u16) -> StoreKey {
        StoreKey {
            a: IpAddr::from(a),
            b: IpAddr::from(b),
            a_port: ap,
            b_port: bp,
            proto: 6,
            vlan: 10,
            vni: 5001,
            domain: 3,
        }
    }

    /// An index of `flows`, each with its entries.
    fn build(
        source: SourceKind,
        path: String,
        covered: u64,
        unindexed: u32,
        flows: Vec<(StoreKey, Vec<Entry>)>,
    ) -> Index {
        let mut refs = Vec::with_capacity(flows.len());
        let mut entries = Vec::with_capacity(flows.iter().map(|(_, e)| e.len()).sum());
        for (key, list) in flows {
            refs.push(FlowRef {
                key,
                first: entries.len() as u64,
                count: list.len() as u32,
            });
            entries.extend(list);
        }
        Index::from_flows(source, path, covered, unindexed, refs, entries)
    }

    fn entry(pos: u64, ts_ns: u64) -> Entry {
        Entry {
            pos,
            ts_ns,
            cap_len: 60,
            wire_len: 64,
        }
    }

    #[test]
    fn key_round_trip_v4_and_v6() {
        let k = key([10, 0, 0, 1], 443, [10, 0, 0, 2], 50000);
        assert_eq!(StoreKey::decode(&k.encode()), k);
        let k6 = StoreKey {
            a: "2001:db8::1".parse().expect("v6"),
            b: "2001:db8::2".parse().expect("v6"),
            ..k
        };
        assert_eq!(StoreKey::decode(&k6.encode()), k6);
        assert_eq!(k6.encode()[37], 1);
    }

    #[test]
    fn index_round_trip_and_damage() {
        let idx = build(
            SourceKind::Pcap,
            "/captures/lab.pcap".into(),
            10_000,
            2,
            vec![
                (
                    key([10, 0, 0, 2], 1, [10, 0, 0, 3], 2),
                    vec![entry(24, 5), entry(200, 9)],
                ),
                (key([10, 0, 0, 1], 1, [10, 0, 0, 3], 2), vec![entry(100, 7)]),
            ],
        );
        let bytes = idx.encode();
        assert_eq!(bytes.len() as u64, idx.header.layout().expect("layout").2);
        let back = Index::parse(&bytes).expect("parses");
        assert_eq!(back, idx);
        assert_eq!((back.header.first_ns, back.header.last_ns), (5, 9));
        assert_eq!(back.flows[0].key.a, IpAddr::from([10, 0, 0, 2]), "in order");
        assert_eq!(back.flows[1].key.a, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(back.entries[2], entry(100, 7));
        let mut bad = bytes.clone();
        bad[70] ^= 1;
        assert_eq!(Index::parse(&bad), Err(FormatError::Checksum));
        assert!(matches!(
            Index::parse(&bytes[..bytes.len() - 3]),
            Err(FormatError::Truncated { .. })
        ));
        assert!(Index::parse(&bytes[..10]).is_err());
    }

    #[test]
    fn version_1_is_read_and_later_versions_rejected() {
        let idx = build(
            SourceKind::Segment,
            String::new(),
            1_000,
            0,
            vec![(key([10, 0, 0, 1], 1, [10, 0, 0, 2], 2), vec![entry(16, 5)])],
        );
        let mut bytes = idx.encode();
        let body = bytes.len() - TRAILER_LEN;
        // Version 1: the same layout, the checksum byte by byte.
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        let v1_sum = fnv1a64(&bytes[..body]);
        bytes[body..body + 8].copy_from_slice(&v1_sum.to_le_bytes());
        let v1 = Index::parse(&bytes).expect("version 1 parses");
        assert_eq!(v1.header.version, 1);
        assert_eq!((&v1.flows, &v1.entries), (&idx.flows, &idx.entries));
        assert_eq!(v1.encode(), bytes, "encoded back as version 1");
        // A version 1 header with a version 2 checksum is damage.
        let v2_sum = fnv1a64_words(&bytes[..body]);
        assert_ne!(v1_sum, v2_sum);
        bytes[body..body + 8].copy_from_slice(&v2_sum.to_le_bytes());
        assert_eq!(Index::parse(&bytes), Err(FormatError::Checksum));
        bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
        let err = Index::parse(&bytes).expect_err("version 3");
        assert_eq!(err, FormatError::Version(3));
        assert!(err.to_string().contains("reads versions 1 and 2"), "{err}");
    }

    #[test]
    fn segment_scan_stops_at_a_torn_tail() {
        let mut seg = segment_header(7).to_vec();
        for (i, len) in [60u32, 1500, 90].iter().enumerate() {
            let h = RecordHeader {
                ts_ns: 1_000 + i as u64,
                cap_len: *len,
                wire_len: *len,
            };
            seg.extend_from_slice(&h.encode());
            seg.extend(std::iter::repeat_n(0xa5, *len as usize));
        }
        let whole = seg.len() as u64;
        let (frames, valid) = scan_segment(&seg).expect("scan");
        assert_eq!((frames.len(), valid), (3, whole));
        assert_eq!(frames[1].pos, 16 + 16 + 60);
        // Zeros a power loss can leave after the last record.
        let mut zeros = seg.clone();
        zeros.extend_from_slice(&[0; 40]);
        assert_eq!(scan_segment(&zeros).expect("scan").1, whole);
        // A torn last record.
        seg.truncate(seg.len() - 10);
        let (frames, valid) = scan_segment(&seg).expect("scan");
        assert_eq!(frames.len(), 2);
        assert_eq!(valid, whole - 16 - 90);
        assert!(scan_segment(b"EWPKSEG2........").is_err());
    }
}
