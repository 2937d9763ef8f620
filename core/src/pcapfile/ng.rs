//! pcapng blocks (draft-ietf-opsawg-pcapng): the reading state of a file
//! (byte order of the current section, its interfaces) and the parsing of
//! one whole block. The [`super::Reader`] finds the blocks (borrowed from its
//! buffer or copied) and hands each one here.

use std::io::Read;
use std::ops::Range;

use super::{read_full, PcapError, RecordHeader, MAX_RECORD_LEN};

/// Section Header Block type (a palindrome: the same in either byte order).
pub const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Smallest block: type, length, trailing length.
pub const MIN_BLOCK_LEN: usize = 12;
/// Largest block accepted (a packet block is further bounded by
/// [`MAX_RECORD_LEN`]); libpcap's own bound is 16 MiB.
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;
/// Most interfaces one section may describe.
pub const MAX_INTERFACES: usize = 4096;
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// One interface of the current section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    pub linktype: u32,
    pub snaplen: u32,
    /// Timestamp units per second (`if_tsresol`; 10^6 by default).
    pub units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    pub offset_secs: i64,
}

impl Interface {
    /// A raw timestamp of this interface in nanoseconds since the epoch
    /// (saturating; a timestamp before the epoch is 0).
    pub fn ns(&self, ts: u64) -> u64 {
        let units = u128::from(self.units_per_sec.max(1));
        let ts = u128::from(ts);
        let ns = ts / units * 1_000_000_000 + ts % units * 1_000_000_000 / units;
        let ns =
            i128::try_from(ns).unwrap_or(i128::MAX) + i128::from(self.offset_secs) * 1_000_000_000;
        u64::try_from(ns.max(0)).unwrap_or(u64::MAX)
    }
}

/// Reading state of a pcapng file.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub big_endian: bool,
    pub version: (u16, u16),
    pub interfaces: Vec<Interface>,
    /// Time of the last packet (a Simple Packet Block has none).
    pub last_ns: u64,
}

fn u16_at(b: &[u8], at: usize, big_endian: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if big_endian {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

fn bad(offset: u64, what: &'static str) -> PcapError {
    PcapError::BadBlock { offset, what }
}

/// The byte order a block starting with `first` is written in: the
/// section's, or for a Section Header Block its own byte-order magic.
fn block_order(state: &State, first: &[u8; MIN_BLOCK_LEN], offset: u64) -> Result<bool, PcapError> {
    if u32_at(first, 0, false) != SHB {
        return Ok(state.big_endian);
    }
    match u32_at(first, 8, false) {
        BYTE_ORDER_MAGIC => Ok(false),
        m if m.swap_bytes() == BYTE_ORDER_MAGIC => Ok(true),
        _ => Err(bad(offset, "section header with a bad byte-order magic")),
    }
}

/// The total length of the block starting with `first` (its first 12
/// bytes), checked.
pub fn block_len(
    state: &State,
    first: &[u8; MIN_BLOCK_LEN],
    offset: u64,
) -> Result<usize, PcapError> {
    let big_endian = block_order(state, first, offset)?;
    let len = u32_at(first, 4, big_endian);
    if (len as usize) < MIN_BLOCK_LEN {
        return Err(bad(offset, "block length below 12"));
    }
    if !len.is_multiple_of(4) {
        return Err(bad(offset, "block length not a multiple of 4"));
    }
    if len > MAX_BLOCK_LEN {
        return Err(PcapError::BlockTooLarge {
            offset,
            len,
            limit: MAX_BLOCK_LEN,
        });
    }
    Ok(len as usize)
}

/// Read one whole block at `offset` into `buf`, whose first `have` bytes
/// were already read. `Ok(false)` at a clean end of the file.
pub fn read_block<R: Read>(
    inner: &mut R,
    state: &State,
    offset: u64,
    buf: &mut Vec<u8>,
    have: usize,
) -> Result<bool, PcapError> {
    buf.truncate(have);
    buf.resize(MIN_BLOCK_LEN.max(have), 0);
    let got = have
        + read_full(
            inner,
            &mut buf[have..MIN_BLOCK_LEN.max(have)],
            offset + have as u64,
        )?;
    if got == 0 {
        return Ok(false);
    }
    let Some(first) = buf
        .first_chunk::<MIN_BLOCK_LEN>()
        .filter(|_| got >= MIN_BLOCK_LEN)
    else {
        return Err(PcapError::Truncated {
            what: "block header",
            offset,
            needed: MIN_BLOCK_LEN,
            got,
        });
    };
    let len = block_len(state, first, offset)?;
    if got > len {
        // Only possible for the file header's 24 bytes and a 12..20-byte
        // first block, which is not a section header.
        return Err(bad(offset, "section header block shorter than its fields"));
    }
    // Grown as data arrives, so a block claiming more than the file holds
    // costs no more memory than the file.
    buf.truncate(got);
    let want = (len - got) as u64;
    let more = inner
        .by_ref()
        .take(want)
        .read_to_end(buf)
        .map_err(|source| PcapError::Io {
            offset: offset + got as u64,
            source,
        })?;
    if (more as u64) < want {
        return Err(PcapError::Truncated {
            what: "block",
            offset,
            needed: len,
            got: got + more,
        });
    }
    Ok(true)
}

/// Parse the whole `block` (its leading length already checked by
/// [`block_len`]) at `offset`: a packet's header and the range of its data
/// inside `block`, or `None` for a block that only changes the state
/// (section, interface) or is skipped.
pub fn parse(
    state: &mut State,
    block: &[u8],
    offset: u64,
) -> Result<Option<(RecordHeader, Range<usize>)>, PcapError> {
    let Some(first) = block.first_chunk::<MIN_BLOCK_LEN>() else {
        return Err(bad(offset, "block shorter than 12 bytes"));
    };
    let big_endian = block_order(state, first, offset)?;
    let len = block.len();
    let kind = u32_at(block, 0, big_endian);
    if u32_at(block, len - 4, big_endian) as usize != len {
        return Err(bad(
            offset,
            "trailing block length differs from the leading one",
        ));
    }
    let body = &block[8..len - 4];
    match kind {
        SHB => {
            if body.len() < 16 {
                return Err(bad(offset, "section header block too short"));
            }
            let major = u16_at(body, 4, big_endian);
            if major != 1 {
                return Err(bad(offset, "unsupported pcapng major version (not 1)"));
            }
            state.big_endian = big_endian;
            state.version = (major, u16_at(body, 6, big_endian));
            state.interfaces.clear();
            Ok(None)
        }
        IDB => {
            if body.len() < 8 {
                return Err(bad(offset, "interface description block too short"));
            }
            if state.interfaces.len() >= MAX_INTERFACES {
                return Err(bad(offset, "more than 4096 interfaces in one section"));
            }
            let mut interface = Interface {
                linktype: u32::from(u16_at(body, 0, big_endian)),
                snaplen: u32_at(body, 4, big_endian),
                units_per_sec: 1_000_000,
                offset_secs: 0,
            };
            options(&body[8..], big_endian, offset, &mut interface)?;
            state.interfaces.push(interface);
            Ok(None)
        }
        EPB | OPB => {
            if body.len() < 20 {
                return Err(bad(offset, "packet block too short"));
            }
            let id = if kind == EPB {
                u32_at(body, 0, big_endian)
            } else {
                u32::from(u16_at(body, 0, big_endian))
            };
            let interface = interface(state, id, offset)?;
            let ts = u64::from(u32_at(body, 4, big_endian)) << 32
                | u64::from(u32_at(body, 8, big_endian));
            let caplen = u32_at(body, 12, big_endian);
            let orig_len = u32_at(body, 16, big_endian);
            if caplen > MAX_RECORD_LEN {
                return Err(PcapError::RecordTooLarge {
                    offset,
                    len: caplen,
                    limit: MAX_RECORD_LEN,
                });
            }
            if 20 + caplen as usize > body.len() {
                return Err(bad(offset, "captured length runs past the block"));
            }
            let timestamp_ns = interface.ns(ts);
            state.last_ns = timestamp_ns;
            let start = 8 + 20;
            Ok(Some((
                RecordHeader {
                    timestamp_ns,
                    orig_len: orig_len.max(caplen),
                    offset,
                    interface: id,
                    linktype: interface.linktype,
                },
                start..start + caplen as usize,
            )))
        }
        SPB => {
            if body.len() < 4 {
                return Err(bad(offset, "simple packet block too short"));
            }
            let interface = interface(state, 0, offset)?;
            let orig_len = u32_at(body, 0, big_endian);
            let mut caplen = (body.len() - 4).min(orig_len as usize);
            if interface.snaplen != 0 {
                caplen = caplen.min(interface.snaplen as usize);
            }
            if caplen > MAX_RECORD_LEN as usize {
                return Err(PcapError::RecordTooLarge {
                    offset,
                    len: u32::try_from(caplen).unwrap_or(u32::MAX),
                    limit: MAX_RECORD_LEN,
                });
            }
            let start = 8 + 4;
            Ok(Some((
                RecordHeader {
                    timestamp_ns: state.last_ns,
                    orig_len,
                    offset,
                    interface: 0,
                    linktype: interface.linktype,
                },
                start..start + caplen,
            )))
        }
        _ => Ok(None),
    }
}

fn interface(state: &State, id: u32, offset: u64) -> Result<Interface, PcapError> {
    state
        .interfaces
        .get(id as usize)
        .copied()
        .ok_or(PcapError::UnknownInterface {
            offset,
            interface: id,
            described: state.interfaces.len(),
        })
}

/// Read the options of an interface description block that matter here.
fn options(
    mut rest: &[u8],
    big_endian: bool,
    offset: u64,
    interface: &mut Interface,
) -> Result<(), PcapError> {
    while rest.len() >= 4 {
        let code = u16_at(rest, 0, big_endian);
        let len = usize::from(u16_at(rest, 2, big_endian));
        if code == OPT_ENDOFOPT {
            break;
        }
        let Some(value) = rest.get(4..4 + len) else {
            return Err(bad(offset, "interface option runs past the block"));
        };
        match (code, value) {
            (OPT_IF_TSRESOL, [v, ..]) => {
                let exp = u32::from(v & 0x7f);
                interface.units_per_sec = if v & 0x80 != 0 {
                    1u64.checked_shl(exp).filter(|_| exp < 64)
                } else {
                    10u64.checked_pow(exp)
                }
                .ok_or(bad(offset, "if_tsresol beyond 64 bits"))?;
            }
            (OPT_IF_TSOFFSET, [a, b, c, d, e, f, g, h, ..]) => {
                let raw = [*a, *b, *c, *d, *e, *f, *g, *h];
                interface.offset_secs = if big_endian {
                    i64::from_be_bytes(raw)
                } else {
                    i64::from_le_bytes(raw)
                };
            }
            _ => {}
        }
        rest = rest.get(4 + len.next_multiple_of(4)..).unwrap_or_default();
    }
    Ok(())
}

/// `options` (code, value; empty values left out) then `opt_endofopt`,
/// each value padded to 4 bytes. A value is cut at 65532 bytes.
fn put_options(out: &mut Vec<u8>, options: &[(u16, &[u8])]) {
    for &(code, value) in options.iter().filter(|(_, v)| !v.is_empty()) {
        let value = &value[..value.len().min(65_532)];
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out.extend_from_slice(&OPT_ENDOFOPT.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
}

/// A little-endian block of `kind` around `body` (a multiple of 4 bytes).
fn le_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(12 + body.len());
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

/// A little-endian section header (version 1.0, length unknown) with
/// `comment` when not empty.
fn section_header(comment: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    if !comment.is_empty() {
        put_options(&mut body, &[(OPT_COMMENT, comment.as_bytes())]);
    }
    le_block(SHB, &body)
}

/// Writes a little-endian pcapng stream: one section, one interface per
/// [`NgWriter::add_interface`], Enhanced Packet Blocks. For tests and the
/// benchmark's captures.
#[derive(Debug)]
pub struct NgWriter<W> {
    inner: W,
    resolutions: Vec<u64>,
}

impl<W: std::io::Write> NgWriter<W> {
    /// Write the section header.
    pub fn new(inner: W) -> std::io::Result<Self> {
        Self::with_comment(inner, "")
    }

    /// Write the section header with `comment` (`opt_comment`; none when
    /// empty).
    pub fn with_comment(mut inner: W, comment: &str) -> std::io::Result<Self> {
        inner.write_all(&section_header(comment))?;
        Ok(NgWriter {
            inner,
            resolutions: Vec::new(),
        })
    }

    /// Start a new section whose header carries `comment` (a note after
    /// the packets, e.g. that the capture is partial). Its interfaces
    /// are described anew.
    pub fn new_section(&mut self, comment: &str) -> std::io::Result<()> {
        self.resolutions.clear();
        self.inner.write_all(&section_header(comment))
    }

    /// Describe an interface; `tsresol` is the raw `if_tsresol` byte (6:
    /// microseconds, 9: nanoseconds, 0x80 | n: 2^-n). Returns its id.
    pub fn add_interface(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: u8,
    ) -> std::io::Result<u32> {
        self.add_named_interface(linktype, snaplen, tsresol, "")
    }

    /// [`NgWriter::add_interface`] with an `if_name` (none when empty).
    pub fn add_named_interface(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: u8,
        name: &str,
    ) -> std::io::Result<u32> {
        let units = if tsresol & 0x80 != 0 {
            1u64.checked_shl(u32::from(tsresol & 0x7f))
        } else {
            10u64.checked_pow(u32::from(tsresol))
        }
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "if_tsresol"))?;
        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(&linktype.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&snaplen.to_le_bytes());
        put_options(
            &mut body,
            &[(OPT_IF_NAME, name.as_bytes()), (OPT_IF_TSRESOL, &[tsresol])],
        );
        self.inner.write_all(&le_block(IDB, &body))?;
        self.resolutions.push(units);
        Ok((self.resolutions.len() - 1) as u32)
    }

    /// Write one Enhanced Packet Block on `interface` at `timestamp_ns`.
    pub fn write_packet(
        &mut self,
        interface: u32,
        timestamp_ns: u64,
        data: &[u8],
        orig_len: u32,
    ) -> std::io::Result<()> {
        let invalid = |what| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        let units = *self
            .resolutions
            .get(interface as usize)
            .ok_or_else(|| invalid("no such interface"))?;
        let ts = u128::from(timestamp_ns) * u128::from(units) / 1_000_000_000;
        let ts = u64::try_from(ts).map_err(|_| invalid("timestamp beyond 64 bits"))?;
        let caplen = u32::try_from(data.len()).map_err(|_| invalid("packet too large"))?;
        let padded = data.len().next_multiple_of(4);
        let total = u32::try_from(32 + padded).map_err(|_| invalid("packet too large"))?;
        let mut b = Vec::with_capacity(32);
        b.extend_from_slice(&EPB.to_le_bytes());
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&interface.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&caplen.to_le_bytes());
        b.extend_from_slice(&orig_len.max(caplen).to_le_bytes());
        self.inner.write_all(&b)?;
        self.inner.write_all(data)?;
        self.inner.write_all(&[0; 3][..padded - data.len()])?;
        self.inner.write_all(&total.to_le_bytes())
    }

    /// Flush and return the inner writer.
    pub fn into_inner(mut self) -> std::io::Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Reader, Record};
    use super::*;

    /// A block of `kind` with `body`, in either byte order.
    fn block(kind: u32, body: &[u8], big_endian: bool) -> Vec<u8> {
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        let mut b = word(kind).to_vec();
        b.extend_from_slice(&word(len));
        b.extend_from_slice(body);
        b.resize(len as usize - 4, 0);
        b.extend_from_slice(&word(len));
        b
    }

    fn shb(big_endian: bool) -> Vec<u8> {
        let mut body = if big_endian {
            BYTE_ORDER_MAGIC.to_be_bytes().to_vec()
        } else {
            BYTE_ORDER_MAGIC.to_le_bytes().to_vec()
        };
        body.extend_from_slice(&if big_endian {
            [0, 1, 0, 0]
        } else {
            [1, 0, 0, 0]
        });
        body.extend_from_slice(&[0xff; 8]);
        block(SHB, &body, big_endian)
    }

    fn idb(linktype: u16, tsresol: Option<u8>, tsoffset: Option<i64>, big_endian: bool) -> Vec<u8> {
        let h16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut body = h16(linktype).to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&if big_endian {
            0u32.to_be_bytes()
        } else {
            0u32.to_le_bytes()
        });
        if let Some(r) = tsresol {
            body.extend_from_slice(&h16(OPT_IF_TSRESOL));
            body.extend_from_slice(&h16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            body.extend_from_slice(&h16(OPT_IF_TSOFFSET));
            body.extend_from_slice(&h16(8));
            body.extend_from_slice(&if big_endian {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            });
        }
        body.extend_from_slice(&[0; 4]);
        block(IDB, &body, big_endian)
    }

    fn epb(interface: u32, ts: u64, data: &[u8], big_endian: bool) -> Vec<u8> {
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut body = Vec::new();
        for v in [
            interface,
            (ts >> 32) as u32,
            ts as u32,
            data.len() as u32,
            data.len() as u32 + 4,
        ] {
            body.extend_from_slice(&word(v));
        }
        body.extend_from_slice(data);
        block(EPB, &body, big_endian)
    }

    fn read_all(file: &[u8]) -> Result<Vec<Record>, PcapError> {
        Reader::new(file)?.collect()
    }

    #[test]
    fn resolutions_offsets_sections_and_byte_orders() {
        let mut f = shb(false);
        f.extend(idb(1, None, None, false)); // microseconds
        f.extend(idb(1, Some(9), None, false)); // nanoseconds
        f.extend(idb(1, Some(0x80 | 10), Some(100), false)); // 1/1024 s, +100 s
        f.extend(block(4, &[0; 8], false)); // a name resolution block: skipped
        f.extend(epb(0, 1_700_000_000_123_456, &[1, 2, 3], false));
        f.extend(epb(1, 1_700_000_000_123_456_789, &[4; 5], false));
        f.extend(epb(2, 1_700_000_000 * 1024 + 512, &[5; 4], false));
        // A second section, big endian, one interface of link type 0.
        f.extend(shb(true));
        f.extend(idb(0, Some(3), None, true)); // milliseconds
        f.extend(epb(0, 1_700_000_000_001, &[6; 7], true));
        f.extend(block(SPB, &[0, 0, 0, 2, 7, 7, 0, 0], true));
        let reader = Reader::new(&f[..]).expect("header");
        assert_eq!(reader.header().format, Format::Pcapng);
        assert_eq!(reader.header().linktype, 1);
        assert_eq!(
            reader.interfaces().len(),
            1,
            "read up to the first interface"
        );
        let records = read_all(&f).expect("records");
        let got: Vec<(u64, u32, u32, u32, usize)> = records
            .iter()
            .map(|r| {
                (
                    r.timestamp_ns,
                    r.interface,
                    r.linktype,
                    r.orig_len,
                    r.data.len(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1_700_000_000_123_456_000, 0, 1, 7, 3),
                (1_700_000_000_123_456_789, 1, 1, 9, 5),
                (1_700_000_100_500_000_000, 2, 1, 8, 4),
                (1_700_000_000_001_000_000, 0, 0, 11, 7),
                // A simple packet block: original length 2, the previous time.
                (1_700_000_000_001_000_000, 0, 0, 2, 2),
            ]
        );
        assert_eq!(records[4].data, vec![7, 7]);
        // next_ref over buffers of every size reads the same.
        for capacity in [1, 13, 64, 100, 4096] {
            let mut reader =
                Reader::new(std::io::BufReader::with_capacity(capacity, &f[..])).expect("header");
            let mut scratch = Vec::new();
            let mut seen = Vec::new();
            while let Some((h, data)) = reader.next_ref(&mut scratch).expect("record") {
                seen.push((
                    h.timestamp_ns,
                    h.interface,
                    h.linktype,
                    h.orig_len,
                    data.len(),
                ));
            }
            assert_eq!(seen, got, "capacity {capacity}");
        }
    }

    #[test]
    fn errors_name_the_block_offset() {
        let mut f = shb(false);
        f.extend(idb(1, None, None, false));
        let first = f.len();
        f.extend(epb(0, 1, &[1; 8], false));
        // No interface description at all.
        assert!(matches!(
            Reader::new(&shb(false)[..]),
            Err(PcapError::NoInterface)
        ));
        // A packet block before any interface.
        let mut early = shb(false);
        early.extend(epb(0, 1, &[1], false));
        assert!(matches!(
            Reader::new(&early[..]),
            Err(PcapError::UnknownInterface { offset: 28, .. })
        ));
        // Captured length past the block.
        let mut bad = f.clone();
        bad[first + 20] = 200;
        assert!(matches!(
            read_all(&bad),
            Err(PcapError::BadBlock { offset, what: "captured length runs past the block" }) if offset == first as u64
        ));
        // A block claiming 1 GiB.
        let mut bad = f.clone();
        bad[first + 4..first + 8].copy_from_slice(&(1u32 << 30).to_le_bytes());
        assert!(matches!(
            read_all(&bad),
            Err(PcapError::BlockTooLarge { offset, .. }) if offset == first as u64
        ));
        // An if_tsresol of 10^20 does not fit.
        let mut bad = shb(false);
        bad.extend(idb(1, Some(20), None, false));
        assert!(matches!(
            Reader::new(&bad[..]),
            Err(PcapError::BadBlock {
                offset: 28,
                what: "if_tsresol beyond 64 bits"
            })
        ));
        // A cut file: the complete records, then the offset of the cut block.
        let cut = &f[..f.len() - 3];
        let mut reader = Reader::new(cut).expect("header");
        assert!(matches!(
            reader.next(),
            Some(Err(PcapError::Truncated { what: "block", offset, .. })) if offset == first as u64
        ));
        assert!(reader.next().is_none());
    }

    #[test]
    fn writer_round_trip() {
        let mut w = NgWriter::new(Vec::new()).expect("header");
        let micro = w.add_interface(1, 65_535, 6).expect("idb");
        let nano = w.add_interface(1, 65_535, 9).expect("idb");
        w.write_packet(micro, 1_700_000_000_123_456_789, &[1, 2, 3], 60)
            .expect("epb");
        w.write_packet(nano, 1_700_000_000_123_456_789, &[4; 4], 4)
            .expect("epb");
        let bytes = w.into_inner().expect("flush");
        let records = read_all(&bytes).expect("records");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].timestamp_ns, 1_700_000_000_123_456_000);
        assert_eq!(
            (records[0].orig_len, &records[0].data[..]),
            (60, &[1, 2, 3][..])
        );
        assert_eq!(records[1].timestamp_ns, 1_700_000_000_123_456_789);
        assert_eq!(records[1].interface, 1);
    }

    #[test]
    fn comments_names_and_a_second_section_read_back() {
        let mut w = NgWriter::with_comment(Vec::new(), "verdict violation").expect("header");
        let esx = w
            .add_named_interface(1, 65_535, 9, "esx-03/erspan2")
            .expect("idb");
        w.write_packet(esx, 1_700_000_000_000_000_001, &[7; 5], 5)
            .expect("epb");
        w.new_section("partial capture: esx-04 unreachable")
            .expect("second section");
        let bytes = w.into_inner().expect("flush");
        // The comment and the name are there, padded to 4 bytes.
        let at = |needle: &[u8]| bytes.windows(needle.len()).position(|w| w == needle);
        let comment = at(b"verdict violation").expect("the comment");
        assert_eq!(
            &bytes[comment - 4..comment],
            &[1, 0, 17, 0],
            "opt_comment, length 17"
        );
        assert!(at(b"esx-03/erspan2").is_some());
        assert!(at(b"partial capture").is_some());
        assert!(bytes.len().is_multiple_of(4));
        let records = read_all(&bytes).expect("records");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].timestamp_ns, 1_700_000_000_000_000_001);
        assert_eq!(records[0].data, vec![7; 5]);
    }

    #[test]
    fn never_panics_on_mutations() {
        let mut f = shb(false);
        f.extend(idb(1, Some(9), Some(-5), false));
        f.extend(epb(0, 1, &[1; 8], false));
        f.extend(block(SPB, &[9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], false));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..=f.len() {
            let _ = Reader::new(&f[..len]).map(|r| r.count());
        }
        for _ in 0..5_000 {
            let mut m = f.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state % m.len() as u64) as usize;
                m[at] = (state >> 32) as u8;
            }
            if let Ok(r) = Reader::new(&m[..]) {
                for rec in r.flatten() {
                    assert!(rec.offset < m.len() as u64);
                }
            }
        }
    }
}
