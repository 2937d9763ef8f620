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
//!
//! Where it lives: `key` (the flow key), `segment` (segment records),
//! `index` (index files), this module (constants, errors, checksums).

mod index;
mod key;
mod segment;

pub use index::{parse_entries, parse_flows, Entry, FlowRef, Index, IndexHeader};
pub use key::StoreKey;
pub use segment::{scan_segment, segment_header, RecordHeader, SegmentFrame};

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
        fnv_word(h, u64::from_le_bytes(word))
    });
    tail.iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// One step of [`fnv1a64_words`]: `h` taken on by the word `w`.
#[inline]
fn fnv_word(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(FNV_PRIME)
}

/// The checksum of an index of `version`.
fn checksum(version: u32, body: &[u8]) -> u64 {
    if version == 1 {
        fnv1a64(body)
    } else {
        fnv1a64_words(body)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

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
