//! A reader of classic pcap and pcapng files, and a writer of both.
//!
//! The exporter reads capture files with it by default (it names the byte
//! offset of damage, which libpcap does not, and reads pcapng whose
//! interfaces have different snap lengths, which libpcap refuses), tests
//! feed real captures through [`crate::decap`] with it, and the lab
//! generator writes `lab/lab.pcap`.
//! It never panics on input and reports every problem with the byte offset
//! where it was found.
//!
//! * Classic pcap: both byte orders and both timestamp precisions (magic
//!   `0xa1b2c3d4` microseconds, `0xa1b23c4d` nanoseconds).
//! * pcapng: both byte orders, several sections (each may change the byte
//!   order), any number of interfaces with their own link type, snap length
//!   and timestamp resolution (`if_tsresol`, powers of 10 or 2; default
//!   microseconds) and offset (`if_tsoffset`); Enhanced, Simple and
//!   (obsolete) Packet blocks; every other block is skipped. A Simple
//!   Packet Block has no timestamp: it gets the previous packet's. Each
//!   record names its interface and that interface's link type.

use std::io::{self, Read};

mod ng;
mod reader;
mod writer;

pub use ng::{Interface, NgWriter};
pub use reader::Reader;
pub use writer::Writer;

/// Length of the global file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// Link type of Ethernet frames (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The largest record accepted whatever the file's snaplen says (libpcap's
/// own bound for Ethernet).
pub const MAX_RECORD_LEN: u32 = 262_144;

const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
const MAGIC_NANO: u32 = 0xa1b2_3c4d;

/// Timestamp precision of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Micro,
    Nano,
}

/// Why a pcap file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("not a pcap file: magic {magic:#010x} at offset 0")]
    BadMagic { magic: u32 },
    #[error("truncated {what} at offset {offset}: needed {needed} bytes, got {got}")]
    Truncated {
        what: &'static str,
        offset: u64,
        needed: usize,
        got: usize,
    },
    #[error("record at offset {offset} claims {len} captured bytes (limit {limit})")]
    RecordTooLarge { offset: u64, len: u32, limit: u32 },
    #[error("record at offset {offset}: {what}")]
    BadRecord { offset: u64, what: &'static str },
    #[error("pcapng block at offset {offset}: {what}")]
    BadBlock { offset: u64, what: &'static str },
    #[error("pcapng block at offset {offset} claims {len} bytes (limit {limit})")]
    BlockTooLarge { offset: u64, len: u32, limit: u32 },
    #[error("pcapng packet block at offset {offset} names interface {interface}, but {described} are described")]
    UnknownInterface {
        offset: u64,
        interface: u32,
        described: usize,
    },
    #[error("pcapng file has no interface description block")]
    NoInterface,
    #[error("reading at offset {offset}: {source}")]
    Io { offset: u64, source: io::Error },
}

/// Which file format a [`Reader`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap,
    Pcapng,
}

/// The global header of a file. For pcapng: the first section's byte
/// order and version, and the first interface's snap length and link type
/// (`precision` is `Nano` when that interface's resolution is finer than
/// microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub format: Format,
    pub big_endian: bool,
    pub precision: Precision,
    pub version_major: u16,
    pub version_minor: u16,
    pub snaplen: u32,
    pub linktype: u32,
}

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Capture time, nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Length of the packet on the wire (may exceed `data.len()`).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
    /// Byte offset of the record header (pcapng: its block) in the file.
    pub offset: u64,
    /// The interface it was captured on (pcapng; 0 in classic pcap).
    pub interface: u32,
    /// Link type of that interface.
    pub linktype: u32,
}

/// A record's header, read by [`Reader::next_into`] (the data goes into
/// the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Capture time, nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// Length of the packet on the wire (may exceed the captured length).
    pub orig_len: u32,
    /// Byte offset of the record header (pcapng: its block) in the file.
    pub offset: u64,
    /// The interface it was captured on (pcapng; 0 in classic pcap).
    pub interface: u32,
    /// Link type of that interface.
    pub linktype: u32,
}

/// Read up to `buf.len()` bytes; returns how many were read (short only at
/// end of stream).
fn read_full<R: Read>(inner: &mut R, buf: &mut [u8], offset: u64) -> Result<usize, PcapError> {
    let mut got = 0;
    while got < buf.len() {
        match inner.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(PcapError::Io {
                    offset: offset + got as u64,
                    source,
                })
            }
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(precision: Precision) -> Vec<u8> {
        let mut writer =
            Writer::new(Vec::new(), LINKTYPE_ETHERNET, 65535, precision).expect("header");
        writer
            .write_record(1_793_610_000_123_456_789, &[1, 2, 3, 4], 60)
            .expect("record");
        writer
            .write_record(1_793_610_001_000_000_000, &[5; 20], 20)
            .expect("record");
        writer.into_inner().expect("flush")
    }

    #[test]
    fn roundtrip_micro_and_nano() {
        for (precision, first_ts) in [
            (Precision::Micro, 1_793_610_000_123_456_000),
            (Precision::Nano, 1_793_610_000_123_456_789),
        ] {
            let bytes = sample(precision);
            let reader = Reader::new(&bytes[..]).expect("header");
            assert_eq!(reader.header().precision, precision);
            assert_eq!(reader.header().linktype, LINKTYPE_ETHERNET);
            let records: Vec<Record> = reader.collect::<Result<_, _>>().expect("records");
            assert_eq!(records.len(), 2);
            assert_eq!(records[0].timestamp_ns, first_ts);
            assert_eq!(records[0].orig_len, 60);
            assert_eq!(records[0].data, vec![1, 2, 3, 4]);
            assert_eq!(records[0].offset, 24);
            assert_eq!(records[1].offset, 24 + 16 + 4);
            assert_eq!(records[1].data.len(), 20);
        }
    }

    /// Swap every header field of a little-endian file to big endian.
    fn to_big_endian(le: &[u8]) -> Vec<u8> {
        let mut out = le.to_vec();
        let swap4 = |b: &mut [u8]| b.reverse();
        swap4(&mut out[0..4]);
        out[4..6].reverse();
        out[6..8].reverse();
        for at in [8, 12, 16, 20] {
            out[at..at + 4].reverse();
        }
        let mut at = FILE_HEADER_LEN;
        while at + RECORD_HEADER_LEN <= out.len() {
            let incl = u32::from_le_bytes([out[at + 8], out[at + 9], out[at + 10], out[at + 11]]);
            for f in 0..4 {
                out[at + f * 4..at + f * 4 + 4].reverse();
            }
            at += RECORD_HEADER_LEN + incl as usize;
        }
        out
    }

    #[test]
    fn reads_big_endian() {
        let bytes = to_big_endian(&sample(Precision::Micro));
        let reader = Reader::new(&bytes[..]).expect("header");
        assert!(reader.header().big_endian);
        let records: Vec<Record> = reader.collect::<Result<_, _>>().expect("records");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].timestamp_ns, 1_793_610_000_123_456_000);
        assert_eq!(records[1].data, vec![5; 20]);
    }

    #[test]
    fn errors_carry_offsets() {
        let bytes = sample(Precision::Micro);
        assert!(matches!(
            Reader::new(&b"\x00\x01\x02\x03rest of it is junk......"[..]),
            Err(PcapError::BadMagic { .. })
        ));
        assert!(matches!(
            Reader::new(&bytes[..10]),
            Err(PcapError::Truncated {
                offset: 0,
                got: 10,
                ..
            })
        ));
        // Cut inside the second record's data.
        let mut reader = Reader::new(&bytes[..bytes.len() - 5]).expect("header");
        assert!(matches!(reader.next(), Some(Ok(_))));
        match reader.next() {
            Some(Err(PcapError::Truncated {
                what: "record data",
                offset,
                needed: 20,
                got: 15,
            })) => assert_eq!(offset, 24 + 16 + 4 + 16),
            other => panic!("unexpected {other:?}"),
        }
        assert!(reader.next().is_none());
        // A record header claiming 1 GiB.
        let mut huge = bytes.clone();
        huge[24 + 8..24 + 12].copy_from_slice(&(1u32 << 30).to_le_bytes());
        let mut reader = Reader::new(&huge[..]).expect("header");
        assert!(matches!(
            reader.next(),
            Some(Err(PcapError::RecordTooLarge { offset: 24, .. }))
        ));
        // Also when the file header's snaplen claims that much (found by
        // fuzzing: the reader allocated what the record claimed).
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut reader = Reader::new(&huge[..]).expect("header");
        assert!(matches!(
            reader.next(),
            Some(Err(PcapError::RecordTooLarge {
                offset: 24,
                limit: MAX_RECORD_LEN,
                ..
            }))
        ));
    }

    /// `next_ref` borrowing from buffers of every size (records straddling
    /// the buffer's end are copied) reads what `next_record` reads, and
    /// reports damage at the same offset.
    #[test]
    fn next_ref_reads_what_next_record_reads() {
        let bytes = sample(Precision::Nano);
        for cut in [bytes.len(), bytes.len() - 5] {
            let file = &bytes[..cut];
            let want: Vec<_> = Reader::new(file).expect("header").collect();
            for capacity in [1, 7, 16, 17, 40, 64, 4096] {
                let mut reader =
                    Reader::new(io::BufReader::with_capacity(capacity, file)).expect("header");
                let mut scratch = Vec::new();
                let mut got = Vec::new();
                loop {
                    match reader.next_ref(&mut scratch) {
                        Ok(Some((h, data))) => got.push(Ok(Record {
                            timestamp_ns: h.timestamp_ns,
                            orig_len: h.orig_len,
                            data: data.to_vec(),
                            offset: h.offset,
                            interface: h.interface,
                            linktype: h.linktype,
                        })),
                        Ok(None) => break,
                        Err(e) => got.push(Err(e)),
                    }
                }
                assert_eq!(
                    format!("{got:?}"),
                    format!("{want:?}"),
                    "capacity {capacity}, {cut} bytes"
                );
            }
        }
    }

    #[test]
    fn never_panics_on_mutations() {
        let bytes = sample(Precision::Nano);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut runs = 0;
        for len in 0..=bytes.len() {
            let _ = Reader::new(&bytes[..len]).map(|r| r.count());
            runs += 1;
        }
        for _ in 0..5_000 {
            let mut mutated = bytes.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % mutated.len() as u64) as usize;
                mutated[at] = (state >> 32) as u8;
            }
            let _ = Reader::new(&mutated[..]).map(|r| r.count());
            runs += 1;
        }
        assert_eq!(runs, bytes.len() + 1 + 5_000);
    }
}
