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

use std::io::{self, BufRead, Read, Write};

mod ng;
pub use ng::{Interface, NgWriter};

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

/// Reads records from a classic pcap or pcapng stream.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    header: FileHeader,
    offset: u64,
    done: bool,
    /// pcapng reading state; `None` for classic pcap.
    ng: Option<ng::State>,
    /// Bytes of the buffer lent out by [`Reader::next_ref`], consumed on
    /// the next call.
    borrowed: usize,
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

impl<R: Read> Reader<R> {
    /// Read the file header (pcapng: the section header and every block up
    /// to the first interface description).
    pub fn new(mut inner: R) -> Result<Reader<R>, PcapError> {
        let mut raw = [0u8; FILE_HEADER_LEN];
        let got = read_full(&mut inner, &mut raw, 0)?;
        if got >= 4 && raw[..4] == ng::SHB.to_le_bytes() {
            return Self::new_ng(inner, &raw[..got]);
        }
        if got < 4 {
            return Err(PcapError::Truncated {
                what: "file header",
                offset: 0,
                needed: FILE_HEADER_LEN,
                got,
            });
        }
        let le = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let be = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let (big_endian, precision) = match (le, be) {
            (MAGIC_MICRO, _) => (false, Precision::Micro),
            (MAGIC_NANO, _) => (false, Precision::Nano),
            (_, MAGIC_MICRO) => (true, Precision::Micro),
            (_, MAGIC_NANO) => (true, Precision::Nano),
            _ => return Err(PcapError::BadMagic { magic: be }),
        };
        if got < FILE_HEADER_LEN {
            return Err(PcapError::Truncated {
                what: "file header",
                offset: 0,
                needed: FILE_HEADER_LEN,
                got,
            });
        }
        let u16_at = |at: usize| {
            let b = [raw[at], raw[at + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let u32_at = |at: usize| {
            let b = [raw[at], raw[at + 1], raw[at + 2], raw[at + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let header = FileHeader {
            format: Format::Pcap,
            big_endian,
            precision,
            version_major: u16_at(4),
            version_minor: u16_at(6),
            snaplen: u32_at(16),
            // The upper bits hold FCS information (pcap-linktype(7)).
            linktype: u32_at(20) & 0x0fff_ffff,
        };
        Ok(Reader {
            inner,
            header,
            offset: FILE_HEADER_LEN as u64,
            done: false,
            ng: None,
            borrowed: 0,
        })
    }

    /// A pcapng file whose first bytes are `start`: its section header,
    /// then blocks up to the first interface description.
    fn new_ng(mut inner: R, start: &[u8]) -> Result<Reader<R>, PcapError> {
        let mut state = ng::State::default();
        let mut buf = start.to_vec();
        let mut have = start.len();
        let mut offset = 0u64;
        loop {
            if !ng::read_block(&mut inner, &state, offset, &mut buf, have)? {
                return Err(PcapError::NoInterface);
            }
            have = 0;
            if ng::parse(&mut state, &buf, offset)?.is_some() {
                return Err(PcapError::UnknownInterface {
                    offset,
                    interface: 0,
                    described: 0,
                });
            }
            offset += buf.len() as u64;
            if let Some(first) = state.interfaces.first() {
                let header = FileHeader {
                    format: Format::Pcapng,
                    big_endian: state.big_endian,
                    precision: if first.units_per_sec > 1_000_000 {
                        Precision::Nano
                    } else {
                        Precision::Micro
                    },
                    version_major: state.version.0,
                    version_minor: state.version.1,
                    snaplen: first.snaplen,
                    linktype: first.linktype,
                };
                return Ok(Reader {
                    inner,
                    header,
                    offset,
                    done: false,
                    ng: Some(state),
                    borrowed: 0,
                });
            }
        }
    }

    /// The interfaces of the current pcapng section described so far
    /// (empty for classic pcap).
    pub fn interfaces(&self) -> &[Interface] {
        self.ng.as_ref().map_or(&[], |s| &s.interfaces)
    }

    /// The file header.
    pub fn header(&self) -> FileHeader {
        self.header
    }

    /// The next record, `Ok(None)` at a clean end of file. After an error
    /// the reader returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record>, PcapError> {
        let mut data = Vec::new();
        Ok(self.next_into(&mut data)?.map(|h| Record {
            timestamp_ns: h.timestamp_ns,
            orig_len: h.orig_len,
            data,
            offset: h.offset,
            interface: h.interface,
            linktype: h.linktype,
        }))
    }

    /// The next record with its captured bytes in `data` (replaced; its
    /// allocation is reused, so a loop over a file allocates once).
    /// `Ok(None)` at a clean end of file; after an error, `Ok(None)`.
    pub fn next_into(&mut self, data: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        if self.done {
            return Ok(None);
        }
        let result = if self.ng.is_some() {
            self.read_ng(data)
        } else {
            self.read_record(data)
        };
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    /// The next pcapng packet block's data into `data` (other blocks are
    /// read through it).
    fn read_ng(&mut self, data: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        let Some(state) = self.ng.as_mut() else {
            return Ok(None);
        };
        loop {
            let offset = self.offset;
            if !ng::read_block(&mut self.inner, state, offset, data, 0)? {
                return Ok(None);
            }
            self.offset += data.len() as u64;
            if let Some((header, range)) = ng::parse(state, data, offset)? {
                data.truncate(range.end);
                data.drain(..range.start);
                return Ok(Some(header));
            }
        }
    }

    fn read_record(&mut self, data: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        let offset = self.offset;
        let mut raw = [0u8; RECORD_HEADER_LEN];
        let got = read_full(&mut self.inner, &mut raw, offset)?;
        if got == 0 {
            return Ok(None);
        }
        if got < RECORD_HEADER_LEN {
            return Err(PcapError::Truncated {
                what: "record header",
                offset,
                needed: RECORD_HEADER_LEN,
                got,
            });
        }
        let (header, incl_len) = self.parse_record_header(&raw, offset)?;
        let data_offset = offset + RECORD_HEADER_LEN as u64;
        // incl_len is bounded by `limit` above, so this allocation is too.
        data.resize(incl_len as usize, 0);
        let got = read_full(&mut self.inner, data, data_offset)?;
        if got < data.len() {
            return Err(PcapError::Truncated {
                what: "record data",
                offset: data_offset,
                needed: data.len(),
                got,
            });
        }
        self.offset = data_offset + u64::from(incl_len);
        Ok(Some(header))
    }

    /// A record header read at `offset`, checked; with its captured length.
    fn parse_record_header(
        &self,
        raw: &[u8; RECORD_HEADER_LEN],
        offset: u64,
    ) -> Result<(RecordHeader, u32), PcapError> {
        let u32_at = |at: usize| {
            let b = [raw[at], raw[at + 1], raw[at + 2], raw[at + 3]];
            if self.header.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (secs, frac, incl_len, orig_len) = (u32_at(0), u32_at(4), u32_at(8), u32_at(12));
        // Whatever the file header's snaplen claims (a damaged one can say
        // 4 GB; found by fuzzing), as libpcap does.
        let limit = MAX_RECORD_LEN;
        if incl_len > limit {
            return Err(PcapError::RecordTooLarge {
                offset,
                len: incl_len,
                limit,
            });
        }
        let frac_ns = match self.header.precision {
            Precision::Micro if frac < 1_000_000 => u64::from(frac) * 1_000,
            Precision::Nano if frac < 1_000_000_000 => u64::from(frac),
            _ => {
                return Err(PcapError::BadRecord {
                    offset,
                    what: "sub-second timestamp out of range",
                })
            }
        };
        let header = RecordHeader {
            timestamp_ns: u64::from(secs) * 1_000_000_000 + frac_ns,
            orig_len,
            offset,
            interface: 0,
            linktype: self.header.linktype,
        };
        Ok((header, incl_len))
    }
}

/// Borrowing reads need a buffered input (a `BufReader`). The record is
/// lent from the buffer once its length is checked.
impl<R: BufRead> Reader<R> {
    /// The next record, its bytes borrowed from the reader's buffer when
    /// the buffer holds the whole record (no copy), else read into
    /// `scratch`. `Ok(None)` at a clean end of file; after an error,
    /// `Ok(None)`. Do not mix with [`Reader::next_into`] on one reader.
    #[inline]
    pub fn next_ref<'a>(
        &'a mut self,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Option<(RecordHeader, &'a [u8])>, PcapError> {
        self.inner.consume(std::mem::take(&mut self.borrowed));
        if self.done {
            return Ok(None);
        }
        if self.ng.is_some() {
            // Cleared again when a record is returned.
            self.done = true;
            return self.next_ref_ng(scratch);
        }
        let offset = self.offset;
        let buffered = self
            .inner
            .fill_buf()
            .map_err(|source| PcapError::Io { offset, source })?;
        let Some(raw) = buffered.first_chunk::<RECORD_HEADER_LEN>().copied() else {
            // The header straddles the buffer's end (or the file ends).
            return match self.next_into(scratch)? {
                Some(header) => Ok(Some((header, &scratch[..]))),
                None => Ok(None),
            };
        };
        let available = buffered.len();
        let (header, incl_len) = match self.parse_record_header(&raw, offset) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        let end = RECORD_HEADER_LEN + incl_len as usize;
        if available < end {
            return match self.next_into(scratch)? {
                Some(header) => Ok(Some((header, &scratch[..]))),
                None => Ok(None),
            };
        }
        // The buffer `fill_buf` returned above, without I/O (it holds the
        // record): asked again so the borrow is of `self`.
        let buffered = match self.inner.fill_buf() {
            Ok(buffered) => buffered,
            Err(source) => {
                self.done = true;
                return Err(PcapError::Io { offset, source });
            }
        };
        self.offset += end as u64;
        self.borrowed = end;
        Ok(Some((
            header,
            buffered.get(RECORD_HEADER_LEN..end).unwrap_or(&[]),
        )))
    }

    /// [`Reader::next_ref`] of a pcapng file: blocks wholly in the buffer
    /// are parsed there, others are copied into `scratch`.
    fn next_ref_ng<'a>(
        &'a mut self,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Option<(RecordHeader, &'a [u8])>, PcapError> {
        let Some(state) = self.ng.as_mut() else {
            return Ok(None);
        };
        loop {
            let offset = self.offset;
            let buffered = self
                .inner
                .fill_buf()
                .map_err(|source| PcapError::Io { offset, source })?;
            let len = match buffered.first_chunk::<{ ng::MIN_BLOCK_LEN }>() {
                Some(first) => ng::block_len(state, first, offset)?,
                None => usize::MAX,
            };
            if len > buffered.len() {
                // Straddles the buffer's end (or the file ends).
                if !ng::read_block(&mut self.inner, state, offset, scratch, 0)? {
                    return Ok(None);
                }
                self.offset += scratch.len() as u64;
                if let Some((header, range)) = ng::parse(state, scratch, offset)? {
                    self.done = false;
                    return Ok(Some((header, &scratch[range])));
                }
                continue;
            }
            let parsed = ng::parse(state, &buffered[..len], offset)?;
            self.offset += len as u64;
            match parsed {
                Some((header, range)) => {
                    // The buffer `fill_buf` returned above, without I/O.
                    let buffered = self
                        .inner
                        .fill_buf()
                        .map_err(|source| PcapError::Io { offset, source })?;
                    self.borrowed = len;
                    self.done = false;
                    return Ok(Some((header, buffered.get(range).unwrap_or(&[]))));
                }
                None => self.inner.consume(len),
            }
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Writes a little-endian classic pcap stream.
#[derive(Debug)]
pub struct Writer<W> {
    inner: W,
    precision: Precision,
    snaplen: u32,
}

impl<W: Write> Writer<W> {
    /// Write the file header (version 2.4, little endian).
    pub fn new(
        mut inner: W,
        linktype: u32,
        snaplen: u32,
        precision: Precision,
    ) -> io::Result<Writer<W>> {
        let magic = match precision {
            Precision::Micro => MAGIC_MICRO,
            Precision::Nano => MAGIC_NANO,
        };
        let mut header = Vec::with_capacity(FILE_HEADER_LEN);
        header.extend_from_slice(&magic.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&snaplen.to_le_bytes());
        header.extend_from_slice(&linktype.to_le_bytes());
        inner.write_all(&header)?;
        Ok(Writer {
            inner,
            precision,
            snaplen,
        })
    }

    /// Write one record: `data` is cut to the snaplen, `orig_len` is the
    /// length on the wire (at least `data.len()`).
    pub fn write_record(
        &mut self,
        timestamp_ns: u64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let secs = u32::try_from(timestamp_ns / 1_000_000_000)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp beyond 2106"))?;
        let ns = (timestamp_ns % 1_000_000_000) as u32;
        let frac = match self.precision {
            Precision::Micro => ns / 1_000,
            Precision::Nano => ns,
        };
        let keep = data.len().min(self.snaplen as usize);
        let incl = u32::try_from(keep)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
        let mut header = [0u8; RECORD_HEADER_LEN];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&frac.to_le_bytes());
        header[8..12].copy_from_slice(&incl.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.max(incl).to_le_bytes());
        self.inner.write_all(&header)?;
        self.inner.write_all(&data[..keep])
    }

    /// Flush and return the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
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
